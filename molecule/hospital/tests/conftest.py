"""Shared helpers of the hospital scenario: inventory values, real clients, playbook runs."""

import os
import pathlib
import re
import subprocess
import tempfile
import time

import jinja2
import pytest
import requests
import testinfra
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

SCENARIO = pathlib.Path(__file__).resolve().parent.parent
PROJECT = SCENARIO.parent.parent
VAULT_PASSWORD = (PROJECT / "molecule" / ".vault-password-test-only").read_bytes().strip()

PACS = "pp-hosp-pacs"
PACS_IP = "172.28.30.10"
MODALITY = "pp-hosp-modality"
BLOCKED = "pp-hosp-blocked"
XNATS = {"XNAT_RESEARCH": "pp-hosp-xnat1", "XNAT_TEACH": "pp-hosp-xnat2"}


def load_vars(path):
    """A vars file, decrypted when vaulted (test-only password)."""
    raw = path.read_bytes()
    if raw.startswith(b"$ANSIBLE_VAULT"):
        raw = VaultLib([("default", VaultSecret(VAULT_PASSWORD))]).decrypt(raw)
    return yaml.safe_load(raw) or {}


def _folder_vars(*folders):
    merged = {}
    for folder in folders:
        if folder.is_dir():
            for path in sorted(folder.glob("*.yml")):
                merged.update(load_vars(path))
    return merged


def inventory():
    """The PACS host's inventory values, templates ({{ vault_* }} etc.) rendered."""
    raw = _folder_vars(SCENARIO / "group_vars" / "all", SCENARIO / "group_vars" / "orthanc",
                       SCENARIO / "host_vars" / PACS)
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)

    def render(value):
        if isinstance(value, str) and "{{" in value:
            return env.from_string(value).render(**raw)
        if isinstance(value, list):
            return [render(v) for v in value]
        if isinstance(value, dict):
            return {k: render(v) for k, v in value.items()}
        return value

    keys = ("orthanc_users", "orthanc_modalities", "orthanc_dicomweb_servers", "xnat_dqr_servers",
            "orthanc_dicom_aet", "orthanc_dicom_port", "orthanc_http_port")
    return {k: render(raw[k]) for k in keys}


@pytest.fixture(scope="session")
def inv():
    return inventory()


@pytest.fixture(scope="session")
def orthanc(inv):
    """A requests session on the PACS's REST API (admin), base URL in .base."""
    session = requests.Session()
    user = inv["orthanc_users"][0]
    session.auth = (user["name"], user["password"])
    session.base = "http://%s:%s" % (PACS_IP, inv["orthanc_http_port"])
    yield session
    session.close()


class Xnat:
    """The XNAT double of one xnat_dqr_servers item: REST with the vaulted admin password."""

    def __init__(self, item):
        self.item = item
        self.name = item["name"]
        self.url = item["url"].rstrip("/")
        self.auth = (item["username"], item["password"])

    def get(self, path, **kw):
        answer = requests.get(self.url + path, auth=self.auth, timeout=10, **kw)
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def post(self, path, body):
        return requests.post(self.url + path, json=body, auth=self.auth, timeout=60)

    def test_call(self, method, path, body=None):
        """The double's /test/ endpoints (not XNAT)."""
        answer = requests.request(method, self.url + path, json=body, timeout=10)
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def pacs_entries(self, aet, port):
        return [p for p in self.get("/xapi/pacs") if p["aeTitle"] == aet and p["queryRetrievePort"] == port]

    def dqr_receivers(self):
        return [r for r in self.get("/xapi/dicomscp") if r["identifier"] == "dqrObjectIdentifier"]

    def writes(self):
        """How many requests so far could have changed XNAT (POST/PUT/DELETE on /xapi)."""
        return len([r for r in self.test_call("GET", "/test/requests")
                    if r["method"] in ("POST", "PUT", "DELETE") and r["path"].startswith("/xapi")])

    def wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.get("/xapi/pacs")
                return
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)


@pytest.fixture(scope="session")
def xnats(inv):
    return {item["name"]: Xnat(item) for item in inv["xnat_dqr_servers"]}


def docker_host(name):
    return testinfra.get_host("docker://" + name)


def molecule_env():
    env = dict(os.environ)
    env.setdefault("ANSIBLE_CONFIG", str(pathlib.Path(env["MOLECULE_EPHEMERAL_DIRECTORY"]) / "ansible.cfg"))
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    # JSON results: messages appear verbatim (no YAML quoting or line folding)
    env["ANSIBLE_CALLBACK_RESULT_FORMAT"] = "json"
    return env


def run_site(*args, timeout=300):
    """site.yml against the scenario's inventory; returns (returncode, output)."""
    inventory_dir = pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory"
    run = subprocess.run(
        [str(PROJECT / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory_dir),
         str(PROJECT / "site.yml"), *args],
        cwd=PROJECT, env=molecule_env(), capture_output=True, text=True, timeout=timeout, check=False)
    return run.returncode, run.stdout + run.stderr


def recap(output, host=PACS):
    """The PLAY RECAP counters of one host, e.g. {'ok': 12, 'changed': 0, 'failed': 0}."""
    match = re.search(r"^%s\s*:\s*(.*)$" % re.escape(host), output.split("PLAY RECAP")[-1], re.M)
    assert match, output
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}


def ansible_ping(host):
    inventory_dir = pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory"
    run = subprocess.run([str(PROJECT / ".venv" / "bin" / "ansible"), "-i", str(inventory_dir), host,
                          "-m", "ansible.builtin.ping"],
                         cwd=PROJECT, env=molecule_env(), capture_output=True, text=True, timeout=120, check=False)
    return run.returncode, run.stdout + run.stderr


def test_dataset(tag):
    """A CT instance with fresh UIDs and a PatientID that says which test made it."""
    from pydicom import dcmread
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    ds = dcmread(get_testdata_file("CT_small.dcm"))
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientID = "PPHOSP-%s-%d" % (tag, int(time.time()))
    ds.PatientName = "PP^HOSPITAL"
    return ds


test_dataset.__test__ = False


def orthanc_study_id(orthanc, study_uid):
    answer = orthanc.post(orthanc.base + "/tools/lookup", data=study_uid, timeout=10)
    answer.raise_for_status()
    found = [x["ID"] for x in answer.json() if x["Type"] == "Study"]
    return found[0] if found else None


@pytest.fixture(scope="session")
def stored_study(orthanc):
    """A study sent by the CT on pp-hosp-modality to the PACS with a real C-STORE
    (dcmtk storescu through the firewall); deleted from the PACS afterwards."""
    ds = test_dataset("dqr")
    modality = docker_host(MODALITY)
    with tempfile.NamedTemporaryFile(suffix=".dcm") as handle:
        ds.save_as(handle.name, enforce_file_format=True)
        subprocess.run(["docker", "cp", handle.name, "%s:/tmp/pp-hosp-study.dcm" % MODALITY],
                       check=True, capture_output=True, timeout=30)
    store = modality.run("storescu -aet HOSP_CT -aec GH_PACS %s 4242 /tmp/pp-hosp-study.dcm" % PACS_IP)
    try:
        yield {"study": str(ds.StudyInstanceUID), "sop": str(ds.SOPInstanceUID),
               "patient": str(ds.PatientID), "store_rc": store.rc, "store_output": store.stdout + store.stderr}
    finally:
        modality.run("rm -f /tmp/pp-hosp-study.dcm")
        study_id = orthanc_study_id(orthanc, str(ds.StudyInstanceUID))
        if study_id:
            orthanc.delete(orthanc.base + "/studies/" + study_id, timeout=10).raise_for_status()
