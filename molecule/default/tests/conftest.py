"""Shared helpers for the default scenario's testinfra tests."""

import json
import os
import pathlib

import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

SCENARIO = pathlib.Path(__file__).resolve().parent.parent
PROJECT = SCENARIO.parent.parent
VAULT_PASSWORD = (PROJECT / "molecule" / ".vault-password-test-only").read_bytes().strip()


def load_vars(path):
    """Load a vars file, decrypting it when it is vaulted (test-only password)."""
    raw = path.read_bytes()
    if raw.startswith(b"$ANSIBLE_VAULT"):
        raw = VaultLib([("default", VaultSecret(VAULT_PASSWORD))]).decrypt(raw)
    return yaml.safe_load(raw) or {}


def inventory_vars(hostname):
    """The scenario's group and host variables for one host, vault secrets resolved."""
    merged = {}
    for folder in (SCENARIO / "group_vars" / "orthanc", SCENARIO / "host_vars" / hostname):
        if folder.is_dir():
            for path in sorted(folder.glob("*.yml")):
                merged.update(load_vars(path))
    secrets = {k: v for k, v in merged.items() if k.startswith("vault_")}

    def resolve(value):
        if isinstance(value, str) and value.startswith("{{ vault_") and value.endswith("}}"):
            return secrets[value[3:-2].strip()]
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        return value

    return {k: resolve(v) for k, v in merged.items() if not k.startswith("vault_")}


def read_orthanc_json(host, path="/etc/orthanc/orthanc.json"):
    """Parse a rendered Orthanc configuration (it starts with // comments)."""
    text = host.file(path).content_string
    return json.loads("".join(line for line in text.splitlines(True) if not line.lstrip().startswith("//")))


@pytest.fixture
def hostvars(host):
    return inventory_vars(host.backend.get_hostname())


@pytest.fixture
def config(host):
    return read_orthanc_json(host)


def molecule_env():
    """Environment for running ansible-playbook against the scenario's inventory."""
    env = dict(os.environ)
    env.setdefault("ANSIBLE_CONFIG", str(pathlib.Path(env["MOLECULE_EPHEMERAL_DIRECTORY"]) / "ansible.cfg"))
    return env
