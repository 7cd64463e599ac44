"""No secret of an example inventory appears in the output of the preflight play, at any
verbosity, in check mode with diffs (issue 18: the firewall's input task printed the XNAT
administrators' and a peer's passwords at -v)."""

import os
import pathlib
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from secret_values import leaked, vault_secrets  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
INVENTORIES = sorted(p for p in (ROOT / "inventories").iterdir() if list(p.glob(".vault-password*")))


def _playbook(inventory, *args):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    password_file = next(inventory.glob(".vault-password*"))
    run = subprocess.run(
        [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
         "--vault-password-file", str(password_file), str(ROOT / "playbooks" / "preflight.yml"), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    return run.returncode, run.stdout + run.stderr


@pytest.mark.parametrize("inventory", INVENTORIES, ids=[p.name for p in INVENTORIES])
def test_preflight_prints_no_secret_at_vvvv(inventory):
    secrets = vault_secrets(inventory, next(inventory.glob(".vault-password*")).read_bytes().strip())
    assert secrets, "the inventory has no vaulted secret to look for"
    rc, output = _playbook(inventory, "--check", "--diff", "-vvvv")
    assert rc == 0, output[-3000:]
    assert "TASK [pacs_firewall" in output, "the firewall's preflight did not run"
    assert leaked(output, secrets) == []
