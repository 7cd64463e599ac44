"""Shared helpers of the scaleout scenario: real DICOM and HTTP clients, playbook runs."""

import io
import json
import os
import pathlib
import subprocess
import threading
import time

import pytest
import requests
import testinfra
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE

SCENARIO = pathlib.Path(__file__).resolve().parent.parent
PROJECT = SCENARIO.parent.parent
VAULT_PASSWORD = (PROJECT / "molecule" / ".vault-password-test-only").read_bytes().strip()

NODES = {"pp-scale-a": "172.28.40.10", "pp-scale-b": "172.28.40.11"}
AETS = {"pp-scale-a": "SCALE_A", "pp-scale-b": "SCALE_B"}
SENDER_AET = "SCALE_SND"
DICOM_PORT = 4242
HTTP_PORT = 8042


def _vault():
    raw = (SCENARIO / "group_vars" / "all" / "vault.yml").read_bytes()
    return yaml.safe_load(VaultLib([("default", VaultSecret(VAULT_PASSWORD))]).decrypt(raw))


AUTH = ("admin", _vault()["vault_orthanc_admin_password"])


def url(node, path):
    return f"http://{NODES[node]}:{HTTP_PORT}{path}"


def get(node, path, **kwargs):
    kwargs.setdefault("timeout", 10)
    return requests.get(url(node, path), auth=AUTH, **kwargs)


def make_instance(study_uid=None, patient="SCALE^TEST"):
    """A small, valid CT instance (8x8 pixels) in a new series of study_uid (or a new study)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = patient
    ds.PatientID = "SCALE-" + ds.StudyInstanceUID[-8:]
    ds.Modality = "CT"
    ds.StudyDate = "20240101"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = bytes(range(128))
    return ds


def to_bytes(ds):
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def stow(node, ds):
    """STOW-RS one instance; returns the HTTP response."""
    boundary = "pp-scale-boundary"
    body = (f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + to_bytes(ds)
            + f"\r\n--{boundary}--\r\n".encode())
    return requests.post(url(node, "/dicom-web/studies"), data=body, auth=AUTH, timeout=20,
                         headers={"Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
                                  "Accept": "application/dicom+json"})


def c_store(node, ds, timeout=10):
    """C-STORE one instance as SCALE_SND; returns the status (int) or the failure (str)."""
    ae = AE(ae_title=SENDER_AET)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    assoc = ae.associate(NODES[node], DICOM_PORT, ae_title=AETS[node])
    if not assoc.is_established:
        return f"association to {node} not established"
    try:
        status = assoc.send_c_store(ds)
        return status.Status if "Status" in status else f"no status from {node}"
    finally:
        assoc.release()


def study_uids(node):
    """StudyInstanceUIDs of every study the node's index knows."""
    answer = get(node, "/studies", params={"expand": ""})
    answer.raise_for_status()
    return {study["MainDicomTags"]["StudyInstanceUID"] for study in answer.json()}


def qido_finds(node, study_uid):
    answer = get(node, "/dicom-web/studies", params={"StudyInstanceUID": study_uid},
                 headers={"Accept": "application/dicom+json"})
    answer.raise_for_status()
    return [s["0020000D"]["Value"][0] for s in answer.json()] == [study_uid]


def node_host(node):
    return testinfra.get_host(f"docker://{node}")


def orthanc_pid(node):
    pid = node_host(node).check_output("systemctl show -p MainPID --value orthanc")
    assert pid not in ("", "0"), f"orthanc does not run on {node}"
    return int(pid)


def orthanc_config(node):
    text = node_host(node).file("/etc/orthanc/orthanc.json").content_string
    return json.loads("".join(line for line in text.splitlines(True) if not line.lstrip().startswith("//")))


def run_converge(*extra):
    """Run site.yml (PostgreSQL first, then the Orthanc nodes) as a subprocess."""
    env = dict(os.environ)
    env.setdefault("ANSIBLE_CONFIG", str(pathlib.Path(env["MOLECULE_EPHEMERAL_DIRECTORY"]) / "ansible.cfg"))
    inventory = pathlib.Path(env["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory"
    run = subprocess.run(
        [str(PROJECT / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory),
         str(PROJECT / "site.yml"), *extra],
        cwd=PROJECT, env=env, capture_output=True, text=True, timeout=480, check=False)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    return run


class Poller(threading.Thread):
    """GETs /system on both nodes every ~100 ms and records (time, {node: status})."""

    def __init__(self):
        super().__init__(daemon=True)
        self.samples = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            sample = {}
            for node in NODES:
                try:
                    sample[node] = get(node, "/system", timeout=1).status_code
                except requests.RequestException as exc:
                    sample[node] = type(exc).__name__
            self.samples.append((time.monotonic(), sample))
            self.stop.wait(0.1)


class Sender(threading.Thread):
    """Keeps sending C-STOREs, one association per instance, alternating the nodes."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sent = []
        self.failures = []
        self.stop = threading.Event()

    def run(self):
        nodes = list(NODES)
        while not self.stop.is_set():
            node = nodes[len(self.sent) % len(nodes)]
            ds = make_instance(patient="SCALE^STREAM")
            try:
                status = c_store(node, ds)
            except Exception as exc:  # noqa: BLE001 - any failure of a send counts
                status = f"{type(exc).__name__}: {exc}"
            self.sent.append((node, ds.StudyInstanceUID, status))
            if status != 0:
                self.failures.append((time.strftime("%H:%M:%S"), node, status))
            self.stop.wait(0.1)


@pytest.fixture(scope="session")
def baseline():
    """N studies stored before the runs below, half through each node; every run must keep them."""
    uids = set()
    for index in range(6):
        ds = make_instance(patient="SCALE^BASELINE")
        node = list(NODES)[index % 2]
        if index % 3 == 0:
            assert stow(node, ds).status_code == 200
        else:
            assert c_store(node, ds) == 0
        uids.add(ds.StudyInstanceUID)
    return uids


def assert_nothing_lost(baseline, label):
    for node in NODES:
        missing = baseline - study_uids(node)
        assert not missing, f"after {label}, {node} lost {len(missing)} of {len(baseline)} studies"
