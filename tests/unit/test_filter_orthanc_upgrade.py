"""filter_plugins/orthanc_upgrade.py (through FilterModule): where the upgrade guard finds the
index, for both methods and a named Docker volume; and, on this machine's Docker engine, a real
volume that a real Orthanc 1.10.1 (local/orthanc:1.10.1) wrote into, found through
community.docker.docker_volume_info as the role runs it and counted by orthanc_upgrade_index."""

import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest
from ansible.errors import AnsibleFilterError
from module_run import run_module_file
from pydicom.data import get_testdata_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
_SPEC = importlib.util.spec_from_file_location("orthanc_upgrade_filters", ROOT / "filter_plugins" / "orthanc_upgrade.py")
_MOD = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_MOD)
storage = _MOD.FilterModule().filters()["orthanc_upgrade_storage"]
MODULE = ROOT / "roles" / "orthanc" / "library" / "orthanc_upgrade_index.py"
UTILS = {"orthanc_upgrade_marker": str(ROOT / "roles" / "orthanc" / "module_utils" / "orthanc_upgrade_marker.py")}
MOUNT = "/var/lib/docker/volumes/orthanc-storage/_data"
# As Docker's API (GET /volumes/{name}) answers for a volume of the local driver.
LOCAL_VOLUME = {"Name": "orthanc-storage", "Driver": "local", "Mountpoint": MOUNT, "Options": None,
                "Scope": "local", "Labels": None, "CreatedAt": "2026-12-01T07:00:00Z"}


def settings(**overrides):
    data = {"method": "package", "storage_dir": "/var/lib/orthanc/db-v6", "index_dir": "/var/lib/orthanc/db-v6",
            "container_storage": "orthanc-storage", "backup_dir": ""}
    data.update(overrides)
    return data


def test_package_method_reads_its_folders_and_backs_up_beside_them():
    assert storage(settings(index_dir="/srv/index/")) == {
        "storage": "/var/lib/orthanc/db-v6", "index_dir": "/srv/index/", "backup_root": "/var/lib/orthanc",
        "volume": "", "problem": ""}
    assert storage(settings(storage_dir="/srv/pacs/", index_dir=""))["backup_root"] == "/srv"
    assert storage(settings(backup_dir="/backups"), LOCAL_VOLUME)["backup_root"] == "/backups"


def test_container_path_is_both_folders():
    assert storage(settings(method="container", container_storage="/srv/orthanc")) == {
        "storage": "/srv/orthanc", "index_dir": "/srv/orthanc", "backup_root": "/srv", "volume": "", "problem": ""}


def test_named_volume_is_read_in_its_folder_and_backed_up_outside_docker():
    assert storage(settings(method="container"), LOCAL_VOLUME) == {
        "storage": MOUNT, "index_dir": MOUNT, "backup_root": "/var/backups/orthanc",
        "volume": "orthanc-storage", "problem": ""}
    assert storage(settings(method="container", backup_dir="/srv/backups"), LOCAL_VOLUME)["backup_root"] == "/srv/backups"


def test_a_volume_that_does_not_exist_holds_nothing_to_upgrade():
    assert storage(settings(method="container"), None) == {
        "storage": "", "index_dir": "", "backup_root": "/var/backups/orthanc", "volume": "orthanc-storage",
        "problem": ""}


@pytest.mark.parametrize("volume, words", [
    (dict(LOCAL_VOLUME, Driver="rexray/ebs"), "driver 'rexray/ebs'"),
    (dict(LOCAL_VOLUME, Options={"type": "nfs", "o": "addr=192.0.2.7", "device": ":/pacs"}),
     "options ['device', 'o', 'type']"),
    (dict(LOCAL_VOLUME, Mountpoint=""), "reports no folder"),
])
def test_a_volume_whose_files_the_role_cannot_read_is_named(volume, words):
    answer = storage(settings(method="container"), volume)
    assert answer["storage"] == "" and answer["volume"] == "orthanc-storage"
    assert "'orthanc-storage'" in answer["problem"] and words in answer["problem"]


@pytest.mark.parametrize("value, volume, words", [
    ("not a dict", None, "expects a dict"),
    ({"method": "package"}, None, "expects a dict with method"),
    (settings(method="podman"), None, "got 'podman'"),
    (settings(method="container", container_storage=""), None, "a path or a volume name"),
    (settings(method="container"), ["not", "inspected"], "got list"),
])
def test_bad_input_is_refused(value, volume, words):
    with pytest.raises(AnsibleFilterError, match=words):
        storage(value, volume)


def docker(*args):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout.strip()


def volume_info(name, scratch):
    """community.docker.docker_volume_info's answer for name, run by Ansible as the role runs it
    (without the project's callbacks: an empty configuration)."""
    (scratch / "ansible.cfg").write_text("[defaults]\n", encoding="utf-8")
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ansible"), "localhost", "-i", "localhost,", "-c", "local",
         "-e", "ansible_python_interpreter=%s" % sys.executable,
         "-m", "community.docker.docker_volume_info", "-a", "name=%s" % name],
        capture_output=True, text=True, timeout=120, check=False, cwd=scratch,
        env=dict(os.environ, ANSIBLE_CONFIG=str(scratch / "ansible.cfg"), ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
                 ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]


@pytest.fixture()
def orthanc_volume(tmp_path):
    """A named volume holding what a real Orthanc 1.10.1 stored in it (CT_small.dcm), Orthanc gone."""
    if shutil.which("docker") is None:
        pytest.skip("docker is not available")
    name = "pp-unit-upgrade-%s" % uuid.uuid4().hex[:6]
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "orthanc.json").write_text(json.dumps(
        {"StorageDirectory": "/var/lib/orthanc/db", "RemoteAccessAllowed": True, "AuthenticationEnabled": False}),
        encoding="utf-8")
    docker("volume", "create", name)
    try:
        docker("run", "-d", "--name", name, "-v", "%s:/var/lib/orthanc/db" % name,
               "-v", "%s:/etc/orthanc:ro" % (tmp_path / "etc"), "local/orthanc:1.10.1")
        url = "http://%s:8042" % docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name)
        for _ in range(60):
            try:
                urllib.request.urlopen(url + "/system", timeout=5).close()
                break
            except OSError:
                time.sleep(0.5)
        with open(get_testdata_file("CT_small.dcm"), "rb") as handle, \
                urllib.request.urlopen(urllib.request.Request(url + "/instances", handle.read()), timeout=10):
            pass
        docker("stop", name)
        docker("rm", name)
        yield name
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
        subprocess.run(["docker", "volume", "rm", "-f", name], capture_output=True, check=False)


def test_a_real_named_volume_is_found_and_its_index_counted(orthanc_volume, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("Docker's volume folders are root's")
    info = volume_info(orthanc_volume, tmp_path)
    assert info["exists"] is True
    paths = storage(settings(method="container", container_storage=orthanc_volume), info["volume"])
    assert paths["problem"] == "" and paths["storage"] == info["volume"]["Mountpoint"]
    before = sorted(os.listdir(paths["storage"]))
    answer = run_module_file(MODULE, {"storage": paths["storage"], "index_dir": paths["index_dir"],
                                      "method": "container", "image": "orthancteam/orthanc:26.8.1"}, tmp_path,
                             module_utils=UTILS)
    assert answer["counts"] == {"CountPatients": 1, "CountStudies": 1, "CountSeries": 1, "CountInstances": 1}
    assert answer["schema"] == 6 and answer["upgrade_needed"] is True
    # Read as it was left: no index-wal or index-shm of the reader's.
    assert sorted(os.listdir(paths["storage"])) == before


def test_a_volume_that_does_not_exist_is_reported_absent(tmp_path):
    if shutil.which("docker") is None:
        pytest.skip("docker is not available")
    info = volume_info("pp-unit-upgrade-absent-%s" % uuid.uuid4().hex[:6], tmp_path)
    assert info["exists"] is False
    assert storage(settings(method="container", container_storage="x"), info["volume"])["storage"] == ""
