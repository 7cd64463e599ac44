"""The container install method, verified against this machine's Docker engine."""

import json
import os
import pathlib
import subprocess

import docker
import pytest
import requests
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret
from pydicom import dcmread
from pydicom.data import get_testdata_file

SCENARIO = pathlib.Path(__file__).resolve().parent.parent
PROJECT = SCENARIO.parent.parent
VARS = yaml.safe_load((SCENARIO / "group_vars/orthanc/main.yml").read_text())
SECRET = (PROJECT / "molecule/.vault-password-test-only").read_bytes().strip()
VAULT = yaml.safe_load(VaultLib([("default", VaultSecret(SECRET))]).decrypt(
    (SCENARIO / "group_vars/orthanc/vault.yml").read_bytes()))
AUTH = ("admin", VAULT["vault_orthanc_admin_password"])
BASE = f"http://127.0.0.1:{VARS['orthanc_http_port']}"


@pytest.fixture(scope="module")
def container():
    return docker.from_env().containers.get(VARS["orthanc_container_name"])


def test_container_runs_the_configured_image(container):
    assert container.status == "running"
    assert VARS["orthanc_container_image"] in container.image.tags
    assert container.attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"


def test_config_mounted_read_only_and_storage_on_named_volume(container):
    mounts = {m["Destination"]: m for m in container.attrs["Mounts"]}
    config = mounts["/etc/orthanc"]
    assert config["Source"] == VARS["orthanc_config_dir"] and config["RW"] is False
    storage = mounts["/var/lib/orthanc/db"]
    assert storage["Type"] == "volume" and storage["Name"] == VARS["orthanc_container_storage"]


def test_ports_published_on_loopback_only(container):
    ports = container.attrs["HostConfig"]["PortBindings"]
    for port in (VARS["orthanc_dicom_port"], VARS["orthanc_http_port"]):
        assert ports[f"{port}/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(port)}]


def test_rendered_config_uses_paths_inside_the_container():
    path = pathlib.Path(VARS["orthanc_config_dir"]) / "orthanc.json"
    assert oct(path.stat().st_mode & 0o777) == "0o640"
    config = json.loads("".join(l for l in path.read_text().splitlines(True) if not l.lstrip().startswith("//")))
    assert config["StorageDirectory"] == "/var/lib/orthanc/db"
    assert config["Plugins"] == ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"]
    assert config["DicomAet"] == VARS["orthanc_dicom_aet"]
    assert config["RegisteredUsers"] == {"admin": AUTH[1]}


def test_rest_and_dicomweb_answer_with_auth_only():
    answer = requests.get(f"{BASE}/system", auth=AUTH, timeout=5)
    assert answer.status_code == 200 and answer.json()["DicomAet"] == VARS["orthanc_dicom_aet"]
    assert requests.get(f"{BASE}/system", timeout=5).status_code == 401
    assert requests.get(f"{BASE}/dicom-web/studies", auth=AUTH, timeout=5).status_code == 200


def test_stored_studies_survive_recreating_the_container(container):
    """Remove the container, converge again: the study stored before is still there."""
    data = pathlib.Path(get_testdata_file("CT_small.dcm")).read_bytes()
    stored = requests.post(f"{BASE}/instances", data=data, auth=AUTH, timeout=10)
    assert stored.status_code == 200
    study = stored.json()["ParentStudy"]
    try:
        container.remove(force=True)
        env = dict(os.environ, ANSIBLE_CONFIG=str(pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "ansible.cfg"))
        run = subprocess.run(
            [str(PROJECT / ".venv/bin/ansible-playbook"), "-i",
             str(pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory"),
             str(PROJECT / "site.yml"), "--tags", "orthanc"],
            cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert run.returncode == 0, run.stdout + run.stderr
        assert requests.get(f"{BASE}/studies/{study}", auth=AUTH, timeout=5).status_code == 200
        uid = dcmread(get_testdata_file("CT_small.dcm")).SOPInstanceUID
        found = requests.post(f"{BASE}/tools/lookup", data=uid, auth=AUTH, timeout=5).json()
        assert found and found[0]["Type"] == "Instance"
    finally:
        requests.delete(f"{BASE}/studies/{study}", auth=AUTH, timeout=5)
