"""Broken Python scripts, given to the orthanc play after converge (as test_zz_rollback.py
does with a taken port), on one host per Debian release.

A script with a syntax error is refused by the host's python3 before it is written:
orthanc.json, the scripts Orthanc runs and Orthanc itself stay as they were. A script
that compiles but raises while Orthanc imports it stops Orthanc: the restart fails, the
last good orthanc.json comes back, and it names the folder of the old scripts, which the
role kept, so Orthanc answers the old route again.
"""

import json
import os

import pytest
import yaml
from conftest import inventory_vars, read_orthanc_json, run_on_each, scenario_host
from test_python import ask_route

testinfra_hosts = ["pp-default-pacs", "pp-default-trixie"]


def run_orthanc_plays(tmp_path, scripts_by_host, **extra_vars):
    """playbooks/orthanc.yml on each host at once with its own orthanc_python_scripts (from a file)."""
    args = {}
    for name, scripts in scripts_by_host.items():
        extra = tmp_path / ("%s.yml" % name)
        extra.write_text(yaml.safe_dump(dict(extra_vars, orthanc_python_scripts=scripts)))
        args[name] = ["-e", f"@{extra}"]
    return run_on_each("playbooks/orthanc.yml", args)


def main_pid(host):
    return host.check_output("systemctl show -p MainPID --value orthanc")


def scripts_listing(host, config):
    folder = os.path.dirname(config["PythonScript"])
    return host.check_output("find %s -type f -printf '%%p %%s %%T@\\n' | sort" % folder)


@pytest.fixture(scope="module")
def start_up_fault_runs(tmp_path_factory):
    """Each host's orthanc.json before, and its run with a script that raises when Orthanc imports it."""
    before = {name: read_orthanc_json(scenario_host(name)) for name in testinfra_hosts}
    broken = {"name": "pacs_broken_at_start.py", "content": "raise RuntimeError('pacs-provisioner test fault')\n"}
    scripts = {name: inventory_vars(name)["orthanc_python_scripts"] + [broken] for name in testinfra_hosts}
    return before, run_orthanc_plays(tmp_path_factory.mktemp("start-up"), scripts, orthanc_health_timeout=10)


def test_a_syntax_error_is_refused_before_anything_orthanc_reads_changes(host, hostvars, tmp_path):
    """One host at a time, each right after its state is read: Orthanc's PID must not change."""
    hostname = host.backend.get_hostname()
    config, pid = read_orthanc_json(host), main_pid(host)
    listing = scripts_listing(host, config)
    scripts = [dict(item) for item in hostvars["orthanc_python_scripts"]]
    assert scripts[1]["name"] == "pacs_ping.py"
    scripts[1]["content"] = scripts[1]["content"].replace("def on_ping(output, uri, **request):",
                                                          "def on_ping(output, uri, **request)")
    rc, output = run_orthanc_plays(tmp_path, {hostname: scripts})[hostname]
    assert rc != 0, output
    assert "(item=pacs_ping.py)" in output and "failed to validate" in output, output
    assert "SyntaxError" in output, output
    assert "failed: [%s] (item=pacs_answers.py)" % hostname not in output, output
    # Nothing Orthanc reads changed and Orthanc was not restarted.
    assert read_orthanc_json(host) == config
    assert scripts_listing(host, config) == listing
    assert main_pid(host) == pid
    assert ask_route(host, hostvars)[0] == "200"


def test_a_script_that_fails_at_start_up_is_rolled_back_with_its_configuration(host, hostvars, start_up_fault_runs):
    befores, runs = start_up_fault_runs
    before, (rc, output) = befores[host.backend.get_hostname()], runs[host.backend.get_hostname()]
    assert rc != 0, output
    assert "the last good configuration was restored and Orthanc runs on it again" in output, output
    assert read_orthanc_json(host) == before
    assert host.service("orthanc").is_running
    status, body = ask_route(host, hostvars)
    assert status == "200" and json.loads(body)["pong"] is True, body
