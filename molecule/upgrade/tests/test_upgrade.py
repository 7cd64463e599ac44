"""Upgrades keep every study (issue 14), on the storage converge filled from Debian 12.

The tests run in file order, each on what the one before left:
  1. converge stored 2 patients, 3 studies, 5 series, 10 instances into Orthanc 1.10.1;
  2. playbooks/orthanc.yml refuses to put Debian 13's Orthanc on that storage;
  3. playbooks/upgrade.yml moves it to Debian 13's Orthanc 1.12.7: same IDs, same files;
  4. a switch to the container method whose start fails (its port is taken) rolls back:
     the index backup and marker are restored, the storage given back, and the Debian 13
     Orthanc started again serves everything;
  5. the switch to the container method (controller's Docker engine, uid 999) for real.
"""

import hashlib
import json
import os
import pathlib
import subprocess
import sys

import pytest

SCENARIO = pathlib.Path(__file__).resolve().parent.parent
PROJECT = SCENARIO.parent.parent
EPHEMERAL = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
STORAGE = pathlib.Path("/tmp/pp-upgrade/storage")
MARKER = STORAGE / ".pacs-provisioner-orthanc.json"
USER, PASSWORD = "admin", "pp-upgrade-test-only"
TRIXIE, CONTROLLER = "pp-upgrade-trixie", "pp-upgrade-controller"
TRIXIE_URL, CONTAINER_URL = "http://172.28.100.11:8042", "http://127.0.0.1:18043"
IMAGE = "local/orthancteam-orthanc:26.8.1"

sys.path.insert(0, str(SCENARIO))
import dicom_studies  # noqa: E402  (the scenario's own tool, beside this folder)


def playbook(name, limit):
    """ansible-playbook on the scenario's hosts and the controller; (rc, output with whitespace folded)."""
    proc = subprocess.run(
        [str(PROJECT / ".venv" / "bin" / "ansible-playbook"), "-i", str(EPHEMERAL / "inventory"),
         "-i", str(SCENARIO / "inventory" / "controller.yml"), "--limit", limit, str(PROJECT / "playbooks" / name)],
        cwd=PROJECT, capture_output=True, text=True, timeout=900, check=False,
        env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg")))
    return proc.returncode, " ".join((proc.stdout + proc.stderr).split())


def docker(*args, check=True):
    """docker args; stdout."""
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check).stdout.strip()


def before():
    """What Debian 12's Orthanc held (converge.yml wrote it)."""
    return json.loads((EPHEMERAL / "before.json").read_text())


def wait_for(url):
    """Wait until url's /system answers (Orthanc started outside Ansible)."""
    for _ in range(60):
        try:
            return dicom_studies.get(url + "/system", USER, PASSWORD)
        except OSError:
            subprocess.run(["sleep", "1"], check=True)
    raise AssertionError("%s did not answer" % url)


def owners():
    """The (uid, gid) pairs owning the files under the storage folder."""
    return {(os.stat(os.path.join(d, n)).st_uid, os.stat(os.path.join(d, n)).st_gid)
            for d, _, files in os.walk(STORAGE) for n in files if n != MARKER.name}


@pytest.fixture(scope="module", autouse=True)
def controller_cleanup():
    """The controller's containers go when the tests end (molecule destroys the others)."""
    yield
    for name in ("pp-upgrade-orthanc", "pp-upgrade-squatter"):
        docker("rm", "-f", name, check=False)


def test_debian12_stored_real_studies():
    record = before()
    assert record["counts"] == {"CountPatients": 2, "CountStudies": 3, "CountSeries": 5, "CountInstances": 10}
    assert len(record["instances"]) == 10 and all(v["sha256"] for v in record["instances"].values())
    assert not MARKER.exists()


def test_another_orthanc_is_refused_without_the_upgrade_playbook():
    rc, out = playbook("orthanc.yml", TRIXIE)
    assert rc != 0 and "Run playbooks/upgrade.yml" in out, out[-3000:]
    # Refused before anything was installed: Debian 13 has no Orthanc yet.
    assert docker("exec", TRIXIE, "dpkg-query", "-W", "orthanc", check=False) == ""


def test_debian13_keeps_every_study_and_file():
    rc, out = playbook("upgrade.yml", TRIXIE)
    assert rc == 0, out[-4000:]
    assert "as before the switch" in out
    assert wait_for(TRIXIE_URL)["Version"] == "1.12.7"
    assert dicom_studies.snapshot(TRIXIE_URL, USER, PASSWORD, str(STORAGE)) == before()
    assert json.loads(MARKER.read_text()) == {"method": "package", "version": "1.12.7", "image": ""}
    backups = docker("exec", TRIXIE, "sh", "-c", "ls -d /var/lib/orthanc/orthanc-index-*/index").split()
    assert len(backups) == 1, backups


def test_failed_switch_to_the_container_rolls_back():
    trixie_owner = owners()
    assert len(trixie_owner) == 1
    docker("exec", TRIXIE, "systemctl", "stop", "orthanc")
    # Something else holds the container's HTTP port: the new Orthanc cannot start.
    docker("run", "-d", "--name", "pp-upgrade-squatter", "-p", "127.0.0.1:18043:8042",
           "--entrypoint", "sleep", IMAGE, "infinity")
    try:
        rc, out = playbook("upgrade.yml", CONTROLLER)
    finally:
        docker("rm", "-f", "pp-upgrade-squatter")
    assert rc != 0, out[-4000:]
    assert "the index was restored from /tmp/pp-upgrade/backups/orthanc-index-package-1.12.7-" in out, out[-4000:]
    backup = sorted(pathlib.Path("/tmp/pp-upgrade/backups").glob("orthanc-index-package-1.12.7-*"))[-1]
    assert hashlib.sha256((STORAGE / "index").read_bytes()).digest() == \
        hashlib.sha256((backup / "index").read_bytes()).digest()
    assert json.loads(MARKER.read_text())["method"] == "package"
    assert owners() == trixie_owner
    assert docker("ps", "-q", "-f", "name=^pp-upgrade-orthanc$") == ""
    # The old Orthanc on its host serves everything again.
    docker("exec", TRIXIE, "systemctl", "start", "orthanc")
    assert wait_for(TRIXIE_URL)["Version"] == "1.12.7"
    assert dicom_studies.snapshot(TRIXIE_URL, USER, PASSWORD, str(STORAGE)) == before()


def test_switch_to_the_container_keeps_every_study_and_file():
    docker("exec", TRIXIE, "systemctl", "stop", "orthanc")
    rc, out = playbook("upgrade.yml", CONTROLLER)
    assert rc == 0, out[-4000:]
    assert "as before the switch" in out
    assert docker("inspect", "-f", "{{.Config.User}}", "pp-upgrade-orthanc") == "999:999"
    assert owners() == {(999, 999)}
    system = wait_for(CONTAINER_URL)
    assert dicom_studies.snapshot(CONTAINER_URL, USER, PASSWORD, str(STORAGE)) == before()
    assert json.loads(MARKER.read_text()) == {"method": "container", "version": system["Version"], "image": IMAGE}
