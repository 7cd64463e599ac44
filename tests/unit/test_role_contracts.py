"""Conventions every role keeps: argument specs, prefixes, docs, templates."""

import pathlib
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROLES = sorted(p for p in (ROOT / "roles").iterdir() if (p / "tasks" / "main.yml").exists())


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_defaults_and_argument_spec_list_the_same_variables(role):
    spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}
    own = {name for name in spec["options"] if name.startswith(role.name + "_")}
    assert set(defaults) == own
    other_roles = tuple(p.name + "_" for p in ROLES if p != role)
    for name, option in spec["options"].items():
        # A role may document inputs it reads from another role's public variables.
        assert name in own or name.startswith(other_roles), f"{name} lacks the prefix {role.name}_"
        assert option.get("description"), f"{name} has no description"
        if name in defaults and "default" in option and not isinstance(defaults[name], str):
            assert option["default"] == defaults[name], name


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_internal_variables_are_marked(role):
    vars_file = role / "vars" / "main.yml"
    if vars_file.exists():
        for name in yaml.safe_load(vars_file.read_text()) or {}:
            assert name.startswith(f"__{role.name}_"), name


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_templates_written_to_hosts_carry_ansible_managed(role):
    tasks = "".join(p.read_text() for p in (role / "tasks").glob("*.yml"))
    for template in sorted((role / "templates").glob("*.j2")) if (role / "templates").exists() else []:
        if f"src: {template.name}" in tasks:  # written as a file by ansible.builtin.template
            assert "ansible_managed" in template.read_text()[:400], template.name


def test_readme_variable_tables_match_the_argument_specs():
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "argspec_docs.py"), "--check"],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def test_no_command_or_shell_without_changed_when():
    for path in ROOT.glob("roles/*/tasks/*.yml"):
        for task in yaml.safe_load(path.read_text()) or []:
            for inner in [task] + task.get("block", []) + task.get("rescue", []) + task.get("always", []):
                if any(k in inner for k in ("ansible.builtin.command", "ansible.builtin.shell")):
                    assert "changed_when" in inner, f"{path.name}: {inner.get('name')}"
