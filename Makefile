# pacs-provisioner: the two commands a new user needs are `make demo` and `make test`.
# Both set the machine up first (scripts/bootstrap.sh is idempotent).

SHELL := /bin/bash
VENV := .venv/bin
export PATH := $(CURDIR)/$(VENV):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
DEMO_VAULT := inventories/demo/.vault-password-demo-only
SCENARIOS ?= default container firewall hospital minimum scaleout https upgrade

.PHONY: setup demo demo-down demo-test test lint validate unit molecule check bench new-hospital

setup:
	@bash scripts/bootstrap.sh

## Provision the demo hospital into local containers and print its smoke report.
demo: setup
	ansible-playbook playbooks/demo-up.yml --vault-password-file $(DEMO_VAULT) -e @inventories/demo/group_vars/orthanc/vault.yml
	ansible-playbook -i inventories/demo --vault-password-file $(DEMO_VAULT) site.yml
	ansible-playbook -i inventories/demo --vault-password-file $(DEMO_VAULT) playbooks/demo-summary.yml

## Remove the demo containers and network (stored demo studies go with them).
demo-down: setup
	ansible-playbook playbooks/demo-up.yml -e demo_state=absent

## Everything CI runs: lint, unit tests, molecule scenarios, and the demo as README gives it.
test: setup lint validate unit molecule demo-test

## `make demo` as a new user runs it (it fails when a smoke check fails), then `make demo-down`.
demo-test: setup
	@$(MAKE) --no-print-directory demo; rc=$$?; $(MAKE) --no-print-directory demo-down; exit $$rc

lint:
	yamllint -s .
	ansible-lint

INVENTORIES ?= $(wildcard inventories/*/)
## Check every hospital inventory offline (no host contacted); lists every problem.
## VALIDATE_ARGS=--ask-vault-pass for an inventory whose vault password is not in a file beside it.
validate: setup
	python scripts/validate.py $(VALIDATE_ARGS) $(INVENTORIES)

unit:
	python -m pytest tests

molecule:
	@set -e; for s in $(SCENARIOS); do \
	  echo "==> molecule test -s $$s"; \
	  molecule test -s $$s; \
	done
	@# README's first hospital over SSH again, on a bare Debian 13 host.
	@if echo " $(SCENARIOS) " | grep -q " minimum "; then \
	  echo "==> molecule test -s minimum (Debian 13)"; \
	  MINIMUM_PACS_IMAGE=local/debian13-systemd:latest molecule test -s minimum; \
	fi

## Measured figures over SSH against floors from the same run (~20-30 min; not part of make test).
## Each measurement waits for /tmp/pp-molecule.lock. BENCH_ARGS="--reps 1" for a quicker look.
bench: setup
	python bench/run.py $(BENCH_ARGS)

## Scaffold inventories/$(NAME)/ from templates/hospital/ (asks for the first host and the secrets).
new-hospital: setup
	@test -n "$(NAME)" || { echo "usage: make new-hospital NAME=<name>"; exit 2; }
	python scripts/new_hospital.py $(NAME)

## Dry run against the demo hospital: what would change, with diffs.
check: setup
	ansible-playbook -i inventories/demo --vault-password-file $(DEMO_VAULT) site.yml --check --diff
