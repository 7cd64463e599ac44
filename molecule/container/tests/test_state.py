"""Role pacs_state with the container method: a rerun of site.yml skips the unchanged host, and a
container stopped by hand brings the orthanc role back (docker inspect's image, state and health
are part of the record)."""

import os
import pathlib
import re
import subprocess

import docker
import yaml

SCENARIO = pathlib.Path(__file__).resolve().parent.parent
PROJECT = SCENARIO.parent.parent
VARS = yaml.safe_load((SCENARIO / "group_vars/orthanc/main.yml").read_text())


def run_site():
    """site.yml without the smoke, as molecule's inventory has it; the output, after rc 0."""
    ephemeral = pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
    env = dict(os.environ, ANSIBLE_CONFIG=str(ephemeral / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    run = subprocess.run(
        [str(PROJECT / ".venv/bin/ansible-playbook"), "-i", str(ephemeral / "inventory"),
         str(PROJECT / "site.yml"), "--skip-tags", "smoke"],
        cwd=PROJECT, env=env, capture_output=True, text=True, timeout=600, check=False)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    return output


def changed(output):
    return int(re.search(r"^pp-container-host\s*:.*changed=(\d+)", output.split("PLAY RECAP")[-1], re.M).group(1))


def test_a_stopped_container_is_not_an_unchanged_host():
    run_site()  # the tests before changed inputs (--tags, -e): this complete run records
    output = run_site()
    assert changed(output) == 0 and "TASK [orthanc :" not in output, output[-4000:]
    container = docker.from_env().containers.get(VARS["orthanc_container_name"])
    container.stop()
    output = run_site()
    assert "TASK [orthanc :" in output and changed(output) > 0, output[-4000:]
    container.reload()
    assert container.status == "running"
    output = run_site()
    assert changed(output) == 0 and "TASK [orthanc :" not in output, output[-4000:]
