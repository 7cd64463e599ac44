"""A remote DICOMweb server that requires a client certificate (nginx on the client host,
made by prepare.yml, in front of this PACS's own DICOMweb), reached by Orthanc with the
client certificate the inventory gives as PEM content (orthanc_dicomweb_servers[remote]),
which the orthanc role wrote on the PACS and named in orthanc.json; refused without one."""

import base64
import json
import os
import pathlib
import subprocess

import pytest
import requests
import testinfra
from conftest import ADDRESS, PKI, PROJECT, SCENARIO, _load
from dicomweb_client.api import DICOMwebClient
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

testinfra_hosts = ["pp-https-pacs"]
REMOTE = "https://172.28.90.20:8443"
FOLDER = "/etc/orthanc/tls/client"
CERTIFICATE, KEY = f"{FOLDER}/dicomweb-remote.crt", f"{FOLDER}/dicomweb-remote.key"


def _orthanc_json(host):
    text = host.file("/etc/orthanc/orthanc.json").content_string
    return json.loads("".join(line for line in text.splitlines(True) if not line.lstrip().startswith("//")))


def _text(element):
    """The first value of a DICOM JSON element, in the standard form or Orthanc's own."""
    value = element.get("Value")
    value = value[0] if isinstance(value, list) and value else value
    return value.get("Alphabetic") if isinstance(value, dict) else value


@pytest.fixture
def client_host():
    """The client host, where the remote DICOMweb server's nginx logs each client certificate."""
    return testinfra.get_host("docker://pp-https-client")


@pytest.fixture
def study(session):
    """A study stored in the PACS through its front door, deleted afterwards."""
    dataset = dcmread(get_testdata_file("CT_small.dcm"))
    dataset.PatientName = "PP^CLIENTCERT"
    dataset.PatientID = "PP-CLIENTCERT-1"
    dataset.StudyInstanceUID = generate_uid()
    dataset.SeriesInstanceUID = generate_uid()
    dataset.SOPInstanceUID = generate_uid()
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    DICOMwebClient(url=f"https://{ADDRESS}/dicom-web", session=session).store_instances([dataset])
    yield dataset
    for item in session.post(f"https://{ADDRESS}/tools/lookup", data=dataset.StudyInstanceUID, timeout=30).json():
        session.delete(f"https://{ADDRESS}/studies/{item['ID']}", timeout=30).raise_for_status()


def test_the_client_certificate_and_key_are_placed_for_orthanc_only(host):
    folder = host.file(FOLDER)
    assert folder.is_directory and folder.mode == 0o750 and (folder.user, folder.group) == ("root", "orthanc")
    for path, source in ((CERTIFICATE, "orthanc-client.crt"), (KEY, "orthanc-client.key")):
        placed = host.file(path)
        assert placed.mode == 0o640 and (placed.user, placed.group) == ("root", "orthanc"), path
        assert placed.content_string == (PKI / source).read_text(), path
    assert "-----BEGIN ENCRYPTED PRIVATE KEY-----" in host.file(KEY).content_string
    # Orthanc's user reads them; other users do not.
    assert host.run(f"runuser -u orthanc -- head -c 10 {KEY}").rc == 0
    assert host.run(f"runuser -u nobody -- head -c 10 {KEY}").rc != 0


def test_orthanc_json_names_the_placed_files(host, admin):
    servers = _orthanc_json(host)["DicomWeb"]["Servers"]
    assert servers["remote"]["CertificateFile"] == CERTIFICATE
    assert servers["remote"]["CertificateKeyFile"] == KEY
    assert servers["remote"]["CertificateKeyPassword"]  # from the vault; Orthanc needs one
    assert "CertificateFile" not in servers["remote-without-certificate"]
    # Neither the redacted copy nor the configuration holds the key itself.
    for path in ("/etc/orthanc/orthanc.json", "/etc/orthanc/orthanc.json.redacted"):
        assert "PRIVATE KEY" not in host.file(path).content_string


def test_orthanc_reaches_the_remote_with_its_client_certificate(session, study, client_host):
    """QIDO-RS and a metadata GET through Orthanc's DICOMweb client: 200 with the study, and
    the remote's nginx saw Orthanc's certificate, verified by the test CA."""
    uid = study.StudyInstanceUID
    qido = session.post(f"https://{ADDRESS}/dicom-web/servers/remote/qido",
                        json={"Uri": "/studies", "Arguments": {"StudyInstanceUID": uid}}, timeout=60)
    assert qido.status_code == 200, qido.text
    found = qido.json()  # Orthanc's own form of the remote's answer ({Name, Group, Element, vr, Value})
    assert len(found) == 1 and _text(found[0]["0020000D"]) == uid
    assert _text(found[0]["00100010"]) == "PP^CLIENTCERT"
    metadata = session.post(f"https://{ADDRESS}/dicom-web/servers/remote/get",
                            json={"Uri": f"/studies/{uid}/metadata"}, timeout=60)
    assert metadata.status_code == 200, metadata.text
    assert _text(metadata.json()[0]["00080018"]) == study.SOPInstanceUID  # the remote's DICOM JSON
    log = client_host.file("/var/log/nginx/pp-dicomweb-remote.log").content_string
    lines = [line for line in log.splitlines() if uid in line]
    assert lines and all(line.startswith(f"{ADDRESS} ") for line in lines), log[-2000:]
    assert all('verify=SUCCESS dn="CN=molecule-orthanc-client,' in line for line in lines), lines


def test_the_same_remote_without_a_client_certificate_is_refused(session, study, client_host):
    """The control: the entry without a certificate reaches the same nginx and is refused."""
    uid = study.StudyInstanceUID
    qido = session.post(f"https://{ADDRESS}/dicom-web/servers/remote-without-certificate/qido",
                        json={"Uri": "/studies", "Arguments": {"StudyInstanceUID": uid}}, timeout=60)
    assert qido.status_code != 200, qido.text
    log = client_host.file("/var/log/nginx/pp-dicomweb-remote.log").content_string
    lines = [line for line in log.splitlines() if uid in line]
    assert lines and all(" 400 verify=NONE " in line for line in lines), lines


def test_a_direct_request_without_a_client_certificate_is_refused_by_nginx(ca_file, admin):
    with requests.Session() as s:
        s.trust_env = False
        refused = s.get(f"{REMOTE}/dicom-web/studies", verify=ca_file, auth=admin, timeout=10)
        assert refused.status_code == 400
        assert "No required SSL certificate was sent" in refused.text
        # The control: a certificate of the test CA (the scenario's other client certificate) passes.
        allowed = s.get(f"{REMOTE}/dicom-web/studies", verify=ca_file, auth=admin, timeout=30,
                        cert=(str(PKI / "client.crt"), str(PKI / "client.key")), params={"limit": "1"})
        assert allowed.status_code in (200, 204), allowed.text


def _playbook(*args):
    """ansible-playbook against the scenario's inventory; its return code and all it printed."""
    env = dict(os.environ)
    env.setdefault("ANSIBLE_CONFIG", str(pathlib.Path(env["MOLECULE_EPHEMERAL_DIRECTORY"]) / "ansible.cfg"))
    inventory = pathlib.Path(env["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory"
    run = subprocess.run([str(PROJECT / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory), *args],
                         cwd=SCENARIO, env=env, capture_output=True, text=True, timeout=600, check=False)
    return run.returncode, run.stdout + run.stderr


def _key_lines():
    """The base64 lines of the key: none may appear in any output."""
    return [line for line in (PKI / "orthanc-client.key").read_text().splitlines() if "-----" not in line]


@pytest.mark.parametrize("playbook", ["preflight.yml", "orthanc.yml"])
def test_a_key_that_does_not_match_is_refused_before_any_change(host, tmp_path, playbook):
    """By the preflight play that site.yml starts with, and by the orthanc role run alone
    (before it writes a file)."""
    before = host.file(KEY).content_string
    server = {"name": "research", "url": f"{REMOTE}/dicom-web/",
              "certificate": (PKI / "orthanc-client.crt").read_text(),
              "certificate_key": (PKI / "client.key").read_text(),  # another key of the test CA
              "certificate_key_password": "unused"}
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"orthanc_dicomweb_servers": [server]}))
    code, output = _playbook(str(PROJECT / "playbooks" / playbook), "--limit", "pp-https-pacs", "-e", f"@{extra}")
    assert code != 0
    assert "orthanc_dicomweb_servers[research].certificate_key: does not match certificate" in output, output[-3000:]
    assert not host.file(f"{FOLDER}/dicomweb-research.crt").exists
    assert host.file(KEY).content_string == before


def test_check_diff_and_the_run_that_restores_a_key_never_show_it(host):
    """The key on the host is changed behind Ansible's back: --check --diff reports the change
    without showing the key, leaves the file alone, and the run that restores it shows it neither."""
    original = (PKI / "orthanc-client.key").read_text()
    host.run_expect([0], f"sh -c 'echo tampered > {KEY}'")
    try:
        code, output = _playbook(str(PROJECT / "playbooks" / "orthanc.yml"), "--limit", "pp-https-pacs",
                                 "--tags", "orthanc_configure", "--check", "--diff")
        assert code == 0, output[-3000:]
        assert "changed: [pp-https-pacs]" in _task(output, "Install the client keys"), output[-3000:]
        assert host.file(KEY).content_string == "tampered\n"
        code, run = _playbook(str(PROJECT / "playbooks" / "orthanc.yml"), "--limit", "pp-https-pacs",
                              "--tags", "orthanc_configure", "--diff")
        assert code == 0, run[-3000:]
        assert "changed: [pp-https-pacs]" in _task(run, "Install the client keys"), run[-3000:]
    finally:
        if host.file(KEY).content_string == "tampered\n":
            encoded = base64.b64encode(original.encode()).decode()
            host.run_expect([0], f"sh -c 'printf %s {encoded} | base64 -d > {KEY}'")
    for text in (output, run):
        assert not any(line in text for line in _key_lines())
        assert _load(SCENARIO / "group_vars" / "orthanc" / "vault.yml")["vault_orthanc_client_key_password"] not in text
    placed = host.file(KEY)
    assert placed.content_string == original and placed.mode == 0o640 and placed.group == "orthanc"


def _task(output, name):
    """What a run printed for one task of the orthanc role."""
    start = output.index(f"TASK [orthanc : {name}]")
    end = output.find("TASK [", start + 1)
    return output[start:end if end > 0 else None]
