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
import pathlib
import subprocess

import yaml
from conftest import PROJECT, molecule_env, read_orthanc_json
from test_python import ask_route

testinfra_hosts = ["pp-default-pacs", "pp-default-trixie"]


def run_orthanc_play(hostname, tmp_path, extra_vars):
    """playbooks/orthanc.yml against this scenario's host, with extra variables from a file."""
    extra = tmp_path / "extra.yml"
    extra.write_text(yaml.safe_dump(extra_vars))
    inventory = pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory"
    run = subprocess.run(
        [str(PROJECT / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory),
         str(PROJECT / "playbooks" / "orthanc.yml"), "--limit", hostname, "-e", f"@{extra}"],
        cwd=PROJECT, env=molecule_env(), capture_output=True, text=True, timeout=300, check=False)
    return run.returncode, run.stdout + run.stderr


def main_pid(host):
    return host.check_output("systemctl show -p MainPID --value orthanc")


def test_a_syntax_error_is_refused_before_anything_orthanc_reads_changes(host, hostvars, tmp_path):
    before, pid = read_orthanc_json(host), main_pid(host)
    listing = "find %s -type f -printf '%%p %%s %%T@\\n' | sort" % os.path.dirname(before["PythonScript"])
    scripts_before = host.check_output(listing)
    scripts = [dict(item) for item in hostvars["orthanc_python_scripts"]]
    assert scripts[1]["name"] == "pacs_ping.py"
    scripts[1]["content"] = scripts[1]["content"].replace("def on_ping(output, uri, **request):",
                                                          "def on_ping(output, uri, **request)")
    rc, output = run_orthanc_play(host.backend.get_hostname(), tmp_path, {"orthanc_python_scripts": scripts})
    assert rc != 0, output
    assert "(item=pacs_ping.py)" in output and "failed to validate" in output, output
    assert "SyntaxError" in output, output
    assert "failed: [%s] (item=pacs_answers.py)" % host.backend.get_hostname() not in output, output
    # Nothing Orthanc reads changed and Orthanc was not restarted.
    assert read_orthanc_json(host) == before
    assert host.check_output(listing) == scripts_before
    assert main_pid(host) == pid
    assert ask_route(host, hostvars)[0] == "200"


def test_a_script_that_fails_at_start_up_is_rolled_back_with_its_configuration(host, hostvars, tmp_path):
    before = read_orthanc_json(host)
    scripts = hostvars["orthanc_python_scripts"] + [
        {"name": "pacs_broken_at_start.py", "content": "raise RuntimeError('pacs-provisioner test fault')\n"}]
    rc, output = run_orthanc_play(host.backend.get_hostname(), tmp_path,
                                  {"orthanc_python_scripts": scripts, "orthanc_health_timeout": 10})
    assert rc != 0, output
    assert "the last good configuration was restored and Orthanc runs on it again" in output, output
    assert read_orthanc_json(host) == before
    assert host.service("orthanc").is_running
    status, body = ask_route(host, hostvars)
    assert status == "200" and json.loads(body)["pong"] is True, body
