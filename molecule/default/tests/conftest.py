"""Shared helpers for the default scenario's testinfra tests."""

import concurrent.futures
import json
import os
import pathlib
import subprocess

import pytest
import testinfra
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


def scenario_inventory():
    """The inventory molecule wrote for this scenario."""
    return pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory"


def scenario_host(hostname):
    """A testinfra host for a module-scoped fixture (the `host` fixture is one test's)."""
    return testinfra.get_host("ansible://%s?ansible_inventory=%s" % (hostname, scenario_inventory()))


def run_playbook(playbook, hostname, *args):
    """One project playbook against one of this scenario's hosts: (exit code, output)."""
    run = subprocess.run(
        [str(PROJECT / ".venv" / "bin" / "ansible-playbook"), "-i", str(scenario_inventory()),
         str(PROJECT / playbook), "--limit", hostname, *args],
        cwd=PROJECT, env=molecule_env(), capture_output=True, text=True, timeout=300, check=False)
    return run.returncode, run.stdout + run.stderr


def run_on_each(playbook, args_by_host):
    """run_playbook on several hosts at once, one ansible-playbook each: {host: (code, output)}.

    The fault tests break one host at a time and mostly wait for Orthanc; the hosts are
    independent, so their runs overlap instead of queueing.
    """
    with concurrent.futures.ThreadPoolExecutor(len(args_by_host)) as pool:
        futures = {name: pool.submit(run_playbook, playbook, name, *args) for name, args in args_by_host.items()}
        return {name: future.result() for name, future in futures.items()}
