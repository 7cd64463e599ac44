"""The fingerprint of what a run of site.yml would put on a host (role pacs_state).

A host whose record (roles/pacs_state/library/pacs_state.py) holds the same fingerprint, and
whose files and services are still as recorded, is skipped by the roles. The fingerprint
therefore covers every input a role reads, conservatively:

- the inventory: every variable of every role's contract (pacs_model.NAMES, the names the
  model reads) of every host of the inventory, not only this one (the firewall reads the
  front doors' and peers' settings), and the groups;
- the names the controller resolved for this host (a DNS change changes the rules);
- the project's code: every file of roles/, filter_plugins/, library/, templates/, the
  playbooks and their task files, site.yml and ansible.cfg; and the ansible-core version.

A variable whose template fails makes the digest None: no host is skipped then.
"""

from __future__ import annotations

import functools
import hashlib
import json
import pathlib
import sys

if str(pathlib.Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
# pylint: disable=wrong-import-position
from pacs_model import _ROOT, NAMES, snapshot  # noqa: E402

DOCUMENTATION = r"""
name: pacs_state_inventory_digest
short_description: A digest of every host's role variables and the groups of the inventory
description:
  - Every variable of every role's contract of every host, read through hostvars, and the
    groups (name and hosts); None when a variable's template fails.
  - Its companion filter in the same file is C(pacs_state_fingerprint) (one host's fingerprint from
    this digest, its resolved names and the project's code).
positional: _input
options:
  _input:
    description: hostvars.
    type: dict
    required: true
  groups:
    description: groups.
    type: dict
    required: true
"""

# The code a run executes; generated files (the smoke reports) are left out.
CODE = ("roles", "filter_plugins", "library", "playbooks", "templates")
CODE_FILES = ("site.yml", "ansible.cfg")
SKIPPED_PARTS = frozenset({"__pycache__", "reports", ".pytest_cache"})


def _digest(value) -> str:
    """The sha256 of a value's canonical JSON (sorted keys; other types as their text)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def code_files(root: pathlib.Path) -> list:
    """The project's files a run reads, sorted: CODE's folders (the playbooks with their task files), CODE_FILES."""
    files = [root / name for name in CODE_FILES]
    for folder in CODE:
        files += sorted(p for p in (root / folder).rglob("*")
                        if p.is_file() and not SKIPPED_PARTS & set(p.relative_to(root).parts))
    return [p for p in files if p.is_file()]


@functools.lru_cache(maxsize=None)
def code_digest(root: str = str(_ROOT)) -> str:
    """The digest of the project's code (code_files under root), read once per run."""
    digest = hashlib.sha256()
    base = pathlib.Path(root)
    for path in code_files(base):
        digest.update(str(path.relative_to(base)).encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def pacs_state_inventory_digest(hostvars, groups) -> str | None:
    """The digest of every host's contract variables (pacs_model.NAMES) and of the groups; None
    when a variable cannot be read (its template fails): nothing is skipped then."""
    hosts = {}
    for name in sorted(groups["all"]):
        values, errors = snapshot(hostvars[name])
        if errors:
            return None
        hosts[name] = values
    return _digest({"hosts": hosts, "groups": {g: sorted(m) for g, m in groups.items()}, "names": NAMES})


def pacs_state_fingerprint(inventory_digest, host, resolution=None, code=None, version="") -> str | None:
    """One host's fingerprint: the inventory's digest, the host's name, the addresses the
    controller resolved for it, the code's digest and the ansible-core version; None when the
    inventory's digest is None."""
    if not inventory_digest:
        return None
    return _digest({"inventory": inventory_digest, "host": host, "resolution": resolution,
                    "code": code or code_digest(), "ansible": version})


class FilterModule:
    """Map the filter names to their functions."""

    def filters(self):
        return {"pacs_state_inventory_digest": pacs_state_inventory_digest,
                "pacs_state_fingerprint": pacs_state_fingerprint}
