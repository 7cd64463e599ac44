"""A failed restart rolls back to the last good configuration.

Runs last (file name): it runs the project's playbook against this scenario with
a DICOM port that another process holds, so Orthanc cannot start on it. Each fault
is run on both hosts at once (conftest.run_on_each), then checked host by host.
"""

import pytest
from conftest import read_orthanc_json, run_on_each, scenario_host

# One host per Debian release (the TLS host differs from pp-default-pacs only in DICOM).
testinfra_hosts = ["pp-default-pacs", "pp-default-trixie"]
TAKEN_PORT = 4343


@pytest.fixture(scope="module")
def taken_port_runs():
    """site.yml on each host with a DICOM port another process holds: ({host: before}, {host: run})."""
    hosts = {name: scenario_host(name) for name in testinfra_hosts}
    try:
        for node in hosts.values():
            node.run_expect([0], f"systemd-run --unit pp-port-blocker python3 -m http.server {TAKEN_PORT}")
            node.run_expect([0], f"timeout 10 sh -c 'until ss -ltn | grep -q :{TAKEN_PORT}; do sleep 0.2; done'")
        before = {name: read_orthanc_json(node) for name, node in hosts.items()}
        runs = run_on_each("site.yml", {name: ["-e", f"orthanc_dicom_port={TAKEN_PORT}",
                                               "-e", "orthanc_health_timeout=10"] for name in hosts})
        yield before, runs
    finally:
        for node in hosts.values():
            node.run("systemctl stop pp-port-blocker")


@pytest.fixture(scope="module")
def broken_lua_runs(tmp_path_factory):
    """playbooks/orthanc.yml on each host with a Lua script that does not parse."""
    broken = tmp_path_factory.mktemp("lua") / "broken.yml"
    broken.write_text("orthanc_lua_scripts:\n  - name: tag-origin.lua\n"
                      "    content: \"function OnStableStudy(studyId\\n  print('no end'\\n\"\n")
    before = {name: scenario_host(name).file("/etc/orthanc/lua/tag-origin.lua").content_string
              for name in testinfra_hosts}
    return before, run_on_each("playbooks/orthanc.yml", {name: ["-e", "@%s" % broken] for name in testinfra_hosts})


def test_failed_restart_rolls_back(host, taken_port_runs):
    befores, runs = taken_port_runs
    before, (code, output) = befores[host.backend.get_hostname()], runs[host.backend.get_hostname()]
    assert code != 0, output
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


def test_a_lua_script_with_a_syntax_error_is_refused_before_it_replaces_the_old_one(host, broken_lua_runs):
    """luac5.3 (the Lua Orthanc links) parses every script first: the old one stays, Orthanc runs on."""
    befores, runs = broken_lua_runs
    before, (code, output) = befores[host.backend.get_hostname()], runs[host.backend.get_hostname()]
    assert code != 0, output
    assert "tag-origin.lua" in output and "failed to validate" in output, output
    assert host.file("/etc/orthanc/lua/tag-origin.lua").content_string == before
    assert host.service("orthanc").is_running
