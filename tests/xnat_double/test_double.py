"""Tests of the XNAT double against docs/xnat-dqr-api.md, with real DICOM behind it."""

import os
import sys
import time

import pytest
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import doublectl  # noqa: E402

PACS = {"aeTitle": "GH_PACS", "host": "pacs1.test", "queryRetrievePort": 4242, "label": "GH",
        "queryable": True, "storable": False, "ormStrategySpringBeanId": "dicomOrmStrategy"}


@pytest.fixture
def xnat(double):
    """A clean double and an admin session (requests.Session with Basic auth)."""
    double.reset()
    session = requests.Session()
    session.auth = double.admin
    session.base = double.url
    yield session
    session.close()


def call(session, method, path, **kwargs):
    return session.request(method, session.base + path, timeout=10, **kwargs)


def make_pacs(xnat, **fields):
    body = dict(PACS, **fields)
    resp = call(xnat, "POST", "/xapi/pacs", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


# ---------------------------------------------------------------- auth, sessions
def test_unauthenticated_is_401_with_challenge(double):
    resp = requests.get(double.url + "/xapi/pacs", timeout=5)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Basic realm=")


def test_wrong_password_is_401(double):
    resp = requests.get(double.url + "/xapi/pacs", auth=("admin", "nope"), timeout=5)
    assert resp.status_code == 401


def test_non_admin_reads_but_cannot_write(xnat, double):
    make_pacs(xnat)
    user = requests.Session()
    user.auth = double.user
    assert user.get(double.url + "/xapi/pacs", timeout=5).status_code == 200
    resp = user.post(double.url + "/xapi/pacs", json=dict(PACS, label="X"), timeout=5)
    assert resp.status_code == 403
    assert resp.content == b""
    assert user.get(double.url + "/xapi/dqr/settings", timeout=5).status_code == 403
    assert user.post(double.url + "/xapi/dicomscp", json={"aeTitle": "A", "port": 1},
                     timeout=5).status_code == 403


def test_jsession_cookie_authenticates(double):
    resp = requests.post(double.url + "/data/JSESSION", auth=double.admin, timeout=5)
    assert resp.status_code == 200
    session_id = resp.text
    assert len(session_id) >= 16
    resp = requests.get(double.url + "/xapi/pacs", cookies={"JSESSIONID": session_id}, timeout=5)
    assert resp.status_code == 200
    bad = requests.get(double.url + "/xapi/pacs", cookies={"JSESSIONID": "nope"}, timeout=5)
    assert bad.status_code == 401


# ----------------------------------------------------------------------- PACS
def test_create_is_200_with_ids_in_creation_order_not_1(xnat):
    first = make_pacs(xnat)
    second = make_pacs(xnat, label="OTHER", aeTitle="OTHER")
    assert first["id"] > 1
    assert second["id"] == first["id"] + 1
    assert first["enabled"] is True and "created" in first and "timestamp" in first
    assert call(xnat, "GET", "/xapi/pacs/%d" % first["id"]).json()["aeTitle"] == "GH_PACS"
    assert call(xnat, "GET", "/xapi/pacs/999").status_code == 404
    assert [p["id"] for p in call(xnat, "GET", "/xapi/pacs").json()] == [first["id"], second["id"]]


def test_unique_label_and_triple_give_500(xnat):
    make_pacs(xnat)
    assert call(xnat, "POST", "/xapi/pacs", json=dict(PACS, aeTitle="DIFF")).status_code == 500
    assert call(xnat, "POST", "/xapi/pacs", json=dict(PACS, label="DIFF")).status_code == 500
    assert call(xnat, "POST", "/xapi/pacs", json=dict(PACS, label="NEW", aeTitle="NEW")).status_code == 200


def test_put_is_partial_merge_and_unknown_id_is_500(xnat):
    pacs = make_pacs(xnat, storable=True)
    resp = call(xnat, "PUT", "/xapi/pacs/%d" % pacs["id"], json={"host": "pacs2.test", "id": 4711})
    assert resp.status_code == 200
    after = call(xnat, "GET", "/xapi/pacs/%d" % pacs["id"]).json()
    assert after["host"] == "pacs2.test"
    assert after["id"] == pacs["id"]
    assert after["storable"] is True and after["label"] == "GH" and after["queryRetrievePort"] == 4242
    assert call(xnat, "PUT", "/xapi/pacs/4711", json={"host": "x"}).status_code == 500


def test_put_into_a_duplicate_is_500(xnat):
    make_pacs(xnat)
    other = make_pacs(xnat, label="B", aeTitle="B")
    assert call(xnat, "PUT", "/xapi/pacs/%d" % other["id"], json={"label": "GH"}).status_code == 500


def test_default_flags_force_and_clear(xnat):
    first = make_pacs(xnat, defaultQueryRetrievePacs=True, defaultStoragePacs=True, queryable=False)
    assert first["queryable"] is True and first["storable"] is True
    second = make_pacs(xnat, label="B", aeTitle="B", defaultQueryRetrievePacs=True)
    assert second["defaultQueryRetrievePacs"] is True
    first_now = call(xnat, "GET", "/xapi/pacs/%d" % first["id"]).json()
    assert first_now["defaultQueryRetrievePacs"] is False
    assert first_now["defaultStoragePacs"] is True


@pytest.mark.parametrize("body,status", [
    ({"aeTitle": ""}, 400),
    ({"aeTitle": None}, 400),
    ({"host": "http://pacs1.test"}, 400),
    ({"ormStrategySpringBeanId": " "}, 400),
    ({"queryRetrievePort": None, "defaultQueryRetrievePacs": True}, 400),
    ({"queryRetrievePort": "abc"}, 400),
    ({"queryable": "yes"}, 400),
    ({"aeTitle": "A" * 101}, 400),
])
def test_pacs_field_validation(xnat, body, status):
    resp = call(xnat, "POST", "/xapi/pacs", json={**PACS, **body})
    assert resp.status_code == status


def test_unreadable_json_is_400(xnat):
    resp = call(xnat, "POST", "/xapi/pacs", data=b"{nope", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400


def test_disabled_pacs_hidden_from_list_but_still_unique(xnat):
    pacs = make_pacs(xnat, enabled=False)
    assert call(xnat, "GET", "/xapi/pacs").json() == []
    assert call(xnat, "GET", "/xapi/pacs/%d" % pacs["id"]).status_code == 200
    assert call(xnat, "POST", "/xapi/pacs", json=PACS).status_code == 500


def test_query_filters_and_delete(xnat):
    queryable = make_pacs(xnat)
    storable = make_pacs(xnat, label="S", aeTitle="S", queryable=False, storable=True)
    assert [p["id"] for p in call(xnat, "GET", "/xapi/pacs?queryable=true").json()] == [queryable["id"]]
    assert [p["id"] for p in call(xnat, "GET", "/xapi/pacs?storable=true").json()] == [storable["id"]]
    assert call(xnat, "DELETE", "/xapi/pacs/%d" % storable["id"]).status_code == 200
    assert call(xnat, "DELETE", "/xapi/pacs/%d" % storable["id"]).status_code == 404


# ---------------------------------------------------------------- availability
def window(day="MONDAY", start="0:00", end="24:00", threads=1, util=100):
    return {"dayOfWeek": day, "availabilityStart": start, "availabilityEnd": end,
            "threads": threads, "utilizationPercent": util}


def test_availability_map_normalisation_and_overlap(xnat):
    pacs = make_pacs(xnat)
    base = "/xapi/pacs/%d/availability" % pacs["id"]
    assert call(xnat, "GET", base).json() == {d: [] for d in
                                              ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY",
                                               "FRIDAY", "SATURDAY", "SUNDAY"]}
    created = call(xnat, "POST", base, json=window(end="8:00"))
    assert created.status_code == 200
    body = created.json()
    assert body["availabilityStart"] == "00:00" and body["availabilityEnd"] == "08:00"
    assert body["pacsId"] == pacs["id"]
    late = call(xnat, "POST", base, json=window(start="19:00", end="24:00")).json()
    assert late["availabilityEnd"] == "00:00"
    assert call(xnat, "POST", base, json=window(start="7:00", end="9:00")).status_code == 400
    assert call(xnat, "POST", base, json=window(end="8:00")).status_code == 400       # identical
    assert call(xnat, "POST", base, json=window(start="23:00", end="24:00")).status_code == 400
    assert call(xnat, "POST", base, json=window(start="8:00", end="19:00")).status_code == 200  # adjacent
    assert call(xnat, "POST", base, json=window(day="TUESDAY", end="8:00")).status_code == 200
    days = call(xnat, "GET", base).json()
    assert [w["availabilityStart"] for w in days["MONDAY"]] == ["00:00", "08:00", "19:00"]
    assert len(days["TUESDAY"]) == 1


@pytest.mark.parametrize("bad", [
    window(day="MONTAG"), window(start="9:00", end="8:00"), window(start="25:00"),
    window(start="10:61"), window(end="24:30"), window(threads=-1), window(util=101),
    window(start="8.00"),
])
def test_availability_validation(xnat, bad):
    pacs = make_pacs(xnat)
    assert call(xnat, "POST", "/xapi/pacs/%d/availability" % pacs["id"], json=bad).status_code == 400


def test_availability_zero_threads_zero_both_and_put_delete(xnat):
    pacs = make_pacs(xnat)
    base = "/xapi/pacs/%d/availability" % pacs["id"]
    zero = call(xnat, "POST", base, json=window(threads=0, util=80)).json()
    assert zero["threads"] == 0 and zero["utilizationPercent"] == 0
    path = "%s/%d" % (base, zero["id"])
    same = call(xnat, "PUT", path, json={"pacsId": pacs["id"], "availabilityStart": "00:00",
                                         "availabilityEnd": "24:00"})
    assert same.status_code == 304
    changed = call(xnat, "PUT", path, json={"pacsId": pacs["id"], "threads": 2, "utilizationPercent": 50})
    assert changed.status_code == 200 and changed.json()["threads"] == 2
    assert call(xnat, "GET", path).json()["utilizationPercent"] == 50
    assert call(xnat, "DELETE", path).status_code == 200
    assert call(xnat, "GET", path).status_code == 404
    assert call(xnat, "GET", "/xapi/pacs/999/availability").status_code == 404


# -------------------------------------------------------------------- settings
def test_settings_defaults_and_post(xnat):
    settings = call(xnat, "GET", "/xapi/dqr/settings").json()
    assert settings["dqrCallingAe"] == "XNAT"
    assert settings["dqrMaxPacsRequestAttempts"] == "5"
    assert settings["allowAllUsersToUseDqr"] is False
    resp = call(xnat, "POST", "/xapi/dqr/settings",
                json={"dqrCallingAe": "RESEARCH", "notifyAdminOnImport": "true", "bogus": "1"})
    assert resp.status_code == 200 and resp.content == b""
    settings = call(xnat, "GET", "/xapi/dqr/settings").json()
    assert settings["dqrCallingAe"] == "RESEARCH"
    assert settings["notifyAdminOnImport"] is True
    assert "bogus" not in settings


# ------------------------------------------------------------------- receivers
def echo(port, ae_title):
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification
    ae = AE(ae_title="TESTSCU")
    ae.acse_timeout = ae.network_timeout = 3
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title=ae_title)
    if not assoc.is_established:
        return False
    status = assoc.send_c_echo()
    assoc.release()
    return bool(status) and status.Status == 0


def test_builtin_receiver_and_crud(xnat, double):
    scps = call(xnat, "GET", "/xapi/dicomscp").json()
    assert [(s["aeTitle"], s["port"], s["identifier"]) for s in scps] == \
        [("XNAT", double.builtin_port, "dicomObjectIdentifier")]
    port = doublectl.free_port()
    resp = call(xnat, "POST", "/xapi/dicomscp",
                json={"aeTitle": "XNAT_DQR", "port": port, "identifier": "dqrObjectIdentifier"})
    assert resp.status_code == 200
    scp = resp.json()
    assert scp["id"] > scps[0]["id"] and scp["enabled"] is True and scp["label"] == "XNAT_DQR:%d" % port
    assert call(xnat, "GET", "/xapi/dicomscp/title/XNAT_DQR/%d" % port).json()["id"] == scp["id"]
    assert call(xnat, "GET", "/xapi/dicomscp/title/XNAT_DQR/1").status_code == 404
    assert echo(port, "XNAT_DQR")
    # enabled toggle stops and starts the listener
    assert call(xnat, "PUT", "/xapi/dicomscp/%d/enabled/false" % scp["id"]).status_code == 200
    assert not echo(port, "XNAT_DQR")
    assert call(xnat, "PUT", "/xapi/dicomscp/%d/enabled/true" % scp["id"]).status_code == 200
    assert echo(port, "XNAT_DQR")
    # partial merge
    resp = call(xnat, "PUT", "/xapi/dicomscp/%d" % scp["id"], json={"customProcessing": True})
    assert resp.status_code == 200
    after = call(xnat, "GET", "/xapi/dicomscp/%d" % scp["id"]).json()
    assert after["customProcessing"] is True and after["identifier"] == "dqrObjectIdentifier"
    assert call(xnat, "PUT", "/xapi/dicomscp/999", json={"enabled": True}).status_code == 500
    assert call(xnat, "DELETE", "/xapi/dicomscp/%d" % scp["id"]).status_code == 200
    assert call(xnat, "GET", "/xapi/dicomscp/%d" % scp["id"]).status_code == 404
    assert call(xnat, "DELETE", "/xapi/dicomscp/%d" % scp["id"]).status_code == 404
    assert not echo(port, "XNAT_DQR")


@pytest.mark.parametrize("ae_title", ["A" * 17, "", "    ", "BACK\\SLASH", "CAF\u00c9", "TAB\tX"])
def test_receiver_ae_validation(xnat, ae_title):
    resp = call(xnat, "POST", "/xapi/dicomscp", json={"aeTitle": ae_title, "port": 11112})
    assert resp.status_code == 400


def test_receiver_duplicate_and_identifier(xnat, double):
    dup = call(xnat, "POST", "/xapi/dicomscp", json={"aeTitle": "XNAT", "port": double.builtin_port})
    assert dup.status_code == 400
    bad = call(xnat, "POST", "/xapi/dicomscp", json={"aeTitle": "NEW", "port": 11112, "identifier": "nope"})
    assert bad.status_code == 400
    ok = call(xnat, "POST", "/xapi/dicomscp", json={"aeTitle": "XNAT", "port": 1, "enabled": False})
    assert ok.status_code == 200  # same title on another port is fine; the port is not validated


def store_ct_small(double, calling, called):
    """C-STORE pydicom's CT_small.dcm to the double's built-in receiver port; returns it."""
    from pydicom import dcmread
    from pydicom.data import get_testdata_file
    from pynetdicom import AE
    ds = dcmread(get_testdata_file("CT_small.dcm"))
    ae = AE(ae_title=calling)
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", double.builtin_port, ae_title=called)
    assert assoc.is_established
    assert assoc.send_c_store(ds).Status == 0
    assoc.release()
    return ds


def test_receiver_stores_real_c_store(xnat, double):
    from pydicom import dcmread
    ds = store_ct_small(double, "MODALITY", "XNAT")
    received = double.test_call("GET", "/test/received")
    assert [r["sopInstanceUid"] for r in received] == [ds.SOPInstanceUID]
    assert received[0]["callingAe"] == "MODALITY"
    assert dcmread(received[0]["path"]).SOPInstanceUID == ds.SOPInstanceUID


def test_receivers_sharing_a_port_record_the_called_ae(xnat, double):
    """Two receivers on one port: what arrives is filed under the AE the sender called."""
    assert call(xnat, "POST", "/xapi/dicomscp", json={
        "aeTitle": "XNAT_SECOND", "port": double.builtin_port, "identifier": "dqrObjectIdentifier"}).status_code == 200
    store_ct_small(double, "ORTHANC", "XNAT_SECOND")
    received = double.test_call("GET", "/test/received")
    assert [(r["aeTitle"], r["callingAe"]) for r in received] == [("XNAT_SECOND", "ORTHANC")]


# ---------------------------------------------------------------------- faults
def test_fault_injection_status_then_normal(xnat, double):
    double.test_call("POST", "/test/fault", {"status": 500, "count": 2, "path": "/xapi/pacs"})
    assert call(xnat, "GET", "/xapi/pacs").status_code == 500
    assert call(xnat, "GET", "/xapi/pacs").status_code == 500
    assert call(xnat, "GET", "/xapi/pacs").status_code == 200


def test_fault_injection_delay(xnat, double):
    double.test_call("POST", "/test/fault", {"delay": 1.0, "count": 1})
    with pytest.raises(requests.exceptions.Timeout):
        xnat.get(double.url + "/xapi/pacs", timeout=0.3)
    assert call(xnat, "GET", "/xapi/pacs").status_code == 200


def test_request_log_records_writes(xnat, double):
    make_pacs(xnat)
    assert double.writes() == [{"method": "POST", "path": "/xapi/pacs", "status": 200}]


def test_status_of_unreachable_pacs_is_unsuccessful(xnat):
    pacs = make_pacs(xnat, host="127.0.0.1", queryRetrievePort=doublectl.free_port())
    resp = call(xnat, "GET", "/xapi/pacs/%d/status" % pacs["id"])
    assert resp.status_code == 200
    assert resp.json()["successful"] is False
    assert call(xnat, "GET", "/xapi/pacs/999/status").status_code == 404


# ------------------------------------------------- real DICOM with a real Orthanc
@pytest.fixture(scope="session")
def lab():
    # scripts/bootstrap.sh builds the image: a missing one is a failure, not a skip
    doublectl.docker("image", "inspect", "local/orthanc:1.10.1")
    instance = doublectl.DicomLab()
    yield instance
    instance.stop()


@pytest.fixture(scope="session")
def lab_study(lab):
    from pydicom.data import get_testdata_file
    with open(get_testdata_file("CT_small.dcm"), "rb") as handle:
        resp = requests.post(lab.orthanc_url + "/instances", data=handle.read(),
                             auth=("orthanc", "orthanc"), timeout=10)
    resp.raise_for_status()
    from pydicom import dcmread
    return dcmread(get_testdata_file("CT_small.dcm"))


@pytest.fixture(scope="session")
def lab_xnat(lab):
    session = requests.Session()
    session.auth = doublectl.ADMIN
    session.base = lab.url
    pacs = call(session, "POST", "/xapi/pacs", json={
        "aeTitle": lab.PACS_AE, "host": lab.orthanc, "queryRetrievePort": 4242, "label": "ORTHANC",
        "queryable": True, "storable": True, "ormStrategySpringBeanId": "dicomOrmStrategy"}).json()
    call(session, "POST", "/xapi/pacs", json={
        "aeTitle": "NOQUERY", "host": lab.orthanc, "queryRetrievePort": 4242, "label": "NOQUERY",
        "queryable": False, "ormStrategySpringBeanId": "dicomOrmStrategy"})
    assert call(session, "POST", "/xapi/dicomscp", json={
        "aeTitle": lab.RECEIVER_AE, "port": lab.RECEIVER_PORT,
        "identifier": "dqrObjectIdentifier"}).status_code == 200
    assert call(session, "POST", "/xapi/dqr/settings", json={"dqrCallingAe": lab.RECEIVER_AE}).status_code == 200
    session.pacs_id = pacs["id"]
    yield session
    session.close()


def test_orthanc_c_echo(lab_xnat):
    resp = call(lab_xnat, "GET", "/xapi/pacs/%d/status" % lab_xnat.pacs_id)
    assert resp.json()["successful"] is True


def test_orthanc_c_find(lab_xnat, lab_study):
    resp = call(lab_xnat, "POST", "/xapi/dqr/query/studies", json={"pacsId": lab_xnat.pacs_id})
    assert resp.status_code == 200
    studies = resp.json()
    assert [s["studyInstanceUid"] for s in studies] == [lab_study.StudyInstanceUID]
    assert studies[0]["patient"]["id"] == lab_study.PatientID
    none = call(lab_xnat, "POST", "/xapi/dqr/query/studies",
                json={"pacsId": lab_xnat.pacs_id, "studyInstanceUid": "1.2.3.4.5.6.7"})
    assert none.status_code == 204
    assert call(lab_xnat, "POST", "/xapi/dqr/query/studies", json={"pacsId": 999}).status_code == 404
    noquery = [p for p in call(lab_xnat, "GET", "/xapi/pacs").json() if p["label"] == "NOQUERY"][0]
    assert call(lab_xnat, "POST", "/xapi/dqr/query/studies",
                json={"pacsId": noquery["id"]}).status_code == 409


def test_orthanc_c_move_to_receiver(lab, lab_xnat, lab_study):
    resp = call(lab_xnat, "POST", "/xapi/dqr/import", json={
        "pacsId": lab_xnat.pacs_id, "aeTitle": lab.RECEIVER_AE, "port": lab.RECEIVER_PORT,
        "projectId": "P1", "studies": [{"studyInstanceUid": lab_study.StudyInstanceUID}]})
    assert resp.status_code == 200
    assert [q["status"] for q in resp.json()] == ["QUEUED"]
    deadline = time.time() + 20
    while time.time() < deadline:
        imports = requests.get(lab.url + "/test/imports", timeout=5).json()
        if imports and imports[-1]["status"] in ("RECEIVED", "FAILED"):
            break
        time.sleep(0.2)
    assert imports[-1]["status"] == "RECEIVED", imports
    received = requests.get(lab.url + "/test/received", timeout=5).json()
    assert lab_study.SOPInstanceUID in [r["sopInstanceUid"] for r in received]
    assert received[-1]["aeTitle"] == lab.RECEIVER_AE and received[-1]["callingAe"] == lab.PACS_AE
