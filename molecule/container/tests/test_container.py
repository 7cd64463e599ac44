"""The container install method on the stand-in for orthancteam/orthanc, verified against
this machine's Docker engine.

The stand-in (images/orthancteam) starts like the real image: a generator runs envsubst
over the mounted /etc/orthanc/*.json, merges the environment, enables and links plugins,
writes /tmp/orthanc.json, and Orthanc (1.12.7, Debian 13) substitutes ${...} in it again.
"""

import json
import os
import pathlib
import subprocess
import time
import uuid

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
PASSWORD = VAULT["vault_orthanc_admin_password"]
# Orthanc compares Basic credentials as UTF-8 bytes (requests would send str as Latin-1).
AUTH = (b"admin", PASSWORD.encode("utf-8"))
BASE = f"http://127.0.0.1:{VARS['orthanc_http_port']}"
CONFIG = pathlib.Path(VARS["orthanc_config_dir"]) / "orthanc.json"


@pytest.fixture(scope="module")
def container():
    return docker.from_env().containers.get(VARS["orthanc_container_name"])


def run_role(*extra):
    """The orthanc play of site.yml, as molecule runs it, with extra arguments."""
    ephemeral = pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
    env = dict(os.environ, ANSIBLE_CONFIG=str(ephemeral / "ansible.cfg"))
    return subprocess.run(
        [str(PROJECT / ".venv/bin/ansible-playbook"), "-i", str(ephemeral / "inventory"),
         str(PROJECT / "site.yml"), "--tags", "orthanc", *extra],
        cwd=PROJECT, env=env, capture_output=True, text=True, timeout=600, check=False)


def wait_healthy(container, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        container.reload()
        if container.attrs["State"].get("Health", {}).get("Status") == "healthy":
            return True
        time.sleep(1)
    return False


def test_the_password_holds_what_the_image_would_eat():
    for part in ("$HOME", "${HOME}", "'", '"', "\\", "\\$", "é", "密", "$1", "${PP_NOPE:-d}"):
        assert part in PASSWORD


def test_container_runs_the_stand_in_as_the_orthanc_user(container):
    assert container.status == "running"
    assert VARS["orthanc_container_image"] in container.image.tags
    assert container.attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert container.attrs["Config"]["User"] == "999:999"
    assert container.attrs["Config"]["Entrypoint"] == ["/docker-entrypoint.sh"]
    assert container.attrs["Config"]["Cmd"] == ["/tmp/orthanc.json"]


def test_storage_on_the_named_volume_is_owned_by_the_orthanc_user(container):
    mounts = {m["Destination"]: m for m in container.attrs["Mounts"]}
    config = mounts["/etc/orthanc"]
    assert config["Source"] == VARS["orthanc_config_dir"] and config["RW"] is False
    storage = mounts["/var/lib/orthanc/db"]
    assert storage["Type"] == "volume" and storage["Name"] == VARS["orthanc_container_storage"]
    owner = container.exec_run(["stat", "-c", "%u:%g", "/var/lib/orthanc/db"]).output.decode().strip()
    assert owner == "999:999"
    # Orthanc (uid 999) writes its index there.
    assert container.exec_run(["test", "-s", "/var/lib/orthanc/db/index"]).exit_code == 0


def test_ports_published_on_loopback_only(container):
    ports = container.attrs["HostConfig"]["PortBindings"]
    for port in (VARS["orthanc_dicom_port"], VARS["orthanc_http_port"]):
        assert ports[f"{port}/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(port)}]


def test_the_mounted_file_holds_no_dollar_the_generator_could_eat():
    text = CONFIG.read_text(encoding="utf-8")
    assert "$" not in text
    assert oct(CONFIG.stat().st_mode & 0o777) == "0o640" and CONFIG.stat().st_gid == 999
    config = json.loads("".join(l for l in text.splitlines(True) if not l.lstrip().startswith("//")))
    assert config["StorageDirectory"] == "/var/lib/orthanc/db"
    # the image's plugin folders, never single files (which would switch its default plugins off)
    assert config["Plugins"] == ["/run/orthanc/plugins", "/usr/share/orthanc/plugins"]
    encoded = config["RegisteredUsers"]["admin"]
    assert encoded.replace("${PACS_PROVISIONER_DOLLAR}", "$") == PASSWORD


def test_the_generator_wrote_tmp_orthanc_json_with_the_image_defaults(container):
    result = container.exec_run(["cat", "/tmp/orthanc.json"])
    assert result.exit_code == 0
    generated = json.loads(result.output)
    assert generated["DicomAet"] == VARS["orthanc_dicom_aet"]
    assert generated["OrthancExplorer2"] == {"Enable": True, "IsDefaultOrthancUI": True}
    assert generated["Gdcm"]["Throttling"] == 4
    assert generated["DicomWeb"]["Enable"] is True
    links = container.exec_run(["ls", "/usr/share/orthanc/plugins"]).output.decode().split()
    # Python: the scenario's orthanc_python_scripts render PythonScript (test_python_container.py).
    assert sorted(links) == ["libOrthancDicomWeb.so", "libOrthancExplorer2.so", "libOrthancGdcm.so",
                             "libOrthancPython.so"]


def test_login_with_the_password_works_and_nothing_near_it_does():
    answer = requests.get(f"{BASE}/system", auth=AUTH, timeout=5)
    assert answer.status_code == 200 and answer.json()["DicomAet"] == VARS["orthanc_dicom_aet"]
    assert requests.get(f"{BASE}/system", timeout=5).status_code == 401
    # what envsubst or Orthanc's substitution would have made of it
    for eaten in (PASSWORD.replace("${HOME}", "/var/lib/orthanc"), PASSWORD.replace("${HOME}", ""),
                  PASSWORD.replace("$HOME", ""), PASSWORD.replace("${PP_NOPE:-d}", "d")):
        assert requests.get(f"{BASE}/system", auth=(b"admin", eaten.encode()), timeout=5).status_code == 401


def test_the_image_default_plugins_and_dicomweb_are_on():
    plugins = requests.get(f"{BASE}/plugins", auth=AUTH, timeout=5).json()
    assert {"dicom-web", "gdcm", "orthanc-explorer-2"} <= set(plugins)
    assert requests.get(f"{BASE}/ui/app/index.html", auth=AUTH, timeout=5).status_code == 200


def test_dicomweb_stow_and_qido():
    data = pathlib.Path(get_testdata_file("CT_small.dcm")).read_bytes()
    study_uid = dcmread(get_testdata_file("CT_small.dcm")).StudyInstanceUID
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data
            + f"\r\n--{boundary}--\r\n".encode())
    stored = requests.post(
        f"{BASE}/dicom-web/studies", data=body, auth=AUTH, timeout=30,
        headers={"Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
                 "Accept": "application/dicom+json"})
    try:
        assert stored.status_code == 200, stored.text
        assert "00081199" in stored.json()  # ReferencedSOPSequence: stored
        found = requests.get(f"{BASE}/dicom-web/studies", params={"StudyInstanceUID": study_uid},
                             auth=AUTH, timeout=10, headers={"Accept": "application/dicom+json"})
        assert found.status_code == 200
        assert [s["0020000D"]["Value"][0] for s in found.json()] == [study_uid]
    finally:
        for study in requests.post(f"{BASE}/tools/lookup", data=study_uid, auth=AUTH, timeout=5).json():
            requests.delete(f"{BASE}/studies/{study['ID']}", auth=AUTH, timeout=5)


def test_docker_reports_the_container_healthy_through_the_image_probe(container):
    health = container.attrs["State"]["Health"]
    assert health["Status"] == "healthy"
    assert container.attrs["Config"]["Healthcheck"]["Test"] == [
        "CMD", "python3", "/probes/test-aliveness.py", "--user", "monitor"]
    assert health["Log"] and health["Log"][-1]["ExitCode"] == 0


def test_the_stand_in_also_runs_as_root(container):
    """The same rendered folder, the image's default user (root), a port of its own."""
    client = docker.from_env()
    probe = client.containers.run(
        VARS["orthanc_container_image"], detach=True, name="pp-container-root-check",
        environment={"PACS_PROVISIONER_DOLLAR": "$"}, ports={f"{VARS['orthanc_http_port']}/tcp": ("127.0.0.1", None)},
        mounts=[docker.types.Mount("/etc/orthanc", VARS["orthanc_config_dir"], type="bind", read_only=True)])
    try:
        deadline = time.time() + 60
        answer = None
        while time.time() < deadline:
            probe.reload()
            port = (probe.attrs["NetworkSettings"]["Ports"].get(f"{VARS['orthanc_http_port']}/tcp") or [{}])[0].get("HostPort")
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/system", auth=AUTH, timeout=2) if port else None
                if answer is not None and answer.status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(1)
        assert answer is not None and answer.status_code == 200, probe.logs().decode()[-2000:]
        assert probe.exec_run(["id", "-u"]).output.decode().strip() == "0"
    finally:
        probe.remove(force=True)


def test_a_configuration_the_generator_refuses_is_rolled_back(container):
    """AzureBlobStorage is a plugin of the real image's -full variant: its section enables it,
    and the default image has no library for it, so the generator exits -1. The role must
    name that error and restore the last good configuration."""
    before = CONFIG.read_bytes()
    run = run_role("-e", json.dumps({"orthanc_extra_config": {"AzureBlobStorage": {"ContainerName": "pacs"}},
                                     "orthanc_health_timeout": 20}))
    output = run.stdout + run.stderr
    assert run.returncode != 0, output
    assert "failed to install libOrthancAzureBlobStorage.so" in output
    assert "the last good configuration was restored" in output
    assert CONFIG.read_bytes() == before
    assert wait_healthy(container)
    assert requests.get(f"{BASE}/system", auth=AUTH, timeout=5).status_code == 200


def test_stored_studies_survive_recreating_the_container(container):
    """Remove the container, converge again: the study stored before is still there."""
    data = pathlib.Path(get_testdata_file("CT_small.dcm")).read_bytes()
    stored = requests.post(f"{BASE}/instances", data=data, auth=AUTH, timeout=10)
    assert stored.status_code == 200
    study = stored.json()["ParentStudy"]
    try:
        container.remove(force=True)
        run = run_role()
        assert run.returncode == 0, run.stdout + run.stderr
        assert requests.get(f"{BASE}/studies/{study}", auth=AUTH, timeout=5).status_code == 200
        uid = dcmread(get_testdata_file("CT_small.dcm")).SOPInstanceUID
        found = requests.post(f"{BASE}/tools/lookup", data=uid, auth=AUTH, timeout=5).json()
        assert found and found[0]["Type"] == "Instance"
    finally:
        requests.delete(f"{BASE}/studies/{study}", auth=AUTH, timeout=5)
