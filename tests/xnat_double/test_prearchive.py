"""The XNAT double's prearchive: what receivers store (and imports bring) is listed and
deletable through XNAT's /data/prearchive REST API; a receiver can be told to drop.

Shapes follow xnat-web (PrearcSessionListResource, DatabaseSession's columns,
PrearcUtils.buildURI, BatchPrearchiveActionsA / PrearchiveBatchDelete).
"""

import os
import sys
import time

import pytest
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import doublectl  # noqa: E402
from test_double import call, lab, lab_study, lab_xnat, store_ct_small, xnat  # noqa: E402,F401  fixtures

COLUMNS = {"project", "timestamp", "lastmod", "uploaded", "scan_date", "scan_time", "subject", "folderName",
           "name", "tag", "status", "url", "autoarchive", "prevent_anon", "prevent_auto_commit", "SOURCE",
           "VISIT", "PROTOCOL", "TIMEZONE"}


def listing(session, project=None, **params):
    """GET /data/prearchive/projects[/<project>]?format=json: (status, rows)."""
    path = "/data/prearchive/projects" + ("/" + project if project else "")
    resp = call(session, "GET", path, params=dict(params, format="json"))
    if resp.status_code != 200:
        return resp.status_code, None
    result = resp.json()["ResultSet"]
    assert result["totalRecords"] == str(len(result["Result"]))
    return 200, result["Result"]


def delete(session, *srcs):
    """POST /data/services/prearchive/delete with form fields src=..."""
    return call(session, "POST", "/data/services/prearchive/delete", data=[("src", s) for s in srcs])


def wait_gone(session, url, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if url not in [r["url"] for r in listing(session)[1]]:
            return True
        time.sleep(0.1)
    return False


def test_a_c_store_becomes_an_unassigned_prearchive_session(xnat, double):
    ds = store_ct_small(double, "ORTHANC", "XNAT")
    store_ct_small(double, "ORTHANC", "XNAT")  # the same study again joins the same session
    status, rows = listing(xnat)
    assert status == 200 and len(rows) == 1
    row = rows[0]
    assert set(row) == COLUMNS
    assert row["tag"] == ds.StudyInstanceUID
    assert row["project"] == "Unassigned"
    assert row["url"] == "/prearchive/projects/Unassigned/%s/%s" % (row["timestamp"], row["folderName"])
    assert len(row["timestamp"]) == 18 and row["timestamp"][8] == "_"  # yyyyMMdd_HHmmssSSS
    assert row["status"] == "READY"
    assert all(isinstance(v, str) for v in row.values())


def test_tag_filter_and_project_path(xnat, double):
    ds = store_ct_small(double, "ORTHANC", "XNAT")
    assert [r["tag"] for r in listing(xnat, tag=ds.StudyInstanceUID)[1]] == [ds.StudyInstanceUID]
    assert listing(xnat, tag="1.2.3.999")[1] == []
    assert len(listing(xnat, "Unassigned")[1]) == 1
    assert listing(xnat, "OTHER")[1] == []


def test_non_admin_may_not_query_by_tag_nor_see_unassigned(xnat, double):
    store_ct_small(double, "ORTHANC", "XNAT")
    user = requests.Session()
    user.auth = double.user
    user.base = double.url
    assert listing(user, tag="1.2.3")[0] == 403
    assert listing(user)[1] == []
    assert listing(user)[0] == 200
    assert requests.get(double.url + "/data/prearchive/projects", timeout=5).status_code == 401


def test_delete_queues_then_removes_the_session(xnat, double):
    store_ct_small(double, "ORTHANC", "XNAT")
    url = listing(xnat)[1][0]["url"]
    resp = delete(xnat, url)
    assert resp.status_code == 200, resp.text
    assert [r["status"] for r in resp.json()["ResultSet"]["Result"]] == ["QUEUED_DELETING"]
    assert wait_gone(xnat, url)
    assert listing(xnat)[1] == []


def test_delete_takes_src_in_the_query_and_refuses_unknown_sessions(xnat, double):
    store_ct_small(double, "ORTHANC", "XNAT")
    url = listing(xnat)[1][0]["url"]
    assert call(xnat, "POST", "/data/services/prearchive/delete", params={"src": url}).status_code == 200
    assert wait_gone(xnat, url)
    assert delete(xnat, url).status_code == 500  # gone: XNAT's setStatus fails
    assert delete(xnat, "/archive/projects/X").status_code == 500
    user = requests.Session()
    user.auth = double.user
    user.base = double.url
    assert delete(user, "/prearchive/projects/Unassigned/20250101_000000000/X").status_code == 403


def test_a_receiver_switched_to_drop_accepts_but_archives_nothing(xnat, double):
    double.test_call("POST", "/test/archive", {"aeTitle": "XNAT", "port": double.builtin_port, "archive": False})
    ds = store_ct_small(double, "ORTHANC", "XNAT")  # association and C-STORE succeed
    assert ds.SOPInstanceUID in [r["sopInstanceUid"] for r in double.test_call("GET", "/test/received")]
    assert listing(xnat)[1] == []
    double.test_call("POST", "/test/archive", {"aeTitle": "XNAT", "port": double.builtin_port, "archive": True})
    store_ct_small(double, "ORTHANC", "XNAT")
    assert len(listing(xnat)[1]) == 1


def test_reset_empties_the_prearchive_and_the_drop_switch(xnat, double):
    double.test_call("POST", "/test/archive", {"aeTitle": "XNAT", "port": double.builtin_port, "archive": False})
    double.reset()
    store_ct_small(double, "ORTHANC", "XNAT")
    assert len(listing(xnat)[1]) == 1
    double.reset()
    assert listing(xnat)[1] == []


def test_an_import_lands_in_its_project_prearchive(lab, lab_xnat, lab_study):
    """A real C-MOVE from Orthanc: the study arrives under the import's project."""
    resp = call(lab_xnat, "POST", "/xapi/dqr/import", json={
        "pacsId": lab_xnat.pacs_id, "aeTitle": lab.RECEIVER_AE, "port": lab.RECEIVER_PORT,
        "projectId": "SMOKE", "studies": [{"studyInstanceUid": lab_study.StudyInstanceUID}]})
    if resp.status_code != 200:
        pytest.fail(resp.text)
    deadline = time.monotonic() + 20
    rows = []
    while time.monotonic() < deadline:
        rows = listing(lab_xnat, tag=lab_study.StudyInstanceUID)[1] or []
        if rows:
            break
        time.sleep(0.2)
    assert [(r["project"], r["tag"]) for r in rows] == [("SMOKE", lab_study.StudyInstanceUID)]
    assert rows[0]["url"].startswith("/prearchive/projects/SMOKE/")
    assert delete(lab_xnat, rows[0]["url"]).status_code == 200
    assert wait_gone(lab_xnat, rows[0]["url"])


assert doublectl  # imported for its path set-up
