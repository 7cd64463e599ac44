"""A rerun of site.yml with nothing to do skips the roles on an unchanged host (role pacs_state,
issue 17), and anything changed by hand on the host still brings every role back: a file, the
service, the firewall table. The whole role path stays idempotent too."""

from conftest import PACS, docker_host, recap, run_site

RECORD = "/var/lib/pacs_provisioner/state.json"


def _rerun(*args):
    code, output = run_site("--skip-tags", "smoke", *args, timeout=600)
    assert code == 0, output[-6000:]
    return output


def test_an_unchanged_host_skips_the_roles():
    _rerun()  # earlier tests changed inputs (--tags, -e): this complete run records again
    host = docker_host(PACS)
    assert host.file(RECORD).mode == 0o600 and host.file(RECORD).user == "root"
    output = _rerun()
    assert recap(output)["changed"] == 0, output[-4000:]
    assert "TASK [pacs_state : Compare" in output
    # (The preflight resolves the firewall's names with a task of pacs_firewall: its install is the role.)
    assert "TASK [orthanc :" not in output and "TASK [pacs_firewall : Install" not in output, output[-4000:]
    # XNAT holds state of its own: its play runs on every run.
    assert "TASK [xnat_dqr :" in output


def test_what_was_changed_by_hand_is_put_back():
    host = docker_host(PACS)
    _rerun()
    host.run_expect([0], "printf '// by hand\\n' >> /etc/orthanc/orthanc.json")
    host.run_expect([0], "systemctl stop orthanc")
    host.run_expect([0], "nft flush chain inet pacs_provisioner input")
    output = _rerun("-v")
    assert recap(output)["changed"] > 0
    for reason in ("path /etc/orthanc/orthanc.json", "command systemctl is-active orthanc",
                   "command nft -s list table inet pacs_provisioner"):
        assert reason in output, output[-6000:]
    assert "by hand" not in host.file("/etc/orthanc/orthanc.json").content_string
    assert host.service("orthanc").is_running
    assert "counter drop" in host.check_output("nft -s list table inet pacs_provisioner")
    # And the next rerun is a no-op again.
    output = _rerun()
    assert recap(output)["changed"] == 0 and "TASK [orthanc :" not in output, output[-4000:]


def test_every_role_run_again_changes_nothing():
    """The idempotence of the roles themselves, which the scenario's idempotence stage (an
    unchanged host, skipped) no longer shows."""
    output = _rerun("-e", "pacs_state_enabled=false")
    assert "TASK [orthanc :" in output and "TASK [pacs_firewall : Install" in output
    assert recap(output)["changed"] == 0, output[-6000:]
