# pacs-provisioner: the two commands a new user needs are `make demo` and `make test`.
# Both set the machine up first (scripts/bootstrap.sh is idempotent).

SHELL := /bin/bash
VENV := .venv/bin
export PATH := $(CURDIR)/$(VENV):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
DEMO_VAULT := inventories/demo/.vault-password-demo-only
SCENARIOS ?= default container firewall hospital minimum scaleout https upgrade

.PHONY: setup demo demo-down demo-test test lint validate unit molecule check bench new-hospital

# `make test` runs these jobs SUITE_JOBS at a time (each scenario has its own containers, names
# and subnet). Longest first, so that the lanes end together: on a 2-core machine a scenario
# leaves ~40% of the CPUs idle while it waits on Orthanc and systemd. Each job's output is
# printed whole when it ends, with its time; the first failure starts no new job.
SUITE_JOBS ?= 2
# A job that depends on `setup` would wait for it and fall behind the jobs listed after it:
# `make test` sets the machine up once, then runs the suite with SETUP empty.
SETUP ?= setup
SUITE := lint validate molecule-hospital molecule-default unit molecule-firewall molecule-scaleout \
	molecule-upgrade molecule-minimum molecule-https molecule-container demo-test
# A scenario's test, with the slowest tests of its verify listed at the end.
MOLECULE_TEST := PYTEST_ADDOPTS="--durations=8" molecule test
# $(call timed,<what>,<command>): the command, then one line: passed or FAILED, and in how long.
timed = start=$$(date +%s); echo "==> $(1)"; $(2); rc=$$?; \
	echo "==> $(1): $$([ $$rc = 0 ] && echo passed || echo FAILED) in $$(( $$(date +%s) - start )) s"; exit $$rc

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
test: setup
	@$(MAKE) --no-print-directory -j$(SUITE_JOBS) --output-sync=target SETUP= $(SUITE)

## `make demo` as a new user runs it (it fails when a smoke check fails), then `make demo-down`.
demo-test: $(SETUP)
	@($(call timed,make demo,$(MAKE) --no-print-directory demo)); rc=$$?; $(MAKE) --no-print-directory demo-down; exit $$rc

lint:
	@$(call timed,lint,yamllint -s . && ansible-lint)

INVENTORIES ?= $(wildcard inventories/*/)
## Check every hospital inventory offline (no host contacted); lists every problem.
## VALIDATE_ARGS=--ask-vault-pass for an inventory whose vault password is not in a file beside it.
validate: $(SETUP)
	python scripts/validate.py $(VALIDATE_ARGS) $(INVENTORIES)

## One pytest worker per CPU; a test file stays on one worker (its containers and module fixtures).
## The slowest tests are listed at the end.
unit:
	@$(call timed,unit tests,python -m pytest -n auto --dist loadfile --durations=15 tests)

## The scenarios one after another (make -j2 molecule: two at a time). minimum runs twice: README's
## first hospital over SSH on a bare Debian 12 host, then on a bare Debian 13 host.
molecule: $(addprefix molecule-,$(SCENARIOS))

molecule-%: $(SETUP)
	@$(call timed,molecule test -s $*,$(MOLECULE_TEST) -s $*)

molecule-minimum: $(SETUP)
	@$(call timed,molecule test -s minimum (Debian 12),$(MOLECULE_TEST) -s minimum)
	@$(call timed,molecule test -s minimum (Debian 13),MINIMUM_PACS_IMAGE=local/debian13-systemd:latest \
	  $(MOLECULE_TEST) -s minimum)

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
