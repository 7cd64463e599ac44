"""No secret of the hospital's inventory appears in site.yml's output at -vvvv, in a real
rerun (smoke included) and in check mode with diffs (issue 18)."""

import pathlib
import sys

import pytest
from conftest import SCENARIO, VAULT_PASSWORD, run_site

sys.path.insert(0, str(SCENARIO.parent.parent / "tests" / "secrets"))
from secret_values import leaked, vault_secrets  # noqa: E402


@pytest.fixture(scope="module")
def secrets():
    found = vault_secrets(SCENARIO, VAULT_PASSWORD)
    assert found, "the scenario has no vaulted secret to look for"
    return found


@pytest.mark.parametrize("args", [("-vvvv",), ("--check", "--diff", "-vvvv")], ids=["rerun", "check-diff"])
def test_site_prints_no_secret(secrets, args):
    rc, output = run_site(*args, timeout=600)
    assert rc == 0, output[-4000:]
    assert "TASK [xnat_dqr" in output and "TASK [pacs_firewall" in output, output[-2000:]
    assert leaked(output, secrets) == []
