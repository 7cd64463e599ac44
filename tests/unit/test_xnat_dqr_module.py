"""The xnat_dqr module run as Ansible runs it (a subprocess with an args file) against the
XNAT double on loopback."""

import json
import os
import socket
import sys

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULE = os.path.join(ROOT, "roles", "xnat_dqr", "library", "xnat_dqr.py")
sys.path.insert(0, os.path.join(ROOT, "tests", "xnat_double"))
import doublectl  # noqa: E402
from module_run import run_module_file  # noqa: E402

WINDOWS = [
    {"dayOfWeek": "MONDAY", "availabilityStart": "19:00", "availabilityEnd": "00:00", "threads": 2,
     "utilizationPercent": 80},
    {"dayOfWeek": "TUESDAY", "availabilityStart": "19:00", "availabilityEnd": "00:00", "threads": 2,
     "utilizationPercent": 80},
]


@pytest.fixture
def xnat(double):
    double.reset()
    return double


def args_for(double, **changes):
    args = {"name": "XNAT_RESEARCH", "url": double.url, "username": double.admin[0],
            "password": double.admin[1], "timeout": 5, "pacs_ae_title": "GH_PACS",
            "pacs_host": "pacs1.test", "pacs_port": 4242, "pacs_label": "GH_PACS",
            "queryable": True, "storable": True, "default_query_retrieve": True,
            "receiver_aet": "XNAT_RESEARCH", "receiver_port": doublectl.free_port(),
            "windows": WINDOWS, "dqr_settings": {"dqrCallingAe": "XNAT_RESEARCH", "notifyAdminOnImport": True}}
    args.update(changes)
    return args


def run(args, check=False, tmp_path=None):
    return run_module_file(MODULE, args, tmp_path, check=check)


def admin_get(double, path):
    resp = requests.get(double.url + path, auth=double.admin, timeout=5)
    resp.raise_for_status()
    return resp.json()


def test_first_run_creates_second_changes_nothing(xnat, tmp_path):
    args = args_for(xnat)
    first = run(args, tmp_path=tmp_path)
    assert first.get("failed") is not True, first
    assert first["changed"] is True
    assert first["pacs_id"] > 1 and first["receiver_id"] > 1
    pacs = admin_get(xnat, "/xapi/pacs/%d" % first["pacs_id"])
    assert (pacs["aeTitle"], pacs["host"], pacs["queryRetrievePort"], pacs["label"]) == \
        ("GH_PACS", "pacs1.test", 4242, "GH_PACS")
    assert pacs["defaultQueryRetrievePacs"] is True and pacs["ormStrategySpringBeanId"] == "dicomOrmStrategy"
    receiver = admin_get(xnat, "/xapi/dicomscp/%d" % first["receiver_id"])
    assert (receiver["aeTitle"], receiver["port"], receiver["identifier"], receiver["enabled"]) == \
        ("XNAT_RESEARCH", args["receiver_port"], "dqrObjectIdentifier", True)
    days = admin_get(xnat, "/xapi/pacs/%d/availability" % first["pacs_id"])
    assert [(w["availabilityStart"], w["threads"]) for w in days["MONDAY"]] == [("19:00", 2)]
    assert days["WEDNESDAY"] == []
    settings = admin_get(xnat, "/xapi/dqr/settings")
    assert settings["dqrCallingAe"] == "XNAT_RESEARCH" and settings["notifyAdminOnImport"] is True

    writes_before = len(xnat.writes())
    second = run(args, tmp_path=tmp_path)
    assert second["changed"] is False, second["changes"]
    assert second["summary"].endswith("up to date")
    assert (second["pacs_id"], second["receiver_id"]) == (first["pacs_id"], first["receiver_id"])
    assert len(xnat.writes()) == writes_before

    run(args, tmp_path=tmp_path)
    assert len(admin_get(xnat, "/xapi/pacs")) == 1
    assert len([s for s in admin_get(xnat, "/xapi/dicomscp") if s["aeTitle"] == "XNAT_RESEARCH"]) == 1


def test_default_windows_are_seven_full_days(xnat, tmp_path):
    result = run(args_for(xnat, windows=[]), tmp_path=tmp_path)
    days = admin_get(xnat, "/xapi/pacs/%d/availability" % result["pacs_id"])
    assert all([(w["availabilityStart"], w["availabilityEnd"]) for w in days[d]] == [("00:00", "00:00")]
               for d in days)


def test_host_change_updates_in_place(xnat, tmp_path):
    args = args_for(xnat)
    first = run(args, tmp_path=tmp_path)
    moved = run(dict(args, pacs_host="pacs2.test"), tmp_path=tmp_path)
    assert moved["changed"] is True
    assert moved["pacs_id"] == first["pacs_id"]
    assert moved["changes"] == ["update PACS GH_PACS (id %d): host 'pacs1.test' -> 'pacs2.test'" % first["pacs_id"]]
    assert [p["host"] for p in admin_get(xnat, "/xapi/pacs")] == ["pacs2.test"]
    writes = xnat.writes()
    assert writes[-1] == {"method": "PUT", "path": "/xapi/pacs/%d" % first["pacs_id"], "status": 200}


def test_schedule_change_deletes_before_adding_and_updates(xnat, tmp_path):
    args = args_for(xnat)
    first = run(args, tmp_path=tmp_path)
    new = [dict(WINDOWS[0], threads=4),   # same span: update in place
           {"dayOfWeek": "TUESDAY", "availabilityStart": "18:00", "availabilityEnd": "00:00", "threads": 1,
            "utilizationPercent": 100}]   # overlaps the old Tuesday window: delete first
    result = run(dict(args, windows=new), tmp_path=tmp_path)
    assert result.get("failed") is not True, result
    assert result["changes"] == ["remove window TUESDAY 19:00-24:00 threads 2 utilization 80%",
                                 "update window MONDAY 19:00-24:00 threads 4 utilization 80%",
                                 "add window TUESDAY 18:00-24:00 threads 1 utilization 100%"]
    days = admin_get(xnat, "/xapi/pacs/%d/availability" % first["pacs_id"])
    assert [(w["availabilityStart"], w["threads"]) for w in days["TUESDAY"]] == [("18:00", 1)]
    assert run(dict(args, windows=new), tmp_path=tmp_path)["changed"] is False


def test_check_mode_writes_nothing_and_reports_diff(xnat, tmp_path):
    args = args_for(xnat)
    planned = run(args, check=True, tmp_path=tmp_path)
    assert planned["changed"] is True
    assert planned["pacs_id"] is None
    assert "create PACS GH_PACS (GH_PACS@pacs1.test:4242)" in planned["changes"]
    assert planned["diff"]["before"]["pacs"] is None
    assert planned["diff"]["after"]["pacs"]["host"] == "pacs1.test"
    assert xnat.writes() == []
    run(args, tmp_path=tmp_path)
    count = len(xnat.writes())
    planned = run(dict(args, pacs_host="pacs9.test", dqr_settings={"dqrCallingAe": "OTHER"}),
                  check=True, tmp_path=tmp_path)
    assert planned["changed"] is True and len(planned["changes"]) == 2
    assert planned["diff"]["before"]["pacs"]["host"] == "pacs1.test"
    assert len(xnat.writes()) == count


def test_disabled_receiver_is_enabled_and_identifier_fixed(xnat, tmp_path):
    args = args_for(xnat)
    created = requests.post(xnat.url + "/xapi/dicomscp", auth=xnat.admin, timeout=5, json={
        "aeTitle": "XNAT_RESEARCH", "port": args["receiver_port"], "enabled": False}).json()
    result = run(args, tmp_path=tmp_path)
    assert result["receiver_id"] == created["id"]
    receiver = admin_get(xnat, "/xapi/dicomscp/%d" % created["id"])
    assert receiver["enabled"] is True and receiver["identifier"] == "dqrObjectIdentifier"


def test_settings_compare_normalised(xnat, tmp_path):
    args = args_for(xnat, dqr_settings={"dqrMaxPacsRequestAttempts": 5, "allowAllUsersToUseDqr": False})
    result = run(args, tmp_path=tmp_path)
    assert not any("settings" in c for c in result["changes"])


def test_500_on_create_explains_disabled_pacs(xnat, tmp_path):
    requests.post(xnat.url + "/xapi/pacs", auth=xnat.admin, timeout=5, json={
        "aeTitle": "OLD", "host": "old.test", "label": "GH_PACS", "enabled": False,
        "ormStrategySpringBeanId": "dicomOrmStrategy"}).raise_for_status()
    result = run(args_for(xnat), tmp_path=tmp_path)
    assert result["failed"] is True
    assert result["msg"].startswith("XNAT XNAT_RESEARCH (%s): POST /xapi/pacs failed with HTTP 500." % xnat.url)
    assert "disabled state" in result["msg"]


def test_401_names_the_vault(xnat, tmp_path):
    result = run(args_for(xnat, password="wrong"), tmp_path=tmp_path)
    assert result["failed"] is True
    assert "XNAT XNAT_RESEARCH (%s): POST /data/JSESSION failed with HTTP 401" % xnat.url in result["msg"]
    assert "vaulted password" in result["msg"]
    assert "wrong" not in json.dumps(result).replace("password", "")


def test_403_needs_site_admin(xnat, tmp_path):
    result = run(args_for(xnat, username=xnat.user[0], password=xnat.user[1]), tmp_path=tmp_path)
    assert result["failed"] is True
    assert "POST /xapi/pacs failed with HTTP 403" in result["msg"]
    assert "'bob' must be a site administrator" in result["msg"]


def test_injected_500_on_put(xnat, tmp_path):
    args = args_for(xnat)
    run(args, tmp_path=tmp_path)
    xnat.test_call("POST", "/test/fault", {"status": 500, "count": 1, "method": "PUT", "path": "/xapi/pacs"})
    result = run(dict(args, pacs_host="pacs3.test"), tmp_path=tmp_path)
    assert result["failed"] is True
    assert "PUT /xapi/pacs/" in result["msg"] and "refused the update" in result["msg"]
    assert result["changes"]  # what was attempted is reported


def test_unreachable(tmp_path):
    port = doublectl.free_port()
    args = args_for(type("D", (), {"url": "http://127.0.0.1:%d" % port, "admin": ("a", "b")}))
    result = run(args, tmp_path=tmp_path)
    assert result["failed"] is True
    assert "POST /data/JSESSION failed with no answer" in result["msg"]
    assert "check the url, DNS and any firewall" in result["msg"]


def test_timeout(tmp_path):
    """A server that accepts and never answers: the configured timeout applies."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(5)
    try:
        url = "http://127.0.0.1:%d" % sock.getsockname()[1]
        args = args_for(type("D", (), {"url": url, "admin": ("a", "b")}), timeout=1)
        result = run(args, tmp_path=tmp_path)
    finally:
        sock.close()
    assert result["failed"] is True
    assert "no answer within 1s" in result["msg"]


@pytest.mark.parametrize("changes,fragment", [
    ({"url": "xnat.test"}, "url must start with http:// or https://"),
    ({"receiver_port": 70000}, "receiver_port must be 1-65535"),
    ({"pacs_port": "abc"}, "pacs_port"),
    ({"pacs_label": None}, "missing required arguments: pacs_label"),
    ({"timeout": 0}, "timeout must be a positive number"),
    ({"windows": [{"dayOfWeek": "MONDAY", "availabilityStart": "08:00", "availabilityEnd": "12:00"},
                  {"dayOfWeek": "MONDAY", "availabilityStart": "11:00", "availabilityEnd": "13:00"}]},
     "windows overlap"),
])
def test_argument_errors(xnat, tmp_path, changes, fragment):
    args = args_for(xnat)
    for key, value in changes.items():
        if value is None:
            args.pop(key)
        else:
            args[key] = value
    result = run(args, tmp_path=tmp_path)
    assert result["failed"] is True
    assert fragment in result["msg"]
    assert xnat.writes() == []


# ------------------------------------------------------------ plugin revisions
# The same module against each DQR revision of the double (tests/xnat_double/xnat_double.py):
# dqr1 (settings at /xapi/dqr, strict GET /xapi/pacs, whole-replace PUT, aeTitle unique),
# dqr2 (merge PUT), dqr3 (XNAT 1.10: seven windows pre-created with each PACS).
REVISIONS = ("dqr1", "dqr2", "dqr3")
FULL_DAYS = [{"dayOfWeek": day, "availabilityStart": "00:00", "availabilityEnd": "24:00", "threads": 1,
              "utilizationPercent": 100} for day in
             ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")]
ADMIN_EDITED = [  # what an administrator may have clicked together in the UI
    {"dayOfWeek": "MONDAY", "availabilityStart": "00:00", "availabilityEnd": "19:30", "threads": 5,
     "utilizationPercent": 50},
    {"dayOfWeek": "TUESDAY", "availabilityStart": "19:00", "availabilityEnd": "24:00", "threads": 1,
     "utilizationPercent": 100},
    {"dayOfWeek": "WEDNESDAY", "availabilityStart": "10:00", "availabilityEnd": "11:00", "threads": 1,
     "utilizationPercent": 100},
]


@pytest.fixture(params=REVISIONS)
def rev(request, double):
    """The double reset and switched to one plugin revision."""
    double.reset()
    double.test_call("POST", "/test/revision", {"revision": request.param})
    double.revision = request.param
    yield double
    double.reset()


def sessions(double):
    return double.test_call("GET", "/test/sessions")


def run_counting_sessions(double, args, tmp_path, check=False):
    """Run the module; returns (result, sessions it created, sessions it left open).
    (The tests' own Basic-auth calls make sessions too, so only the difference counts.)"""
    before = sessions(double)
    result = run(args, check=check, tmp_path=tmp_path)
    after = sessions(double)
    return result, after["created"] - before["created"], after["open"] - before["open"]


def schedule(double, pacs_id):
    """The PACS's windows as (day, start, end, threads, utilization), in listing order."""
    days = admin_get(double, "/xapi/pacs/%d/availability" % pacs_id)
    return [(w["dayOfWeek"], w["availabilityStart"], w["availabilityEnd"], w["threads"], w["utilizationPercent"])
            for day in days for w in days[day]]


def as_stored(windows):
    return [(w["dayOfWeek"], w["availabilityStart"], "00:00" if w["availabilityEnd"] in ("24:00", "00:00")
             else w["availabilityEnd"], w["threads"], w["utilizationPercent"]) for w in windows]


def orphans(double, pacs_id):
    """Windows XNAT stores that are not on this PACS (moved to no PACS by a bare PUT)."""
    return [w for w in double.test_call("GET", "/test/windows") if w["pacsId"] != pacs_id]


def test_revision_first_registration_rerun_and_one_session(rev, tmp_path):
    args = args_for(rev)
    first, made, left = run_counting_sessions(rev, args, tmp_path)
    assert first.get("failed") is not True, first
    assert first["changed"] is True
    assert (made, left) == (1, 0)
    pacs = admin_get(rev, "/xapi/pacs/%d" % first["pacs_id"])
    assert {k: pacs.get(k) for k in ("aeTitle", "host", "queryRetrievePort", "label", "queryable", "storable",
                                     "defaultQueryRetrievePacs", "ormStrategySpringBeanId")} == {
        "aeTitle": "GH_PACS", "host": "pacs1.test", "queryRetrievePort": 4242, "label": "GH_PACS",
        "queryable": True, "storable": True, "defaultQueryRetrievePacs": True,
        "ormStrategySpringBeanId": "dicomOrmStrategy"}
    assert schedule(rev, first["pacs_id"]) == as_stored(WINDOWS)
    assert orphans(rev, first["pacs_id"]) == []
    settings_path = "/xapi/dqr" if rev.revision == "dqr1" else "/xapi/dqr/settings"
    assert admin_get(rev, settings_path)["dqrCallingAe"] == "XNAT_RESEARCH"
    if rev.revision == "dqr3":  # the seven pre-created windows were replaced, not overlapped
        assert "remove window MONDAY 00:00-24:00 threads 1 utilization 100%" in first["changes"]
    assert all(r["status"] < 300 or (r["method"], r["status"]) == ("GET", 404)
               or (r["path"], r["status"]) == ("/xapi/pacs", 400)
               for r in rev.test_call("GET", "/test/requests")), "no write was refused"

    writes = len(rev.writes())
    second, made, left = run_counting_sessions(rev, args, tmp_path)
    assert second["changed"] is False, second["changes"]
    assert len(rev.writes()) == writes
    assert (made, left) == (1, 0)


def test_revision_detection_without_settings(rev, tmp_path):
    run(args_for(rev), tmp_path=tmp_path)
    log = rev.test_call("GET", "/test/requests")
    bare = [r["status"] for r in log if r["method"] == "GET" and r["path"] == "/xapi/pacs"]
    if rev.revision == "dqr1":
        assert bare[0] == 400 and 200 in bare  # retried with storable/queryable
        assert {"method": "POST", "path": "/xapi/dqr", "status": 200} in log
    else:
        assert set(bare) == {200}
        assert {"method": "POST", "path": "/xapi/dqr/settings", "status": 200} in log


@pytest.mark.parametrize("start", ["nothing", "ui_defaults", "admin_edited"])
def test_revision_schedule_converges_from_any_start(rev, tmp_path, start):
    args = args_for(rev)
    want = {k: args[k] for k in ("queryable", "storable")}
    created = requests.post(rev.url + "/xapi/pacs", auth=rev.admin, timeout=5, json=dict(
        want, aeTitle="GH_PACS", host="pacs1.test", queryRetrievePort=4242, label="GH_PACS",
        defaultQueryRetrievePacs=True, ormStrategySpringBeanId="dicomOrmStrategy")).json()
    base = rev.url + "/xapi/pacs/%d/availability" % created["id"]
    for day in requests.get(base, auth=rev.admin, timeout=5).json().values():  # DQR 3.0's pre-created ones
        for window in day:
            requests.delete("%s/%d" % (base, window["id"]), auth=rev.admin, timeout=5).raise_for_status()
    seed = {"nothing": [], "ui_defaults": FULL_DAYS, "admin_edited": ADMIN_EDITED}[start]
    for window in seed:
        requests.post(base, auth=rev.admin, timeout=5, json=window).raise_for_status()

    result = run(args, tmp_path=tmp_path)
    assert result.get("failed") is not True, result
    assert result["pacs_id"] == created["id"]
    assert schedule(rev, created["id"]) == as_stored(WINDOWS)
    assert orphans(rev, created["id"]) == []
    assert not [r for r in rev.test_call("GET", "/test/requests") if r["status"] == 400 and r["method"] != "GET"]

    writes = len(rev.writes())
    assert run(args, tmp_path=tmp_path)["changed"] is False
    assert len(rev.writes()) == writes

    # threads and utilization change in place: the PUT carries pacsId, nothing is orphaned
    changed = [dict(w, threads=3, utilizationPercent=60) for w in WINDOWS]
    result = run(dict(args, windows=changed), tmp_path=tmp_path)
    assert result.get("failed") is not True, result
    assert [c for c in result["changes"] if c.startswith("update window")] == [
        "update window MONDAY 19:00-24:00 threads 3 utilization 60%",
        "update window TUESDAY 19:00-24:00 threads 3 utilization 60%"]
    assert schedule(rev, created["id"]) == as_stored(changed)
    assert orphans(rev, created["id"]) == []
    assert run(dict(args, windows=changed), tmp_path=tmp_path)["changed"] is False

    # back to XNAT's default of seven full days
    assert run(dict(args, windows=[]), tmp_path=tmp_path).get("failed") is not True
    assert schedule(rev, created["id"]) == as_stored(FULL_DAYS)
    assert orphans(rev, created["id"]) == []


def test_revision_update_keeps_unmanaged_fields(rev, tmp_path):
    """A whole-replace PUT (dqr1) must not blank what the role does not manage."""
    args = args_for(rev)
    first = run(args, tmp_path=tmp_path)
    path = "/xapi/pacs/%d" % first["pacs_id"]
    current = admin_get(rev, path)
    requests.put(rev.url + path, auth=rev.admin, timeout=5,
                 json=dict(current, supportsExtendedNegotiations=True)).raise_for_status()
    moved = run(dict(args, pacs_host="pacs2.test"), tmp_path=tmp_path)
    assert moved.get("failed") is not True, moved
    pacs = admin_get(rev, path)
    assert (pacs["host"], pacs["aeTitle"], pacs["label"], pacs["supportsExtendedNegotiations"]) == \
        ("pacs2.test", "GH_PACS", "GH_PACS", True)


def test_revision_receiver_fixed_with_whole_body(rev, tmp_path):
    args = args_for(rev)
    created = requests.post(rev.url + "/xapi/dicomscp", auth=rev.admin, timeout=5, json={
        "aeTitle": "XNAT_RESEARCH", "port": args["receiver_port"], "enabled": False,
        "whitelistEnabled": True, "whitelist": ["GH_PACS"]}).json()
    result = run(args, tmp_path=tmp_path)
    assert result.get("failed") is not True, result
    receiver = admin_get(rev, "/xapi/dicomscp/%d" % created["id"])
    assert (receiver["aeTitle"], receiver["port"], receiver["identifier"], receiver["enabled"]) == \
        ("XNAT_RESEARCH", args["receiver_port"], "dqrObjectIdentifier", True)
    assert receiver["whitelist"] == ["GH_PACS"] and receiver["whitelistEnabled"] is True


@pytest.mark.parametrize("field", ["defaultQueryRetrievePacs", "storable"])
def test_revision_field_not_kept_fails_naming_it(rev, tmp_path, field):
    rev.test_call("POST", "/test/revision", {"revision": rev.revision, "dropFields": [field]})
    result, made, left = run_counting_sessions(rev, args_for(rev), tmp_path)
    assert result["failed"] is True
    assert "did not keep %s of PACS GH_PACS" % field in result["msg"]
    assert "%s: sent true, XNAT returned false" % field in result["msg"]
    assert result["not_kept"] == [field]
    assert rev.admin[1] not in json.dumps(result)
    assert (made, left) == (1, 0)  # closed on failure too


def test_revision_unknown_setting_fails_naming_it(rev, tmp_path):
    result = run(args_for(rev, dqr_settings={"dqrCallingAE": "TYPO"}), tmp_path=tmp_path)
    assert result["failed"] is True
    assert "did not keep dqrCallingAE of DQR settings" in result["msg"]
    assert 'dqrCallingAE: sent "TYPO", XNAT returned null' in result["msg"]


def test_revision_check_mode_sends_only_gets(rev, tmp_path):
    args = args_for(rev)
    planned = run(args, check=True, tmp_path=tmp_path)
    assert planned["changed"] is True
    run(args, tmp_path=tmp_path)
    before = len(rev.test_call("GET", "/test/requests"))
    planned, made, left = run_counting_sessions(
        rev, dict(args, pacs_host="pacs9.test", windows=[], dqr_settings={"dqrCallingAe": "OTHER"}),
        tmp_path, check=True)
    assert planned["changed"] is True and (made, left) == (1, 0)
    calls = rev.test_call("GET", "/test/requests")[before:]
    assert {(r["method"], r["path"]) for r in calls if r["method"] != "GET"} == {
        ("POST", "/data/JSESSION"), ("DELETE", "/data/JSESSION")}



def test_revision_session_id_never_returned(rev, tmp_path):
    result = run(args_for(rev), tmp_path=tmp_path)
    text = json.dumps(result)
    assert "JSESSIONID" not in text and rev.admin[1] not in text
