"""The XNAT double's DQR plugin revisions (dqr1, dqr2, dqr3), the window-owner rule and
the session count, against ../shared/docs/xnat-dqr-api.md."""

import os
import subprocess
import sys

import pytest
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import doublectl  # noqa: E402

PACS = {"aeTitle": "GH_PACS", "host": "pacs1.test", "queryRetrievePort": 4242, "label": "GH",
        "queryable": True, "storable": False, "ormStrategySpringBeanId": "dicomOrmStrategy"}
DAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]


def use(double, revision, drop=()):
    """Reset the double and switch it to a revision; returns an admin requests.Session."""
    double.reset()
    assert double.test_call("POST", "/test/revision", {"revision": revision, "dropFields": list(drop)}) == \
        {"revision": revision, "dropFields": list(drop)}
    session = requests.Session()
    session.auth = double.admin
    return session


def call(double, session, method, path, **kwargs):
    return session.request(method, double.url + path, timeout=10, **kwargs)


def make_pacs(double, session, **fields):
    resp = call(double, session, "POST", "/xapi/pacs", json=dict(PACS, **fields))
    assert resp.status_code == 200, resp.text
    return resp.json()


def window(day="MONDAY", start="0:00", end="24:00", threads=1, util=100, **extra):
    return dict({"dayOfWeek": day, "availabilityStart": start, "availabilityEnd": end, "threads": threads,
                 "utilizationPercent": util}, **extra)


@pytest.fixture(autouse=True)
def back_to_default(double):
    yield
    double.reset()


def test_cli_flag_and_reset_restore_the_revision(tmp_path):
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "xnat_double.py"), "--port", "0",
                             "--revision", "dqr1", "--builtin-receiver-port", "0",
                             "--storage-dir", str(tmp_path), "--users", "admin:admin:pw"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("READY port="), line
        url = "http://127.0.0.1:%d" % int(line.split("=")[1])
        assert requests.get(url + "/test/revision", timeout=5).json() == {"revision": "dqr1", "dropFields": []}
        assert requests.get(url + "/xapi/pacs", auth=("admin", "pw"), timeout=5).status_code == 400
        requests.post(url + "/test/revision", json={"revision": "dqr3"}, timeout=5).raise_for_status()
        requests.post(url + "/test/reset", timeout=5).raise_for_status()
        assert requests.get(url + "/test/revision", timeout=5).json()["revision"] == "dqr1"
        assert requests.post(url + "/test/revision", json={"revision": "dqr9"}, timeout=5).status_code == 400
    finally:
        proc.terminate()
        proc.wait(5)
        proc.stdout.close()


def test_default_revision_is_dqr2(double):
    double.reset()
    assert double.test_call("GET", "/test/revision") == {"revision": "dqr2", "dropFields": []}


# ------------------------------------------------------------------------ dqr1
def test_dqr1_strict_list_settings_path_and_ae_unique(double):
    xnat = use(double, "dqr1")
    made = make_pacs(double, xnat)
    assert call(double, xnat, "GET", "/xapi/pacs").status_code == 400
    assert call(double, xnat, "GET", "/xapi/pacs?storable=true").status_code == 400
    listed = call(double, xnat, "GET", "/xapi/pacs?storable=false&queryable=true")
    assert listed.status_code == 200 and [p["id"] for p in listed.json()] == [made["id"]]
    assert call(double, xnat, "GET", "/xapi/dqr/settings").status_code == 404
    assert call(double, xnat, "GET", "/xapi/dqr").json()["dqrCallingAe"] == "XNAT"
    assert call(double, xnat, "POST", "/xapi/dqr", json={"dqrCallingAe": "OLD"}).status_code == 200
    assert call(double, xnat, "GET", "/xapi/dqr").json()["dqrCallingAe"] == "OLD"
    # aeTitle alone is unique; label and the triple are not checked
    assert call(double, xnat, "POST", "/xapi/pacs", json=dict(PACS, host="other.test", label="X")).status_code == 500
    assert call(double, xnat, "POST", "/xapi/pacs", json=dict(PACS, aeTitle="OTHER")).status_code == 200


def test_dqr1_put_replaces_the_whole_pacs_and_receiver(double):
    xnat = use(double, "dqr1")
    made = make_pacs(double, xnat, supportsExtendedNegotiations=True)
    resp = call(double, xnat, "PUT", "/xapi/pacs/%d" % made["id"], json={"host": "pacs2.test"})
    assert resp.status_code == 200
    blanked = call(double, xnat, "GET", "/xapi/pacs/%d" % made["id"]).json()
    assert blanked["host"] == "pacs2.test"
    assert "aeTitle" not in blanked and "label" not in blanked and "queryRetrievePort" not in blanked
    assert blanked["supportsExtendedNegotiations"] is False and blanked["created"] == made["created"]
    whole = dict(PACS, host="pacs3.test", supportsExtendedNegotiations=True)
    call(double, xnat, "PUT", "/xapi/pacs/%d" % made["id"], json=whole).raise_for_status()
    kept = call(double, xnat, "GET", "/xapi/pacs/%d" % made["id"]).json()
    assert {k: kept.get(k) for k in whole} == whole

    scp = call(double, xnat, "POST", "/xapi/dicomscp", json={
        "aeTitle": "DQR1", "port": doublectl.free_port(), "whitelistEnabled": True, "whitelist": ["A"]}).json()
    resp = call(double, xnat, "PUT", "/xapi/dicomscp/%d" % scp["id"],
                json={"aeTitle": "DQR1", "port": scp["port"], "identifier": "dqrObjectIdentifier"})
    assert resp.status_code == 200
    assert (resp.json()["whitelistEnabled"], resp.json()["whitelist"]) == (False, [])


# ------------------------------------------------------------------ dqr2, dqr3
@pytest.mark.parametrize("revision", ["dqr2", "dqr3"])
def test_newer_revisions_merge_and_check_label_and_triple(double, revision):
    xnat = use(double, revision)
    made = make_pacs(double, xnat, supportsExtendedNegotiations=True)
    assert call(double, xnat, "GET", "/xapi/pacs").status_code == 200
    assert call(double, xnat, "GET", "/xapi/dqr").status_code == 404
    assert call(double, xnat, "GET", "/xapi/dqr/settings").status_code == 200
    call(double, xnat, "PUT", "/xapi/pacs/%d" % made["id"], json={"host": "pacs2.test"}).raise_for_status()
    merged = call(double, xnat, "GET", "/xapi/pacs/%d" % made["id"]).json()
    assert (merged["host"], merged["aeTitle"], merged["label"], merged["supportsExtendedNegotiations"]) == \
        ("pacs2.test", "GH_PACS", "GH", True)
    assert call(double, xnat, "POST", "/xapi/pacs", json=dict(PACS, aeTitle="X")).status_code == 500  # label
    assert call(double, xnat, "POST", "/xapi/pacs", json=dict(PACS, host="pacs2.test", label="Y")).status_code == 500
    assert call(double, xnat, "POST", "/xapi/pacs", json=dict(PACS, label="Z")).status_code == 200  # same AE


def test_dqr3_precreates_seven_windows_so_a_post_overlaps(double):
    xnat = use(double, "dqr3")
    made = make_pacs(double, xnat)
    base = "/xapi/pacs/%d/availability" % made["id"]
    days = call(double, xnat, "GET", base).json()
    assert [[(w["availabilityStart"], w["availabilityEnd"], w["threads"], w["utilizationPercent"], w["pacsId"])
             for w in days[d]] for d in DAYS] == [[("00:00", "00:00", 1, 100, made["id"])]] * 7
    resp = call(double, xnat, "POST", base, json=window(start="19:00"))
    assert resp.status_code == 400 and "overlap" in resp.text


@pytest.mark.parametrize("revision", ["dqr1", "dqr2"])
def test_older_revisions_create_no_windows(double, revision):
    xnat = use(double, revision)
    made = make_pacs(double, xnat)
    assert call(double, xnat, "GET", "/xapi/pacs/%d/availability" % made["id"]).json() == {d: [] for d in DAYS}


# -------------------------------------------------------- windows, every revision
@pytest.mark.parametrize("revision", ["dqr1", "dqr2", "dqr3"])
def test_window_put_takes_the_owner_from_the_body(double, revision):
    xnat = use(double, revision)
    made = make_pacs(double, xnat)
    base = "/xapi/pacs/%d/availability" % made["id"]
    for day in call(double, xnat, "GET", base).json().values():
        for old in day:
            call(double, xnat, "DELETE", "%s/%d" % (base, old["id"])).raise_for_status()
    created = call(double, xnat, "POST", base, json=window(start="19:00")).json()
    path = "%s/%d" % (base, created["id"])
    same = call(double, xnat, "PUT", path, json=dict(created))
    assert same.status_code == 304
    owned = call(double, xnat, "PUT", path, json=dict(created, threads=2))
    assert owned.status_code == 200 and owned.json()["pacsId"] == made["id"]
    bare = call(double, xnat, "PUT", path, json={"threads": 3})  # no pacsId: reads as 0
    assert bare.status_code == 200 and bare.json()["pacsId"] == 0
    assert call(double, xnat, "GET", base).json()["MONDAY"] == []
    assert call(double, xnat, "GET", path).status_code == 404
    assert [(w["id"], w["pacsId"]) for w in double.test_call("GET", "/test/windows")] == [(created["id"], 0)]


@pytest.mark.parametrize("revision", ["dqr1", "dqr3"])
def test_window_put_trims_overlaps_silently_and_post_refuses_them(double, revision):
    xnat = use(double, revision)
    made = make_pacs(double, xnat)
    base = "/xapi/pacs/%d/availability" % made["id"]
    for day in call(double, xnat, "GET", base).json().values():
        for old in day:
            call(double, xnat, "DELETE", "%s/%d" % (base, old["id"])).raise_for_status()
    early = call(double, xnat, "POST", base, json=window(start="0:00", end="8:00")).json()
    late = call(double, xnat, "POST", base, json=window(start="18:00", end="20:00")).json()
    inner = call(double, xnat, "POST", base, json=window(start="10:00", end="11:00")).json()
    assert call(double, xnat, "POST", base, json=window(start="7:00", end="9:00")).status_code == 400
    moved = call(double, xnat, "PUT", "%s/%d" % (base, inner["id"]),
                 json=dict(inner, availabilityStart="06:00", availabilityEnd="19:00"))
    assert moved.status_code == 200
    monday = call(double, xnat, "GET", base).json()["MONDAY"]
    assert [(w["id"], w["availabilityStart"], w["availabilityEnd"]) for w in monday] == [
        (early["id"], "00:00", "06:00"), (inner["id"], "06:00", "19:00"), (late["id"], "19:00", "20:00")]
    swallowed = call(double, xnat, "PUT", "%s/%d" % (base, inner["id"]),
                     json=dict(inner, availabilityStart="00:00", availabilityEnd="24:00"))
    assert swallowed.status_code == 200
    assert [w["id"] for w in call(double, xnat, "GET", base).json()["MONDAY"]] == [inner["id"]]


# -------------------------------------------------------------------- sessions, fields
def test_sessions_counted_per_basic_call_and_closed(double):
    double.reset()
    start = double.test_call("GET", "/test/sessions")
    assert start == {"created": 0, "open": 0}
    for _ in range(3):
        requests.get(double.url + "/xapi/pacs", auth=double.admin, timeout=5).raise_for_status()
    assert double.test_call("GET", "/test/sessions")["created"] == 3
    resp = requests.post(double.url + "/data/JSESSION", auth=double.admin, timeout=5)
    session_id = resp.text
    assert double.test_call("GET", "/test/sessions") == {"created": 4, "open": 4}
    for _ in range(3):
        requests.get(double.url + "/xapi/pacs", cookies={"JSESSIONID": session_id}, timeout=5).raise_for_status()
    assert double.test_call("GET", "/test/sessions")["created"] == 4
    requests.delete(double.url + "/data/JSESSION", cookies={"JSESSIONID": session_id},
                    timeout=5).raise_for_status()
    assert double.test_call("GET", "/test/sessions") == {"created": 4, "open": 3}
    assert requests.get(double.url + "/xapi/pacs", cookies={"JSESSIONID": session_id},
                        timeout=5).status_code == 401


def test_drop_fields_are_ignored_silently(double):
    xnat = use(double, "dqr2", drop=["defaultStoragePacs", "whitelist"])
    made = make_pacs(double, xnat, defaultStoragePacs=True)
    assert made["defaultStoragePacs"] is False and made["storable"] is False
    scp = call(double, xnat, "POST", "/xapi/dicomscp",
               json={"aeTitle": "DROP", "port": doublectl.free_port(), "whitelist": ["A"]}).json()
    assert scp["whitelist"] == []
