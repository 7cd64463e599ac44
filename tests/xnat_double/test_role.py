"""The xnat_dqr role run with ansible-playbook against the XNAT double on loopback."""

import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import doublectl  # noqa: E402

PLAYBOOK = os.path.join(ROOT, ".venv", "bin", "ansible-playbook")


def play(double, *extra, password=None, port):
    cmd = [PLAYBOOK if os.path.exists(PLAYBOOK) else "ansible-playbook",
           "-i", os.path.join(HERE, "inventory.yml"), os.path.join(HERE, "playbook.yml"),
           "-e", "xnat_double_url=%s" % double.url,
           "-e", "xnat_double_password=%s" % (password or double.admin[1]),
           "-e", "xnat_double_receiver_port=%d" % port, *extra]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                                   ANSIBLE_CALLBACK_RESULT_FORMAT="json"))
    recap = re.search(r"pacs1\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", proc.stdout)
    assert recap, proc.stdout + proc.stderr
    return proc, {"ok": int(recap.group(1)), "changed": int(recap.group(2)), "failed": int(recap.group(3))}


def test_converge_idempotent_and_check_diff(double):
    double.reset()
    port = doublectl.free_port()
    proc, recap = play(double, port=port)
    assert recap["failed"] == 0 and recap["changed"] == 1, proc.stdout
    assert "create PACS GH_PACS (GH_PACS@pacs1.test:4242)" in proc.stdout
    assert double.admin[1] not in proc.stdout
    writes = len(double.writes())

    proc, recap = play(double, port=port)
    assert recap == {"ok": recap["ok"], "changed": 0, "failed": 0}, proc.stdout
    assert "up to date" in proc.stdout
    assert len(double.writes()) == writes

    proc, recap = play(double, "--check", "--diff", "-e", "xnat_double_pacs_host=pacs2.test", port=port)
    assert recap["changed"] == 1 and recap["failed"] == 0, proc.stdout
    assert "host 'pacs1.test' -> 'pacs2.test'" in proc.stdout
    assert "check mode: nothing written" in proc.stdout
    assert len(double.writes()) == writes

    proc, recap = play(double, "-e", "xnat_double_pacs_host=pacs2.test", port=port)
    assert recap["changed"] == 1
    pacs = double.test_call("GET", "/test/requests")
    assert [r for r in pacs if r["method"] == "PUT" and r["path"].startswith("/xapi/pacs/")]


def test_wrong_password_fails_with_clear_message(double):
    double.reset()
    proc, recap = play(double, password="wrong-password", port=doublectl.free_port())
    assert recap["failed"] == 1
    assert "POST /data/JSESSION failed with HTTP 401" in proc.stdout
    assert "vaulted password" in proc.stdout
    assert double.writes() == []


def test_preflight_reports_every_error(double):
    proc, recap = play(double, "-e", "orthanc_dicom_aet=GH\\\\PACS_WAY_TOO_LONG", port=0)
    assert recap["failed"] == 1
    # Orthanc's own AE title is judged once, by the orthanc role (and the preflight play);
    # the xnat_dqr role judges its own list
    assert "orthanc_dicom_aet: must be 1-16 characters" not in proc.stdout
    assert "receiver.port must be an integer 1-65535, got 0" in proc.stdout
    assert double.writes() == []
