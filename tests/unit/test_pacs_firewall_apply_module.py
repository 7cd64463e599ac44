"""roles/pacs_firewall/library/pacs_firewall_apply.py, run as Ansible runs it, with stand-ins for
systemctl and systemd-run on PATH (the firewall itself is applied only inside the test containers:
molecule/firewall)."""

import functools
import os
import pathlib

import pytest
from module_run import load_module_file
from module_run import run_module_file as run_any_module_file

ROLE = pathlib.Path(__file__).resolve().parents[2] / "roles" / "pacs_firewall"
MODULE = ROLE / "library" / "pacs_firewall_apply.py"
UTILS = {"pacs_firewall_write": str(ROLE / "module_utils" / "pacs_firewall_write.py")}
APPLY = load_module_file(MODULE, "pacs_firewall_apply", UTILS)
run_module_file = functools.partial(run_any_module_file, module_utils=UTILS)


@pytest.fixture
def host(tmp_path, monkeypatch):
    """A bin folder of stand-ins that log their argv to calls.log; systemd-run fails when told to."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    for name in ("systemctl", "systemd-run", "apply-rules"):
        fail = "[ -e %s/%s.fails ] && { echo '%s refused' >&2; exit 3; }\n" % (tmp_path, name, name)
        (bin_dir / name).write_text('#!/bin/sh\necho "$(basename "$0") $*" >> %s\n%sexit 0\n' % (log, fail),
                                    encoding="ascii")
        os.chmod(bin_dir / name, 0o755)
    (tmp_path / "state").mkdir()
    monkeypatch.setenv("PATH", "%s:%s" % (bin_dir, os.environ["PATH"]))
    return tmp_path


def args(root):
    return {"rollback_script": "#!/bin/sh\necho rolled back\n", "rollback_path": str(root / "pacs-firewall-rollback"),
            "rollback_timeout": 60, "state_dir": str(root / "state"), "apply": ["apply-rules", "--now"]}


def calls(root):
    return (root / "calls.log").read_text(encoding="ascii").splitlines()


def test_writes_the_script_clears_the_mark_schedules_then_applies(host):
    (host / "state" / "rolled-back").write_text("", encoding="ascii")
    result = run_module_file(MODULE, args(host), host)
    assert result["changed"] is True and not result.get("failed"), result
    assert calls(host) == ["systemctl stop pacs-firewall-rollback.timer",
                           "systemctl stop pacs-firewall-rollback.service",
                           "systemd-run --quiet --unit=pacs-firewall-rollback --collect --on-active=60s "
                           + str(host / "pacs-firewall-rollback"),
                           "apply-rules --now"]
    script = host / "pacs-firewall-rollback"
    assert script.read_text(encoding="ascii") == "#!/bin/sh\necho rolled back\n"
    assert oct(os.stat(script).st_mode & 0o777) == "0o700"
    assert not (host / "state" / "rolled-back").exists()
    assert sorted(p.name for p in host.iterdir()) == ["args.json", "bin", "calls.log", "pacs-firewall-rollback", "state"]


def test_no_apply_without_a_scheduled_rollback(host):
    (host / "systemd-run.fails").write_text("", encoding="ascii")
    result = run_module_file(MODULE, args(host), host)
    assert result["failed"] is True
    assert result["msg"].startswith("`systemd-run --quiet --unit=pacs-firewall-rollback") and \
        result["msg"].endswith("failed (rc 3): systemd-run refused"), result["msg"]
    assert not any(line.startswith("apply-rules") for line in calls(host))


def test_a_leftover_timer_that_does_not_exist_is_no_failure_but_a_failed_apply_is(host):
    (host / "systemctl.fails").write_text("", encoding="ascii")
    (host / "apply-rules.fails").write_text("", encoding="ascii")
    result = run_module_file(MODULE, args(host), host)
    assert result["failed"] is True and result["msg"] == "`apply-rules --now` failed (rc 3): apply-rules refused"
    assert len(calls(host)) == 4


def test_check_mode_does_nothing(host):
    result = run_module_file(MODULE, args(host), host, check=True)
    assert result["changed"] is True and result["commands"][-1] == ["apply-rules", "--now"]
    assert not (host / "calls.log").exists() and not (host / "pacs-firewall-rollback").exists()


def test_may_fail_only_the_stops():
    assert APPLY.may_fail(["systemctl", "stop", "pacs-firewall-rollback.timer"])
    assert not APPLY.may_fail(["systemd-run", "--quiet"]) and not APPLY.may_fail(["firewall-cmd", "--reload"])
