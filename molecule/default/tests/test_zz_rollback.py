"""A failed restart rolls back to the last good configuration.

Runs last (file name): it runs the project's playbook against this scenario with
a DICOM port that another process holds, so Orthanc cannot start on it.
"""

import os
import pathlib
import subprocess

import pytest
from conftest import PROJECT, molecule_env, read_orthanc_json

# One host per Debian release (the TLS host differs from pp-default-pacs only in DICOM).
testinfra_hosts = ["pp-default-pacs", "pp-default-trixie"]
TAKEN_PORT = 4343


@pytest.fixture
def port_taken(host):
    host.run_expect([0], f"systemd-run --unit pp-port-blocker python3 -m http.server {TAKEN_PORT}")
    host.run_expect([0], f"timeout 10 sh -c 'until ss -ltn | grep -q :{TAKEN_PORT}; do sleep 0.2; done'")
    yield TAKEN_PORT
    host.run("systemctl stop pp-port-blocker")


def test_failed_restart_rolls_back(host, port_taken):
    hostname = host.backend.get_hostname()
    before = read_orthanc_json(host)
    inventory = pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory"
    run = subprocess.run(
        [str(PROJECT / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory),
         str(PROJECT / "site.yml"), "--limit", hostname,
         "-e", f"orthanc_dicom_port={port_taken}", "-e", "orthanc_health_timeout=10"],
        cwd=PROJECT, env=molecule_env(), capture_output=True, text=True, timeout=300, check=False)
    output = run.stdout + run.stderr
    assert run.returncode != 0, output
    assert "the last good configuration was restored and Orthanc runs on it again" in output, output
    # The cause is Orthanc's own error line without its log prefix, whose format
    # differs by version (1.12 adds a thread name; see roles/orthanc/tasks/restart.yml).
    assert ("Cause from Orthanc's log: Uncaught exception, stopping now: "
            "[The TCP port of the DICOM server is privileged or already in use]") in output, output
    # Orthanc is back, on the old configuration, with the old DICOM port.
    assert read_orthanc_json(host) == before
    assert host.service("orthanc").is_running
    assert host.socket(f"tcp://0.0.0.0:{before['DicomPort']}").is_listening
    answer = host.run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8042/system")
    assert answer.stdout == "401"
    # Backups hold secrets: with orthanc_config_backups 1, converge's backup of Debian's
    # file and this run's backup of the good configuration leave exactly one.
    backups = host.check_output("ls -1 /etc/orthanc | grep -c '^orthanc\\.json\\..*~$' || true")
    assert backups == "1"


def test_a_lua_script_with_a_syntax_error_is_refused_before_it_replaces_the_old_one(host, tmp_path):
    """luac5.3 (the Lua Orthanc links) parses every script first: the old one stays, Orthanc runs on."""
    hostname = host.backend.get_hostname()
    before = host.file("/etc/orthanc/lua/tag-origin.lua").content_string
    broken = tmp_path / "broken.yml"
    broken.write_text("orthanc_lua_scripts:\n  - name: tag-origin.lua\n"
                      "    content: \"function OnStableStudy(studyId\\n  print('no end'\\n\"\n")
    inventory = pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory"
    run = subprocess.run(
        [str(PROJECT / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory),
         str(PROJECT / "playbooks" / "orthanc.yml"), "--limit", hostname, "-e", "@%s" % broken],
        cwd=PROJECT, env=molecule_env(), capture_output=True, text=True, timeout=300, check=False)
    output = run.stdout + run.stderr
    assert run.returncode != 0, output
    assert "tag-origin.lua" in output and "failed to validate" in output, output
    assert host.file("/etc/orthanc/lua/tag-origin.lua").content_string == before
    assert host.service("orthanc").is_running
