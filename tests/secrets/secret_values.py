"""Every secret an inventory holds: the string values of its Ansible Vault files."""

from __future__ import annotations

import pathlib

import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

# Shorter strings (a port, "true") would match by chance; no real secret is this short.
MIN_SECRET_LENGTH = 8


def _strings(value):
    """Yield every string leaf of a YAML value (dict values, list items, scalars)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def vault_secrets(folder: pathlib.Path, password: bytes) -> set[str]:
    """The secrets of every vaulted YAML file under folder, each line of a multi-line one apart.

    A PEM block is split into lines so that a certificate printed with other line
    breaks is still found by its body lines; the BEGIN/END markers are not secrets.
    """
    vault = VaultLib([("default", VaultSecret(password))])
    found = set()
    for path in sorted(folder.rglob("*.yml")):
        raw = path.read_bytes()
        if not raw.startswith(b"$ANSIBLE_VAULT"):
            continue
        for text in _strings(yaml.safe_load(vault.decrypt(raw)) or {}):
            for line in text.splitlines() or [text]:
                line = line.strip()
                if len(line) >= MIN_SECRET_LENGTH and not line.startswith("-----"):
                    found.add(line)
    return found


def leaked(output: str, secrets: set[str]) -> list[str]:
    """The secrets that appear in output, each shown by its first three characters only."""
    return sorted("%s... (%d characters)" % (s[:3], len(s)) for s in secrets if s in output)
