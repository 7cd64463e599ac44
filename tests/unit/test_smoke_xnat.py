"""The XNAT part of the smoke: the pacs_smoke_xnat_plan filter, and the xnat_dqr_smoke module
against a real Orthanc 1.10.1 and the XNAT double on one docker network (doublectl.DicomLab:
the C-STORE, the C-FIND and the import's C-MOVE are real DICOM)."""

import importlib.util
import os
import sys

import pytest
import requests
from ansible.errors import AnsibleFilterError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests/xnat_double"))
sys.path.insert(0, os.path.join(ROOT, "tests/unit"))
import doublectl  # noqa: E402  pylint: disable=wrong-import-position
from test_smoke_modules import load, run_module  # noqa: E402  pylint: disable=wrong-import-position

SMOKE = load("xnat_dqr_smoke")
FILTERS = load("pacs_smoke", os.path.join(ROOT, "filter_plugins"), "pps_filters_xnat")
PLAN = FILTERS.FilterModule().filters()["pacs_smoke_xnat_plan"]

SERVERS = [
    {"name": "XNAT_RESEARCH", "url": "http://x1:8080", "username": "admin", "password": "pw1",
     "receiver": {"aet": "XNAT_RESEARCH", "host": "x1", "port": 8104}, "pacs_label": "GH_PACS", "queryable": True},
    {"name": "XNAT_PROD", "url": "http://x2:8080", "username": "admin", "password": "pw2",
     "receiver": {"aet": "XNAT_PROD", "host": "x2", "port": 8104}},
]


# ------------------------------------------------------------------------ the filter
def test_plan_is_read_only_unless_told():
    plan = PLAN({"servers": SERVERS, "dicom_aet": "GH_PACS", "dicom_port": 4242})
    assert [(p["name"], p["write"], p["project"]) for p in plan] == [("XNAT_RESEARCH", False, ""), ("XNAT_PROD", False, "")]
    assert plan[1]["pacs_label"] == "GH_PACS"  # default label: the Orthanc AE, as the xnat_dqr role registers it
    assert plan[0]["receiver_aet"] == "XNAT_RESEARCH" and plan[0]["receiver_port"] == 8104
    assert plan[0]["pacs_aet"] == "GH_PACS" and plan[0]["pacs_port"] == 4242


def test_plan_writes_where_the_item_says_so():
    servers = [dict(SERVERS[0], smoke_write=True, smoke_project="SMOKE"), SERVERS[1]]
    plan = PLAN({"servers": servers, "dicom_aet": "GH_PACS", "dicom_port": "4242"})
    assert [(p["write"], p["project"]) for p in plan] == [(True, "SMOKE"), (False, "")]


@pytest.mark.parametrize("keys, message", [
    ({"smoke_write": "maybe"}, "expected a boolean"),
    ({"smoke_project": 7}, "expected str"),
])
def test_plan_refuses_bad_settings(keys, message):
    with pytest.raises(AnsibleFilterError, match=message):
        PLAN({"servers": [dict(SERVERS[0], **keys)], "dicom_aet": "A", "dicom_port": 1})


# ---------------------------------------------- the module against Orthanc and the double
@pytest.fixture(scope="module")
def lab():
    # scripts/bootstrap.sh builds the image: a missing one is a failure, not a skip
    doublectl.docker("image", "inspect", "local/orthanc:1.10.1")
    instance = doublectl.DicomLab()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def xnat(lab):
    """The double, reset, with Orthanc registered as a PACS and the DQR receiver of the lab."""
    requests.post(lab.url + "/test/reset", timeout=5).raise_for_status()
    session = requests.Session()
    session.auth = doublectl.ADMIN
    for path, body in (
            ("/xapi/pacs", {"aeTitle": lab.PACS_AE, "host": lab.orthanc, "queryRetrievePort": 4242,
                            "label": "ORTHANC", "queryable": True, "ormStrategySpringBeanId": "dicomOrmStrategy"}),
            ("/xapi/dicomscp", {"aeTitle": lab.RECEIVER_AE, "port": lab.RECEIVER_PORT,
                                "identifier": "dqrObjectIdentifier"}),
            # Orthanc knows XNAT by the receiver's AE only: XNAT queries with that calling AE
            ("/xapi/dqr/settings", {"dqrCallingAe": lab.RECEIVER_AE})):
        session.post(lab.url + path, json=body, timeout=10).raise_for_status()
    yield session
    session.close()


def module_params(lab, **item):
    entry = {"name": "XNAT_DQR", "url": lab.url, "username": doublectl.ADMIN[0], "password": doublectl.ADMIN[1],
             "validate_certs": True, "pacs_label": "ORTHANC", "pacs_aet": lab.PACS_AE, "pacs_port": 4242,
             "receiver_aet": lab.RECEIVER_AE, "receiver_port": lab.RECEIVER_PORT, "write": True, "project": "SMOKE"}
    entry.update(item)
    return {"url": lab.orthanc_url, "username": "orthanc", "password": "orthanc", "validate_certs": True,
            "timeout": 5.0, "wait": 8.0, "run_id": "20250101T000000Z-abc123", "patient_name": "PP^SMOKETEST",
            "patient_id_prefix": "PPSMOKE", "link": "XNAT DQR", "xnats": [entry]}


def cells(results):
    return {(r["link"], r["check"]): r for r in results}


def orthanc_studies(lab):
    return requests.get(lab.orthanc_url + "/studies", auth=("orthanc", "orthanc"), timeout=5).json()


def prearchive(lab):
    answer = requests.get(lab.url + "/data/prearchive/projects", auth=doublectl.ADMIN, timeout=5,
                          params={"format": "json"})
    return answer.json()["ResultSet"]["Result"]


def test_store_query_import_pass_and_leave_nothing(lab, xnat):
    before = set(orthanc_studies(lab))
    results = SMOKE.XnatSmoke(module_params(lab)).run()
    res = cells(results)
    for check in ("dqr_query", "xnat_store", "dqr_import"):
        assert res[("XNAT_DQR", check)]["status"] == "pass", res[("XNAT_DQR", check)]
    assert res[("XNAT DQR", "cleanup")]["status"] == "pass"
    assert "/prearchive/projects/Unassigned/" in res[("XNAT_DQR", "xnat_store")]["detail"]
    assert "/prearchive/projects/SMOKE/" in res[("XNAT_DQR", "dqr_import")]["detail"]
    received = requests.get(lab.url + "/test/received", timeout=5).json()
    assert len(received) == 2  # one C-STORE, one C-MOVE sub-operation
    assert prearchive(lab) == []
    assert set(orthanc_studies(lab)) == before


def test_read_only_xnat_is_only_queried(lab, xnat):
    before = len(requests.get(lab.url + "/test/requests", timeout=5).json())
    res = cells(SMOKE.XnatSmoke(module_params(lab, write=False)).run())
    assert res[("XNAT_DQR", "dqr_query")]["status"] == "pass"
    for check in ("xnat_store", "dqr_import"):
        assert res[("XNAT_DQR", check)]["status"] == "skipped"
        assert "read-only" in res[("XNAT_DQR", check)]["error"]
    assert requests.get(lab.url + "/test/received", timeout=5).json() == []
    calls = requests.get(lab.url + "/test/requests", timeout=5).json()[before:]
    writes = [r for r in calls if r["method"] != "GET" and r["path"] not in ("/xapi/dqr/query/studies", "/data/JSESSION")]
    assert writes == [], calls


def test_receiver_that_drops_turns_store_and_import_red(lab, xnat):
    requests.post(lab.url + "/test/archive", json={"aeTitle": lab.RECEIVER_AE, "port": lab.RECEIVER_PORT,
                                                   "archive": False}, timeout=5).raise_for_status()
    res = cells(SMOKE.XnatSmoke(module_params(lab, project="SMOKE")).run())
    assert res[("XNAT_DQR", "dqr_query")]["status"] == "pass"
    store = res[("XNAT_DQR", "xnat_store")]
    assert store["status"] == "fail"
    assert "accepted the C-STORE" in store["error"] and "did not appear in XNAT's prearchive" in store["error"]
    assert res[("XNAT_DQR", "dqr_import")]["status"] == "fail"
    assert res[("XNAT DQR", "cleanup")]["status"] == "pass"


def test_unknown_modality_and_wrong_password(lab, xnat):
    res = cells(SMOKE.XnatSmoke(module_params(lab, name="NO_SUCH_MODALITY")).run())
    assert res[("NO_SUCH_MODALITY", "xnat_store")]["status"] == "fail"
    assert "HTTP 404" in res[("NO_SUCH_MODALITY", "xnat_store")]["error"]
    res = cells(SMOKE.XnatSmoke(module_params(lab, password="wrong")).run())
    assert res[("XNAT_DQR", "dqr_query")]["status"] == "fail"
    assert "HTTP 401" in res[("XNAT_DQR", "dqr_query")]["error"]
    assert res[("XNAT_DQR", "dqr_import")]["status"] == "skipped"
    assert orthanc_studies(lab) == [] or res[("XNAT DQR", "cleanup")]["status"] == "pass"


def test_module_check_mode_and_no_secret_in_output(lab, xnat):
    args = module_params(lab, password="xnat-smoke-secret")
    out = run_module("xnat_dqr_smoke", args, check_mode=True)
    assert {r["status"] for r in out["results"]} == {"skipped"}
    assert requests.get(lab.url + "/test/received", timeout=5).json() == []
    out = run_module("xnat_dqr_smoke", args)
    assert "xnat-smoke-secret" not in str(out)
    assert out["failed_count"] >= 1 and not out.get("failed")
