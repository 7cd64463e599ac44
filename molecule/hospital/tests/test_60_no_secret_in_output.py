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


# Every role runs (pacs_state_enabled=false), then the run that finds the host unchanged.
EVERY_ROLE = ("-e", "pacs_state_enabled=false")


@pytest.mark.parametrize("args", [("-vvvv", *EVERY_ROLE), ("--check", "--diff", "-vvvv", *EVERY_ROLE), ("-vvvv",)],
                         ids=["rerun", "check-diff", "rerun-with-pacs-state"])
def test_site_prints_no_secret(secrets, args):
    rc, output = run_site(*args, timeout=600)
    assert rc == 0, output[-4000:]
    assert "TASK [xnat_dqr" in output, output[-2000:]
    if EVERY_ROLE[1] in args:
        assert "TASK [pacs_firewall : Install" in output, output[-2000:]
    else:
        assert "TASK [pacs_state : Compare" in output, output[-2000:]
    assert leaked(output, secrets) == []
