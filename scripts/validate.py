#!/usr/bin/env python3
"""Validate hospital inventories offline: no host is contacted.

    .venv/bin/python scripts/validate.py inventories/*/

For every inventory and every host of group ``orthanc`` this runs what
playbooks/preflight.yml runs, with the same code: it reads the preflight play,
and for each role it includes it validates the role's argument spec entry point
(Ansible's own ArgumentSpecValidator) and evaluates the role's controller-only
task file (its set_fact and assert tasks, with the roles' filter plugins). Then
it applies the cross-host rules of filter_plugins/pacs_inventory.py. Every
problem of every inventory is printed, one per line:

    <inventory> <host> <variable>[<item>]: <problem>

and the exit status is 1 when there is any. Vaulted files are decrypted with
--vault-password-file or --ask-vault-pass, or else with the one ``.vault-password*`` file in the
inventory's folder. Host names are not resolved unless --resolve is given (the
firewall preflight resolves them on the controller; offline we do not).
"""

from __future__ import annotations

import argparse
import datetime
import getpass
import json
import os
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
os.environ.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))
os.environ.setdefault("ANSIBLE_DEPRECATION_WARNINGS", "False")
os.environ.setdefault("ANSIBLE_LOCALHOST_WARNING", "False")
os.environ.setdefault("ANSIBLE_INVENTORY_UNPARSED_WARNING", "False")

# pylint: disable=wrong-import-position
from ansible.errors import AnsibleError  # noqa: E402
from ansible.inventory.manager import InventoryManager  # noqa: E402
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator  # noqa: E402
from ansible.parsing.dataloader import DataLoader  # noqa: E402
from ansible.parsing.vault import VaultSecret  # noqa: E402
from ansible.plugins.loader import filter_loader  # noqa: E402
from ansible.template import Templar  # noqa: E402
from ansible.vars.manager import VariableManager  # noqa: E402

filter_loader.add_directory(str(ROOT / "filter_plugins"))
sys.path.insert(0, str(ROOT / "filter_plugins"))
from pacs_inventory import FilterModule as _InventoryFilters  # noqa: E402

pacs_inventory_errors = _InventoryFilters().filters()["pacs_inventory_errors"]

PREFLIGHT = ROOT / "playbooks" / "preflight.yml"
CROSS_HOST_KEYS = ("orthanc_dicom_aet", "orthanc_dicom_port", "orthanc_http_port", "orthanc_install_method",
                   "orthanc_container_name", "orthanc_modalities", "orthanc_dicomweb_servers",
                   "xnat_dqr_servers", "pacs_firewall_ssh_port", "ansible_host", "pacs_address")
IMPURE_FILTERS = ("pacs_firewall_resolve",)
_MODULES = {"set_fact": ("ansible.builtin.set_fact", "set_fact"),
            "assert": ("ansible.builtin.assert", "assert"),
            "include_role": ("ansible.builtin.include_role", "include_role")}


def _module(task, kind):
    for name in _MODULES[kind]:
        if name in task:
            return task[name]
    return None


def _item_label(item, index):
    if isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"]:
        return item["name"]
    return "#%d" % index


class RoleChecks:
    """One include_role task of the preflight play: the role's defaults, vars, spec and tasks."""

    def __init__(self, loader, task):
        include = _module(task, "include_role")
        self.name = include["name"]
        self.entry = include.get("tasks_from", "main")
        self.include_vars = task.get("vars") or {}
        self.when = task.get("when")
        role = ROOT / "roles" / self.name
        self.defaults = self._load(loader, role / "defaults" / "main.yml")
        self.role_vars = self._load(loader, role / "vars" / "main.yml")
        specs = self._load(loader, role / "meta" / "argument_specs.yml").get("argument_specs", {})
        self.spec = (specs.get(self.entry) or {}).get("options") or {}
        self.tasks = loader.load_from_file(str(role / "tasks" / ("%s.yml" % self.entry)), trusted_as_template=True) or []

    @staticmethod
    def _load(loader, path):
        return (loader.load_from_file(str(path), trusted_as_template=True) or {}) if path.exists() else {}


_PREFLIGHT_CACHE = []


def _load_preflight():
    """The preflight play's host pattern and role checks, read once per process."""
    if not _PREFLIGHT_CACHE:
        loader = DataLoader()
        play = loader.load_from_file(str(PREFLIGHT), trusted_as_template=True)[0]
        _PREFLIGHT_CACHE.append((play["hosts"], [RoleChecks(loader, t) for t in play.get("tasks", [])
                                                 if _module(t, "include_role")]))
    return _PREFLIGHT_CACHE[0]


_VALIDATORS, _SPECS = {}, {}


def _validator(options):
    key = id(options)
    if key not in _VALIDATORS:
        _VALIDATORS[key] = (options, ArgumentSpecValidator(options))
    return _VALIDATORS[key][1]


def _spec_errors(spec, values):
    """Ansible's own argument spec validation, one variable (and one list item) at a time."""
    errors = []

    def run(options, params, where):
        result = _validator(options).validate(params)
        for message in result.error_messages:
            errors.append("%s: %s" % (where, message))

    for name, option in spec.items():
        if name not in values:
            continue
        value = values[name]
        sub = option.get("options")
        if sub and option.get("type") == "list" and option.get("elements") == "dict" and isinstance(value, list):
            if not ArgumentSpecValidator.validate(_validator(_whole(name, option)), {name: value}).error_messages:
                continue  # one call for the whole list; item by item only to name the bad items
            run(_top_only(name, option), {name: value}, name)
            for index, item in enumerate(value):
                if isinstance(item, dict):  # the same message as Ansible's, named by item
                    run(_whole(name, option), {name: [item]}, "%s[%s]" % (name, _item_label(item, index)))
        else:
            run(_whole(name, option), {name: value}, name)
    return errors


def _top_only(name, option):
    """The spec of one list option without its element options (they are checked item by item)."""
    key = ("top", id(option))
    if key not in _SPECS:
        _SPECS[key] = (option, {name: {k: v for k, v in option.items() if k != "options"}})
    return _SPECS[key][1]


def _whole(name, option):
    key = ("whole", id(option))
    if key not in _SPECS:
        _SPECS[key] = (option, {name: option})
    return _SPECS[key][1]


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _uses_skipped(task, skipped):
    text = repr(task)
    return any(name in text for name in skipped)


def _run_tasks(templar, checks, context, resolve):
    """Evaluate the set_fact and assert tasks of one controller-only task file."""
    errors, skipped = [], set()
    for task in checks.tasks:
        if _uses_skipped(task, skipped):
            continue
        task_vars = task.get("vars") or {}
        templar.available_variables = {**context, **task_vars}
        if task.get("when") is not None and not all(
                templar.evaluate_conditional(c) for c in _as_list(task["when"])):
            continue
        facts = _module(task, "set_fact")
        if facts is not None:
            if not resolve and any(f in repr(facts) for f in IMPURE_FILTERS):
                skipped.update(facts)
                continue
            for key, value in facts.items():
                context[key] = templar.template(value)
            continue
        assertion = _module(task, "assert")
        if assertion is None:
            continue
        error_vars = [k for k in task_vars if k.endswith("_errors")]
        if error_vars:
            for key in error_vars:
                errors.extend(str(e) for e in templar.template(task_vars[key]))
        elif not all(templar.evaluate_conditional(c) for c in _as_list(assertion.get("that", []))):
            errors.append(str(templar.template(assertion.get("fail_msg", "assertion failed: %s" % task.get("name")))))
    return errors


_TEMPLARS = []


def _has_template(value):
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(_has_template(k) or _has_template(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_template(v) for v in value)
    return False


def _plain(value):
    """Inventory data without Ansible's trust tags: fast to copy and validate, never templated again.

    Values JSON cannot hold (bytes from !!binary, sets, dates, non-string keys) keep their
    type, so that the roles' checks refuse them here as the preflight play does.
    """
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return _plain_slow(value)


def _plain_slow(value):
    """_plain for data holding non-JSON values: builtin copies, other types kept as they are."""
    if isinstance(value, dict):
        return {(_plain_slow(k) if isinstance(k, (str, int, float)) else k): _plain_slow(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_slow(v) for v in value]
    for kind in (bool, str, int, float, bytes, set, frozenset):
        if isinstance(value, kind):
            return kind(value)
    if isinstance(value, datetime.datetime):
        return datetime.datetime.fromisoformat(value.isoformat())
    if isinstance(value, datetime.date):
        return datetime.date.fromisoformat(value.isoformat())
    return value


def _render(templar, value):
    """Template a value only where it holds a template; return plain data."""
    if isinstance(value, (list, dict)) and not _has_template(value):
        return _plain(value)
    if isinstance(value, list):
        return [_render(templar, v) for v in value]
    if isinstance(value, dict):
        return {k: _render(templar, v) for k, v in value.items()}
    return _plain(templar.template(value))


def _templar(loader):
    """One Templar for the whole run, so compiled templates are reused across hosts."""
    if not _TEMPLARS:
        _TEMPLARS.append(Templar(loader=loader, variables={}))
    return _TEMPLARS[0]


def _host_errors(loader, roles, inv_vars, resolve, values_out):
    """Every preflight problem of one host; fills values_out with the templated variables."""
    errors = []
    templar = _templar(loader)
    for checks in roles:
        context = {**checks.defaults, **inv_vars, **checks.role_vars, **checks.include_vars}
        templar.available_variables = context
        if checks.when is not None and not all(templar.evaluate_conditional(c) for c in _as_list(checks.when)):
            continue
        values, broken = {}, False
        for name in checks.spec:
            if name not in context:
                continue
            try:
                values[name] = _render(templar, context[name])
            except AnsibleError as exc:
                broken = True
                errors.append("%s: %s" % (name, exc.message.splitlines()[0] if exc.message else exc))
        errors.extend(_spec_errors(checks.spec, values))
        for key in CROSS_HOST_KEYS:
            if key in values and key not in values_out:
                values_out[key] = values[key]
        if broken:
            continue  # Ansible stops this role at the failed template too
        context.update(values)
        try:
            errors.extend(_run_tasks(templar, checks, context, resolve))
        except AnsibleError as exc:
            errors.append("%s: %s" % (checks.name, exc.message.splitlines()[0] if exc.message else exc))
    for key in ("ansible_host", "pacs_address"):
        if key in inv_vars and key not in values_out:
            try:
                values_out[key] = templar.template(inv_vars[key])
            except AnsibleError:
                pass
    return errors


def _vault_password(inventory, given):
    """The vault password of an inventory: given (bytes from --ask-vault-pass, or a file's
    path), else the one .vault-password* file in its folder, else None."""
    if isinstance(given, bytes):
        return given
    if given:
        return pathlib.Path(given).read_bytes().strip()
    folder = pathlib.Path(inventory)
    folder = folder if folder.is_dir() else folder.parent
    found = sorted(folder.glob(".vault-password*"))
    return found[0].read_bytes().strip() if len(found) == 1 else None


def _unique(lines):
    seen, result = set(), []
    for line in lines:
        if line not in seen:
            seen.add(line)
            result.append(line)
    return result


def validate_inventory(inventory, vault_password_file=None, resolve=False, values=None):
    """All problems of one inventory as '<inventory> <host> <variable>[<item>]: <problem>' lines.

    ``values``, when given a dict, receives host name -> the templated variables of the cross-host rules.
    """
    label = str(inventory).rstrip("/")
    loader = DataLoader()
    vault = _vault_password(inventory, vault_password_file)
    if vault is not None:
        loader.set_vault_secrets([("default", VaultSecret(vault))])
    try:
        hosts_pattern, roles = _load_preflight()
        inventory_manager = InventoryManager(loader=loader, sources=[str(inventory)])
        variable_manager = VariableManager(loader=loader, inventory=inventory_manager)
        hosts = inventory_manager.get_hosts(hosts_pattern)
    except AnsibleError as exc:
        return ["%s - inventory: %s" % (label, str(exc).splitlines()[0])]
    if not hosts:
        return ["%s - inventory: no host in group %s" % (label, hosts_pattern)]
    lines, cross = [], ({} if values is None else values)
    for host in hosts:
        values = cross.setdefault(host.name, {})
        try:
            inv_vars = variable_manager.get_vars(host=host, include_hostvars=False)
            problems = _host_errors(loader, roles, inv_vars, resolve, values)
        except AnsibleError as exc:
            cross.pop(host.name)  # nothing is known of this host: leave it out of the cross-host rules
            problems = ["inventory: %s" % str(exc).splitlines()[0]]
            if "vault password" in problems[0].lower():
                problems[0] += " (give it with --ask-vault-pass or --vault-password-file)"
        lines.extend("%s %s %s" % (label, host.name, p) for p in _unique(problems))
    lines.extend("%s %s" % (label, p) for p in pacs_inventory_errors(cross))
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("inventories", nargs="+", help="inventory folders or files")
    parser.add_argument("--vault-password-file", help="for every inventory (default: its .vault-password* file)")
    parser.add_argument("--ask-vault-pass", action="store_true",
                        help="ask for the vault password (the terminal, else standard input)")
    parser.add_argument("--resolve", action="store_true", help="also resolve host names, as the firewall preflight does")
    parser.add_argument("--json", metavar="FILE", help="also write {inventory: [problems]} to FILE")
    args = parser.parse_args(argv)
    password = args.vault_password_file
    if args.ask_vault_pass:
        password = getpass.getpass("Vault password: ").encode()
    start = time.monotonic()
    report, total = {}, 0
    for inventory in args.inventories:
        lines = validate_inventory(inventory, password, args.resolve)
        report[inventory] = lines
        total += len(lines)
        for line in lines:
            print(line)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    bad = sum(1 for lines in report.values() if lines)
    print("validate: %d problem(s) in %d of %d inventories (%.1fs)"
          % (total, bad, len(report), time.monotonic() - start), file=sys.stderr)
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
