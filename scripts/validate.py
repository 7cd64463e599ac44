#!/usr/bin/env python3
"""Validate hospital inventories offline: no host is contacted.

    .venv/bin/python scripts/validate.py inventories/*/

For every inventory and every host of group ``orthanc`` this calls the function the
preflight play calls (filter ``pacs_preflight_errors``, filter_plugins/pacs_preflight.py)
with the host's inventory variables, templated as Ansible's hostvars are; then the
cross-host rules of filter_plugins/pacs_inventory.py, as playbooks/validate.yml does. No
task file is read. Every problem of every inventory is printed, one per line:

    <inventory> <host> <variable>[<item>]: <problem>

and the exit status is 1 when there is any. Vaulted files are decrypted with
--vault-password-file or --ask-vault-pass, or else with the one ``.vault-password*`` file in the
inventory's folder. Host names are not resolved unless --resolve is given (the
firewall preflight resolves them on the controller; offline we do not). Inventories are
validated in parallel, one process per CPU (--jobs); the output keeps their order.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import functools
import getpass
import json
import os
import pathlib
import sys
import time
from collections.abc import Mapping

ROOT = pathlib.Path(__file__).resolve().parent.parent
os.environ.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))
os.environ.setdefault("ANSIBLE_DEPRECATION_WARNINGS", "False")
os.environ.setdefault("ANSIBLE_LOCALHOST_WARNING", "False")
os.environ.setdefault("ANSIBLE_INVENTORY_UNPARSED_WARNING", "False")

# pylint: disable=wrong-import-position
from ansible.errors import AnsibleError  # noqa: E402
from ansible.inventory.manager import InventoryManager  # noqa: E402
from ansible.parsing.dataloader import DataLoader  # noqa: E402
from ansible.parsing.vault import VaultSecret  # noqa: E402
from ansible.plugins.loader import filter_loader, init_plugin_loader  # noqa: E402
from ansible.template import Templar  # noqa: E402
from ansible.vars.manager import VariableManager  # noqa: E402

# As ansible-playbook does: the collection loader, so that templates find ansible.builtin's
# lookups (an inventory reads its certificates with lookup('ansible.builtin.file', ...)).
init_plugin_loader()
filter_loader.add_directory(str(ROOT / "filter_plugins"))
sys.path.insert(0, str(ROOT / "filter_plugins"))
from pacs_firewall import pacs_firewall_hostnames, pacs_firewall_resolve  # noqa: E402
from pacs_inventory import pacs_inventory_errors  # noqa: E402
from pacs_preflight import host_roles, pacs_preflight_errors, role_settings, snapshot  # noqa: E402

HOSTS = "orthanc"  # the group playbooks/preflight.yml validates


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


class HostVars(Mapping):
    """One host's inventory variables, each templated when read, as Ansible's hostvars[host]."""

    def __init__(self, templar, variables):
        self._templar, self._vars, self._cache = templar, variables, {}

    def __getitem__(self, name):
        if name not in self._cache:
            self._templar.available_variables = self._vars
            self._cache[name] = _render(self._templar, self._vars[name])
        return self._cache[name]

    def __iter__(self):
        return iter(self._vars)

    def __len__(self):
        return len(self._vars)

    def __contains__(self, name):
        return name in self._vars

    def get(self, name, default=None):
        try:
            return self[name] if name in self._vars else default
        except AnsibleError:
            return default


def _resolve_errors(variables):
    """What the firewall preflight's resolution reports, offline on request (--resolve)."""
    if "pacs_firewall" not in host_roles(variables):
        return []
    return pacs_firewall_resolve(pacs_firewall_hostnames(role_settings(variables, "pacs_firewall")))["errors"]


def _host_errors(hostvars, resolve):
    """Every preflight problem of one host: the preflight play's function, and --resolve."""
    errors = pacs_preflight_errors(hostvars)
    if resolve and not errors:
        errors.extend(_resolve_errors(snapshot(hostvars)[0]))
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
        inventory_manager = InventoryManager(loader=loader, sources=[str(inventory)])
        variable_manager = VariableManager(loader=loader, inventory=inventory_manager)
        hosts = inventory_manager.get_hosts(HOSTS)
    except AnsibleError as exc:
        return ["%s - inventory: %s" % (label, str(exc).splitlines()[0])]
    if not hosts:
        return ["%s - inventory: no host in group %s" % (label, HOSTS)]
    lines, cross = [], ({} if values is None else values)
    templar = Templar(loader=loader, variables={})
    for host in hosts:
        try:
            hostvars = HostVars(templar, variable_manager.get_vars(host=host, include_hostvars=False))
            cross[host.name] = hostvars
            problems = _host_errors(hostvars, resolve)
        except AnsibleError as exc:
            cross.pop(host.name, None)  # nothing is known of this host: leave it out of the cross-host rules
            problems = ["inventory: %s" % str(exc).splitlines()[0]]
            if "vault password" in problems[0].lower():
                problems[0] += " (give it with --ask-vault-pass or --vault-password-file)"
        lines.extend("%s %s %s" % (label, host.name, p) for p in _unique(problems))
    lines.extend("%s %s" % (label, p) for p in pacs_inventory_errors(cross))
    return lines


def _validate_all(inventories, password, resolve, jobs):
    """validate_inventory of each inventory, in their order: in ``jobs`` processes when there
    are several inventories (each is independent; the workers are forked with Ansible loaded)."""
    validate = functools.partial(validate_inventory, vault_password_file=password, resolve=resolve)
    jobs = max(1, min(jobs, len(inventories)))
    if jobs == 1:
        return map(validate, inventories)
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(validate, inventories))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("inventories", nargs="+", help="inventory folders or files")
    parser.add_argument("--vault-password-file", help="for every inventory (default: its .vault-password* file)")
    parser.add_argument("--ask-vault-pass", action="store_true",
                        help="ask for the vault password (the terminal, else standard input)")
    parser.add_argument("--resolve", action="store_true", help="also resolve host names, as the firewall preflight does")
    parser.add_argument("--json", metavar="FILE", help="also write {inventory: [problems]} to FILE")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="inventories validated at once, one process each (default: the CPUs, %(default)s)")
    args = parser.parse_args(argv)
    password = args.vault_password_file
    if args.ask_vault_pass:
        password = getpass.getpass("Vault password: ").encode()
    start = time.monotonic()
    report, total = {}, 0
    for inventory, lines in zip(args.inventories, _validate_all(args.inventories, password, args.resolve, args.jobs)):
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
