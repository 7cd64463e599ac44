"""End to end DQR: a study sent by the CT is found and imported by each XNAT.

The query is a real C-FIND from the XNAT double's calling AE (dqrCallingAe) through the
PACS firewall; the import a real C-MOVE after which Orthanc C-STOREs the study to that
XNAT's receiver. Issue 4, "What must be shown".
"""

import time

import pytest


def pacs_id(xnat, inv):
    entries = xnat.pacs_entries(inv["orthanc_dicom_aet"], inv["orthanc_dicom_port"])
    assert len(entries) == 1, entries
    return entries[0]["id"]


def test_ct_stored_the_study(stored_study, orthanc):
    assert stored_study["store_rc"] == 0, stored_study["store_output"]
    answer = orthanc.post(orthanc.base + "/tools/find", timeout=10,
                          json={"Level": "Study", "Query": {"StudyInstanceUID": stored_study["study"]}})
    answer.raise_for_status()
    assert len(answer.json()) == 1


@pytest.mark.parametrize("name", ["XNAT_RESEARCH", "XNAT_TEACH"])
def test_xnat_finds_and_imports_the_study(name, xnats, inv, stored_study):
    assert stored_study["store_rc"] == 0, stored_study["store_output"]
    xnat = xnats[name]
    receiver = xnat.item["receiver"]
    pid = pacs_id(xnat, inv)

    found = xnat.post("/xapi/dqr/query/studies", {"pacsId": pid, "studyInstanceUid": stored_study["study"]})
    assert found.status_code == 200, found.text
    studies = found.json()
    assert [s["studyInstanceUid"] for s in studies] == [stored_study["study"]]
    assert studies[0]["patient"]["id"] == stored_study["patient"]

    queued = xnat.post("/xapi/dqr/import", {"pacsId": pid, "aeTitle": receiver["aet"], "port": receiver["port"],
                                            "projectId": "HOSPITAL", "studies": [{"studyInstanceUid": stored_study["study"]}]})
    assert queued.status_code == 200, queued.text
    request_id = queued.json()[0]["id"]

    deadline = time.monotonic() + 30
    while True:
        status = [i for i in xnat.test_call("GET", "/test/imports") if i["id"] == request_id][0]
        if status["status"] in ("RECEIVED", "FAILED") or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    received = [r for r in xnat.test_call("GET", "/test/received") if r["sopInstanceUid"] == stored_study["sop"]]
    assert status["status"] == "RECEIVED", status
    assert len(received) == 1, received
    assert received[0]["aeTitle"] == receiver["aet"]
    assert received[0]["port"] == receiver["port"]
    assert received[0]["callingAe"] == inv["orthanc_dicom_aet"]
    assert received[0]["studyInstanceUid"] == stored_study["study"]


def test_unknown_study_is_not_found(xnats, inv):
    """The query really asks the PACS: a UID it does not hold gives 204."""
    xnat = xnats["XNAT_RESEARCH"]
    answer = xnat.post("/xapi/dqr/query/studies", {"pacsId": pacs_id(xnat, inv),
                                                   "studyInstanceUid": "1.2.826.0.1.3680043.8.498.1"})
    assert answer.status_code == 204, answer.text
