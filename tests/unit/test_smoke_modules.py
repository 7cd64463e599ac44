"""Tests of the pacs_smoke modules against real peers: pynetdicom SCPs on loopback and
real Orthanc 1.10.1 containers (tests/smoke/pps_env.py; names start with pps-)."""

import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import time

import pytest
import requests
from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIBRARY = os.path.join(ROOT, "roles/pacs_smoke/library")
MODULE_UTILS = os.path.join(ROOT, "roles/pacs_smoke/module_utils")
sys.path.insert(0, os.path.join(ROOT, "tests/smoke"))
import pps_env  # noqa: E402  pylint: disable=wrong-import-position
from module_run import run_module_file  # noqa: E402


def load(name, directory=LIBRARY, as_name=None):
    spec = importlib.util.spec_from_file_location(as_name or "pps_" + name, os.path.join(directory, name + ".py"))
    module = importlib.util.module_from_spec(spec)
    if as_name:
        sys.modules[as_name] = module
    spec.loader.exec_module(module)
    return module


# The modules import the role's module_utils as Ansible ships it with them; register each
# under that name (as Ansible's AnsiballZ payload does) before loading the modules.
UTILS = ("pacs_smoke_checks", "pacs_smoke_dicom", "pacs_smoke_dicomweb", "pacs_smoke_outbound")
SHARED, DICOM, WEB, OUT = (load(name, MODULE_UTILS, "ansible.module_utils." + name) for name in UTILS)
PROBE, WRITE = load("pacs_smoke_probe"), load("pacs_smoke_write")


def run_module(name, args, check_mode=False):
    """Run a module as Ansible does and return its JSON answer."""
    return run_module_file(os.path.join(LIBRARY, name + ".py"), args, check=check_mode,
                           module_utils={n: os.path.join(MODULE_UTILS, n + ".py") for n in UTILS})


def run_echo(checks, timeout, workers=8):
    """The C-ECHO checks as pacs_smoke_probe runs them (defaults filled, concurrently)."""
    return SHARED.run_checks(DICOM.normalise_echo(checks), timeout, workers, DICOM.run_echo)


def run_find(checks, timeout, workers=8):
    """The C-FIND checks as pacs_smoke_probe runs them (defaults filled, concurrently)."""
    return SHARED.run_checks(DICOM.normalise_find(checks), timeout, workers, DICOM.run_find)


@pytest.fixture(scope="session")
def orthanc():
    env = pps_env.Env()
    try:
        yield env.start()
    finally:
        env.stop()


@pytest.fixture(scope="session")
def scp():
    """A pynetdicom Verification SCP on loopback that only knows the calling AE GOOD."""
    ae = AE(ae_title="LOOP_SCP")
    ae.add_supported_context(Verification)
    ae.require_calling_aet = ["GOOD"]
    # Each check first opens a bare TCP connection to the peer (pacs_smoke_checks.tcp_error), which
    # this SCP keeps as an association until its network timeout: its default limit of 10 was
    # reached by the tests of this file within a minute, and later checks were rejected.
    ae.maximum_associations = 100
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_ECHO, lambda e: 0x0000)])
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture()
def silent_port():
    """A TCP port that accepts connections but never answers (a hanging peer)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()


def closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def echo_check(link, port, calling, expect="accept", host="127.0.0.1", called="LOOP_SCP", timeout=None):
    return {"link": link, "check": "echo", "host": host, "port": port, "calling_aet": calling,
            "called_aet": called, "expect": expect, "timeout": timeout}


# --- C-ECHO / C-FIND (module_utils/pacs_smoke_dicom.py) against a loopback SCP ----------

def test_echo_maps_accept_reject_refused_and_timeout(scp, silent_port):
    # The loopback SCP shares this process with seven concurrent checks: under CI load its
    # answer took over 1 s once (a clean-clone CI run, 2026-12-01), so the checks it answers get 5 s;
    # the hanging peer keeps the 1 s default.
    answered = 5.0
    checks = [
        echo_check("ok", scp, "GOOD", timeout=answered),
        echo_check("unknown-must-fail", scp, "STRANGER", timeout=answered),
        echo_check("unknown-refused", scp, "STRANGER", expect="reject", timeout=answered),
        echo_check("good-must-be-refused", scp, "GOOD", expect="reject", timeout=answered),
        echo_check("closed", closed_port(), "GOOD"),
        echo_check("closed-reject", closed_port(), "GOOD", expect="reject"),
        echo_check("hang", silent_port, "GOOD"),
    ]
    res = {r["link"]: r for r in run_echo(checks, 1.0)}
    assert res["ok"]["status"] == "pass", res["ok"]
    assert res["unknown-must-fail"]["status"] == "fail"
    assert "calling AE title not recognised" in res["unknown-must-fail"]["error"]
    assert res["unknown-refused"]["status"] == "pass"
    assert res["good-must-be-refused"]["status"] == "fail"
    assert "must be refused" in res["good-must-be-refused"]["error"]
    assert res["closed"]["status"] == "fail" and "Connection refused" in res["closed"]["error"]
    # An unreachable peer is not a refusal: expect=reject must not turn it green.
    assert res["closed-reject"]["status"] == "fail"
    assert res["hang"]["status"] == "fail" and res["hang"]["duration"] < 5
    assert set(res["ok"]) == {"link", "check", "status", "error", "detail", "duration"}


def test_probe_module_inbound_arguments_and_check_mode(scp):
    def inbound(echo, find=()):
        return {"phases": ["inbound"], "echo_checks": list(echo), "find_checks": list(find)}
    out = run_module("pacs_smoke_probe", inbound([{"link": "x", "host": "127.0.0.1", "port": scp}]))
    assert out["failed"] and "calling_aet" in out["msg"]
    out = run_module("pacs_smoke_probe", inbound([echo_check("x", scp, "GOOD", expect="maybe")]))
    assert out["failed"] and "expect" in out["msg"]
    out = run_module("pacs_smoke_probe", dict(inbound([echo_check("x", scp, "GOOD")]), phases=["tls"]))
    assert out["failed"] and "phases" in out["msg"]
    out = run_module("pacs_smoke_probe", inbound([echo_check("x", scp, "GOOD")],
                                                 [dict(echo_check("f", scp, "GOOD"), check=None)]), check_mode=True)
    assert [(r["check"], r["status"]) for r in out["echo_in"] + out["find_in"]] == [
        ("echo", "skipped"), ("find", "skipped")] and not out["changed"] and out["dicomweb"] == []
    out = run_module("pacs_smoke_probe", inbound([echo_check("x", scp, "GOOD"), echo_check("y", scp, "BAD")]))
    assert [r["status"] for r in out["echo_in"]] == ["pass", "fail"] and out["failed_count"] == 1
    # The loopback SCP knows only Verification: a C-FIND is refused, in the same run.
    out = run_module("pacs_smoke_probe", inbound([echo_check("x", scp, "GOOD")],
                                                 [dict(echo_check("f", scp, "GOOD"), check="find_in")]))
    assert [r["status"] for r in out["echo_in"]] == ["pass"]
    assert [(r["check"], r["status"]) for r in out["find_in"]] == [("find_in", "fail")], out["find_in"]
    assert out["failed_count"] == 1 and out["dicomweb"] == [] and out["study_uid"] == ""
    assert not out.get("failed")


# --- against the real Orthanc 1.10.1 -----------------------------------------------------

def test_orthanc_inbound_echo_behaviour(orthanc):
    """Orthanc 1.10.1 with every DicomAlwaysAllow* false: unknown calling AE -> A-ASSOCIATE-RJ,
    known AE with AllowEcho false -> association accepted, C-ECHO not answered."""
    ip = orthanc.pacs_ip
    checks = [
        echo_check("CT", 4242, "CT1", host=ip, called="PPS_PACS"),
        echo_check("unknown", 4242, "PP_SMOKE_UNKNOWN", host=ip, called="PPS_PACS", expect="reject"),
        echo_check("unknown-accept", 4242, "PP_SMOKE_UNKNOWN", host=ip, called="PPS_PACS"),
        echo_check("noecho", 4242, "NOECHO", host=ip, called="PPS_PACS"),
        echo_check("wrong-called", 4242, "CT1", host=ip, called="PP_SMOKE_WRONG", expect="reject"),
    ]
    res = {r["link"]: r for r in run_echo(checks, 3.0)}
    assert res["CT"]["status"] == "pass"
    assert res["unknown"]["status"] == "pass"
    # DCMTK closes the socket right after its A-ASSOCIATE-RJ; under load the close
    # can reach pynetdicom first and the rejection reads as an abort. Both are a
    # refusal, never a pass.
    assert res["unknown-accept"]["status"] == "fail"
    assert re.search(r"calling AE title not recognised|aborted by the peer",
                     res["unknown-accept"]["error"]), res["unknown-accept"]
    assert res["noecho"]["status"] == "fail" and "no response" in res["noecho"]["error"]
    assert res["wrong-called"]["status"] == "pass"
    assert re.search(r"called AE title not recognised|aborted by the peer",
                     res["wrong-called"]["detail"]), res["wrong-called"]


def test_orthanc_find_refused_where_echo_succeeds(orthanc):
    base = {"host": orthanc.pacs_ip, "port": 4242, "called_aet": "PPS_PACS", "timeout": None,
            "query_level": "STUDY", "study_uid": None}
    checks = [dict(base, link="WS", calling_aet="WS1", expect="accept"),
              dict(base, link="CT", calling_aet="CT1", expect="accept"),
              dict(base, link="CT-refused", calling_aet="CT1", expect="reject")]
    res = {r["link"]: r for r in run_find(checks, 3.0)}
    assert res["WS"]["status"] == "pass" and "0x0000" in res["WS"]["detail"]
    assert res["CT"]["status"] == "fail" and "aborted" in res["CT"]["error"]
    assert res["CT-refused"]["status"] == "pass"


OUTBOUND_CHECKS = [{"modality": "CT_ROOM1", "link": None, "check": None, "expected_offline": False},
                   {"modality": "MR_BROKEN", "link": None, "check": None, "expected_offline": False},
                   {"modality": "US_OLD", "link": None, "check": None, "expected_offline": True},
                   {"modality": "NOT_CONFIGURED", "link": None, "check": None, "expected_offline": True}]


def test_orthanc_outbound_echo_maps_http_errors(orthanc):
    connection = {"url": orthanc.pacs_url, "username": "smoke", "password": "smoke-secret",
                  "validate_certs": True}
    res = {r["link"]: r for r in OUT.run_outbound(OUTBOUND_CHECKS, connection, 2)}
    assert res["CT_ROOM1"]["status"] == "pass" and res["CT_ROOM1"]["check"] == "echo_out"
    assert res["MR_BROKEN"]["status"] == "fail" and "HTTP 500" in res["MR_BROKEN"]["error"]
    assert "Connection refused" in res["MR_BROKEN"]["error"]
    assert res["US_OLD"]["status"] == "skipped" and "expected_offline" in res["US_OLD"]["error"]
    # A modality missing from Orthanc is a configuration error, even when expected offline.
    assert res["NOT_CONFIGURED"]["status"] == "fail" and "HTTP 404" in res["NOT_CONFIGURED"]["error"]
    res = OUT.run_outbound(OUTBOUND_CHECKS, dict(connection, password="wrong"), 2)
    assert all(r["status"] == "fail" and "HTTP 401" in r["error"] for r in res)
    res = OUT.run_outbound(OUTBOUND_CHECKS, dict(connection, url="http://127.0.0.1:%d" % closed_port()), 2)
    assert all(r["status"] == "fail" and "not reachable" in r["error"] for r in res)


@pytest.mark.parametrize("status, body, want", [
    (401, "", ("HTTP 401 from Orthanc's REST API: the smoke credentials are refused", False)),
    (404, '{"Message": "Unknown resource"}', ("HTTP 404: Orthanc has no modality named CT (Unknown resource)", False)),
    (500, '{"Details": "DicomAssociation - connecting to AET \\"CT\\": Connection refused"}',
     ('HTTP 500: DicomAssociation - connecting to AET "CT": Connection refused', True)),
    (502, "bad gateway\n", ("HTTP 502: bad gateway", True)),
])
def test_outbound_answer_errors(status, body, want):
    assert OUT.answer_error(status, body, "CT") == want


def test_probe_runs_outbound_with_the_other_phases(orthanc):
    """The outbound phase in the module, through the REST API of the DICOMweb option, beside
    the inbound phase; check mode sends nothing."""
    ip = orthanc.pacs_ip
    args = probe_args(roundtrip_params(orthanc, remote_servers=[]), phases=("inbound", "outbound"),
                      echo_checks=[dict(echo_check("CT", 4242, "CT1", host=ip, called="PPS_PACS"), check="echo_in")],
                      outbound_checks=[{"modality": "CT_ROOM1"}, {"modality": "US_OLD", "expected_offline": True}])
    out = run_module("pacs_smoke_probe", args)
    assert [(r["link"], r["check"], r["status"]) for r in out["echo_out"]] == [
        ("CT_ROOM1", "echo_out", "pass"), ("US_OLD", "echo_out", "skipped")], out["echo_out"]
    assert [r["status"] for r in out["echo_in"]] == ["pass"] and out["dicomweb"] == [] and out["failed_count"] == 0
    assert "smoke-secret" not in json.dumps(out)
    out = run_module("pacs_smoke_probe", args, check_mode=True)
    assert [(r["link"], r["status"]) for r in out["echo_out"]] == [("CT_ROOM1", "skipped"), ("US_OLD", "skipped")]
    out = run_module("pacs_smoke_probe", {"phases": ["outbound"], "outbound_checks": [{"modality": "CT_ROOM1"}]})
    assert out["failed"] and "phase outbound needs the option dicomweb" in out["msg"]


def roundtrip_params(orthanc, **over):
    params = {"url": orthanc.pacs_url, "dicomweb_root": "/dicom-web/", "username": "smoke",
              "password": "smoke-secret", "validate_certs": True, "timeout": 3, "run_id": "unit",
              "link": "DICOMweb", "patient_name": "PP^SMOKETEST", "patient_id_prefix": "PPSMOKE",
              "remote_servers": [{"name": "research_ok", "smoke_stow": True},
                                 {"name": "research_badpw", "smoke_stow": True},
                                 {"name": "archive_nostow", "smoke_stow": False}]}
    params.update(over)
    return params


def test_dicomweb_roundtrip_and_nothing_left(orthanc):
    before_remote = set(orthanc.studies("modality"))
    trip = WEB.Roundtrip(roundtrip_params(orthanc))
    res = {(r["link"], r["check"]): r for r in trip.run()}
    for key in [("DICOMweb", c) for c in ("http_auth", "stow", "qido", "wado", "cleanup")]:
        assert res[key]["status"] == "pass", res[key]
    assert res[("research_ok", "stow_remote")]["status"] == "pass"
    assert res[("research_badpw", "stow_remote")]["status"] == "fail"
    assert "Bad credentials" in res[("research_badpw", "stow_remote")]["error"]
    assert res[("archive_nostow", "stow_remote")]["status"] == "skipped"
    # The smoke study is gone from the PACS, by Orthanc's REST API and by QIDO-RS.
    assert orthanc.studies() == []
    qido = requests.get(orthanc.pacs_url + "/dicom-web/studies", auth=pps_env.PACS_USER, timeout=3,
                        params={"StudyInstanceUID": trip.uids["study"]})
    assert qido.status_code in (200, 204) and qido.content.strip() in (b"", b"[]")
    # research_ok really received it (the remote copy is not deleted by the module).
    new = set(orthanc.studies("modality")) - before_remote
    assert len(new) == 1
    for study in new:
        requests.delete("http://%s:8042/studies/%s" % (orthanc.modality_ip, study), auth=pps_env.REMOTE_USER,
                        timeout=3)


def test_dicomweb_cleanup_runs_when_a_middle_step_fails(orthanc, monkeypatch):
    def broken_wado(self):
        raise WEB.StepError("injected WADO failure")
    monkeypatch.setattr(WEB.Roundtrip, "step_wado", broken_wado)
    trip = WEB.Roundtrip(roundtrip_params(orthanc, remote_servers=[]))
    res = {r["check"]: r for r in trip.run()}
    assert res["stow"]["status"] == "pass"
    assert res["wado"]["status"] == "fail" and "injected" in res["wado"]["error"]
    assert res["cleanup"]["status"] == "pass"
    assert orthanc.studies() == []


def test_dicomweb_cleanup_removes_leftovers_of_earlier_runs(orthanc):
    payload, _uids, _pixels = WEB.build_instance("PP^SMOKETEST", "PPSMOKE-crashed-run")
    requests.post(orthanc.pacs_url + "/instances", data=payload, auth=pps_env.PACS_USER, timeout=3).raise_for_status()
    assert len(orthanc.studies()) == 1
    res = {r["check"]: r for r in WEB.Roundtrip(roundtrip_params(orthanc, remote_servers=[])).run()}
    assert res["cleanup"]["status"] == "pass" and "deleted 2 test studies" in res["cleanup"]["detail"]
    assert orthanc.studies() == []


def test_dicomweb_cleanup_spares_a_concurrent_run_on_a_shared_database(orthanc):
    """Nodes sharing one database run smoke at once: each keeps its hands off the other's study."""
    import datetime
    now = datetime.datetime.now(datetime.timezone.utc)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    old = (now - datetime.timedelta(minutes=20)).strftime("%Y%m%dT%H%M%SZ")
    for patient_id in ("PPSMOKE-%s-nodeb1" % stamp, "PPSMOKE-%s-crash1" % old):
        payload, _uids, _pixels = WEB.build_instance("PP^SMOKETEST", patient_id)
        requests.post(orthanc.pacs_url + "/instances", data=payload, auth=pps_env.PACS_USER,
                      timeout=3).raise_for_status()
    res = {r["check"]: r for r in WEB.Roundtrip(
        roundtrip_params(orthanc, remote_servers=[], run_id="%s-nodea1" % stamp)).run()}
    assert res["cleanup"]["status"] == "pass", res["cleanup"]
    assert "deleted 2 test studies" in res["cleanup"]["detail"]  # its own and the 20-minute-old one
    remaining = orthanc.studies()
    assert len(remaining) == 1  # the other node's study, still in use
    requests.delete(orthanc.pacs_url + "/studies/" + remaining[0], auth=pps_env.PACS_USER, timeout=3)


def test_dicomweb_http_errors(orthanc):
    res = {r["check"]: r for r in WEB.Roundtrip(roundtrip_params(orthanc, password="wrong")).run()}
    assert res["http_auth"]["status"] == "pass"
    assert res["stow"]["status"] == "fail" and "HTTP 401" in res["stow"]["error"]
    assert res["qido"]["status"] == "skipped" and res["cleanup"]["status"] == "fail"
    res = {r["check"]: r for r in WEB.Roundtrip(roundtrip_params(orthanc, dicomweb_root="/no-such/")).run()}
    assert res["stow"]["status"] == "fail" and "HTTP 404" in res["stow"]["error"]
    res = {r["check"]: r for r in WEB.Roundtrip(roundtrip_params(
        orthanc, url="http://127.0.0.1:%d" % closed_port(), remote_servers=[])).run()}
    assert all(r["status"] in ("fail", "skipped") for r in res.values())
    assert "ConnectionError" in res["http_auth"]["error"]


def probe_args(dicomweb, phases=("dicomweb",), **over):
    """pacs_smoke_probe's arguments: the roundtrip's parameters as its option dicomweb."""
    return dict({"phases": list(phases), "timeout": dicomweb.get("timeout", 3),
                 "dicomweb": {k: v for k, v in dicomweb.items() if k != "timeout"}}, **over)


def test_dicomweb_module_check_mode_and_arguments(orthanc):
    args = roundtrip_params(orthanc)
    out = run_module("pacs_smoke_probe", probe_args(args), check_mode=True)
    assert {r["status"] for r in out["dicomweb"]} == {"skipped"} and orthanc.studies() == []
    assert len(out["dicomweb"]) == 5 + len(args["remote_servers"])
    out = run_module("pacs_smoke_probe", probe_args({k: v for k, v in args.items() if k != "run_id"}))
    assert out["failed"] and "run_id" in out["msg"]
    out = run_module("pacs_smoke_probe", {"phases": ["dicomweb"]})
    assert out["failed"] and "needs the option dicomweb" in out["msg"]
    out = run_module("pacs_smoke_probe", probe_args(dict(args, remote_servers=[])))
    assert "smoke-secret" not in json.dumps(out)
    assert {r["status"] for r in out["dicomweb"]} == {"pass"}, out["dicomweb"]
    assert out["echo_in"] == [] and out["find_in"] == [] and orthanc.studies() == []


def test_probe_runs_inbound_and_dicomweb_in_one_run(orthanc):
    """One module run: the inbound C-ECHO and C-FIND of the real Orthanc and its DICOMweb
    roundtrip, each kind under its key with the result shape of the report."""
    ip = orthanc.pacs_ip
    find = dict(echo_check("WS", 4242, "WS1", host=ip, called="PPS_PACS"), check="find_in")
    args = probe_args(roundtrip_params(orthanc, remote_servers=[]), phases=("inbound", "dicomweb"),
                      echo_checks=[dict(echo_check("CT", 4242, "CT1", host=ip, called="PPS_PACS"), check="echo_in"),
                                   dict(echo_check("PP_SMOKE_UNKNOWN", 4242, "PP_SMOKE_UNKNOWN", host=ip,
                                                   called="PPS_PACS", expect="reject"), check="echo_in_refused")],
                      find_checks=[find, dict(find, link="CT", calling_aet="CT1")])
    out = run_module("pacs_smoke_probe", args)
    assert [(r["link"], r["check"], r["status"]) for r in out["echo_in"]] == [
        ("CT", "echo_in", "pass"), ("PP_SMOKE_UNKNOWN", "echo_in_refused", "pass")], out["echo_in"]
    # CT1 may echo but not query (AllowFind false): refused in the same run.
    assert [(r["link"], r["status"]) for r in out["find_in"]] == [("WS", "pass"), ("CT", "fail")], out["find_in"]
    assert [(r["check"], r["status"]) for r in out["dicomweb"]] == [
        (c, "pass") for c in ("http_auth", "stow", "qido", "wado", "cleanup")], out["dicomweb"]
    assert out["failed_count"] == 1 and out["study_uid"] and out["patient_id"] == "PPSMOKE-unit"
    for result in out["echo_in"] + out["find_in"] + out["dicomweb"]:
        assert set(result) == {"link", "check", "status", "error", "detail", "duration"}
    assert orthanc.studies() == []


def test_probe_runs_its_phases_at_the_same_time():
    """Two phases of 0.5 s each take about 0.5 s together, and every key is answered."""
    def slow(_params, phase):
        time.sleep(0.5)
        return {"echo_in": [{"status": "fail"}]} if phase == "inbound" else {"dicomweb": [{"status": "pass"}]}
    start = time.monotonic()
    answer = PROBE.run_phases({"phases": ["inbound", "dicomweb", "inbound"]}, slow)
    assert time.monotonic() - start < 0.9
    assert answer == {"echo_in": [{"status": "fail"}], "find_in": [], "echo_out": [], "dicomweb": [{"status": "pass"}],
                      "study_uid": "", "patient_id": "", "failed_count": 1}
    assert PROBE.run_phases({"phases": []}, slow)["failed_count"] == 0


def test_write_module(tmp_path):
    run = tmp_path / "inv" / "20250101T000000Z"
    changed, paths = WRITE.write_files(str(run), {"h.json": "{}", "h.html": "<p>x</p>"}, 0o644,
                                       str(tmp_path / "inv" / "latest"), False)
    assert changed and len(paths) == 2
    assert os.readlink(tmp_path / "inv" / "latest") == "20250101T000000Z"
    assert (tmp_path / "inv" / "latest" / "h.html").read_text() == "<p>x</p>\n"
    assert WRITE.write_files(str(run), {"h.json": "{}", "h.html": "<p>x</p>"}, 0o644,
                             str(tmp_path / "inv" / "latest"), False)[0] is False
    with pytest.raises(ValueError):
        WRITE.write_files(str(run), {"../evil": "x"}, 0o644, None, False)
    assert WRITE.write_files(str(tmp_path / "new"), {"a": "b"}, 0o644, None, True)[0] is True
    assert not (tmp_path / "new").exists()


def test_silent_peer_never_counts_as_a_refusal(silent_port):
    """A hung peer must fail a must-be-refused check: it refused nothing, it did not answer."""
    res = run_echo([echo_check("hang", silent_port, "UNKNOWN", expect="reject")], 1.0, 4)[0]
    assert res["status"] == "fail", res
    assert "no answer to the association request" in res["error"]


def test_echo_runs_concurrently(scp, silent_port):
    """Four hanging peers with a 1 s timeout take about 1 s together, not 4 s."""
    checks = [echo_check("h%d" % i, silent_port, "GOOD") for i in range(4)]
    start = time.monotonic()
    res = run_echo(checks, 1.0)
    assert all(r["status"] == "fail" for r in res)
    assert time.monotonic() - start < 3


def test_probe_source_names_the_local_address_toward_a_target():
    module = load("probe_source")
    assert module.source_address("127.0.0.1") == "127.0.0.1"
    assert module.source_address("host.invalid") == ""
    out = run_module("probe_source", {"target": "127.0.0.1"}, check_mode=True)
    assert out["address"] == "127.0.0.1" and out["changed"] is False


def test_basic_auth_sends_utf8_whatever_the_password_holds():
    """Orthanc compares the UTF-8 bytes of user:password; requests sends a str in Latin-1."""
    assert WEB.basic_auth("admin", "pässwörd-密-$HOME") == (b"admin", "pässwörd-密-$HOME".encode("utf-8"))
    assert WEB.basic_auth(None, "x") is None
    request = requests.Request("GET", "http://127.0.0.1/", auth=WEB.basic_auth("a", "密")).prepare()
    assert request.headers["Authorization"] == "Basic YTrlr4Y="


ACTION = load("pacs_smoke_write", os.path.join(ROOT, "roles/pacs_smoke/action_plugins"))


def test_write_action_answers_as_the_module():
    """The action plugin's local writing: the module's write_files, its errors as failures."""
    calls = []

    def fake_write(*args):
        calls.append(args)
        return True, ["/r/h.json"]
    params = {"directory": "/r", "files": {"h.json": "{}"}, "mode": "0640", "latest": None}
    assert ACTION.write_locally(params, False, fake_write) == {"changed": True, "paths": ["/r/h.json"]}
    assert calls == [("/r", {"h.json": "{}"}, 0o640, None, False)]
    assert ACTION.write_locally(dict(params, mode="rw-r--r--"), False, fake_write) == {
        "failed": True, "msg": "mode: 'rw-r--r--' is not an octal mode"}
    answer = ACTION.write_locally(dict(params, files={"../x": ""}), True, ACTION.load_write_files())
    assert answer["failed"] and "not a plain file name" in answer["msg"]
    assert ACTION.load_write_files().__code__.co_filename.endswith("library/pacs_smoke_write.py")


def test_write_answer_shows_the_table_or_fails_after_writing(tmp_path):
    """show becomes the message; fail_msg fails the task, once the files are written."""
    params = {"directory": str(tmp_path / "r"), "files": {"h.json": "{}"}, "mode": "0644", "latest": None,
              "show": ["LINK  CHECK", "CT    echo_in"], "fail_msg": []}
    assert WRITE.answer(params, False) == {"changed": True, "paths": [str(tmp_path / "r" / "h.json")],
                                           "msg": ["LINK  CHECK", "CT    echo_in"]}
    failed = WRITE.answer(dict(params, directory=str(tmp_path / "f"), fail_msg=["1 failed check(s)", "CT echo_in"]),
                          False)
    assert failed["failed"] and failed["msg"] == ["1 failed check(s)", "CT echo_in"], failed
    assert (tmp_path / "f" / "h.json").read_text() == "{}\n"


def run_role_module(target, connection, module, args, *options):
    """`ansible <target> -m <module> -a <args> -vvv` with the role's modules, module_utils and
    action plugins (-vvv: a module run logs its EXEC of a Python); results shown as JSON."""
    env = dict(os.environ, ANSIBLE_LIBRARY=LIBRARY, ANSIBLE_MODULE_UTILS=MODULE_UTILS, ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_ACTION_PLUGINS=os.path.join(ROOT, "roles/pacs_smoke/action_plugins"),
               ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    ansible = os.path.join(os.path.dirname(sys.executable), "ansible")
    return subprocess.run([ansible, "all", "-i", target + ",", "-c", connection, "-m", module,
                           "-a", json.dumps(args), "-vvv"] + list(options),
                          env=env, capture_output=True, text=True, timeout=120, check=False)


def run_write_task(target, connection, directory, **options):
    """pacs_smoke_write (module and action plugin) writing two files into directory."""
    return run_role_module(target, connection, "pacs_smoke_write", dict({
        "directory": directory, "latest": directory + "/../latest",
        "files": {"h.json": '{"a": 1}', "h.html": "<p>ok</p>"}}, **options))


def test_write_action_writes_on_the_controller_without_a_module_run(tmp_path):
    proc = run_write_task("localhost", "local", str(tmp_path / "run1"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "run1" / "h.html").read_text() == "<p>ok</p>\n"
    assert os.readlink(tmp_path / "latest") == "run1"
    # No module was started: a module run logs its EXEC of a Python with -vvv.
    assert "EXEC" not in proc.stdout and "CHANGED" in proc.stdout, proc.stdout
    again = run_write_task("localhost", "local", str(tmp_path / "run1"), show=["THE TABLE"])
    assert again.returncode == 0 and "SUCCESS" in again.stdout and "THE TABLE" in again.stdout, again.stdout
    failed = run_write_task("localhost", "local", str(tmp_path / "run2"), fail_msg=["2 failed check(s) on h"])
    assert failed.returncode != 0 and "FAILED!" in failed.stdout and "2 failed check(s) on h" in failed.stdout
    assert (tmp_path / "run2" / "h.json").exists()


def test_write_action_runs_the_module_over_any_other_connection(orthanc):
    """Over the docker connection the files are written in the container, by the module."""
    proc = run_write_task(orthanc.pacs, "community.docker.docker", "/tmp/pp-write/run1")
    assert proc.returncode == 0 and "CHANGED" in proc.stdout, proc.stdout + proc.stderr
    assert "EXEC" in proc.stdout
    assert pps_env.docker("exec", orthanc.pacs, "cat", "/tmp/pp-write/run1/h.json") == '{"a": 1}'
    failed = run_write_task(orthanc.pacs, "community.docker.docker", "/tmp/pp-write/run2", fail_msg=["1 failed check(s)"])
    assert failed.returncode != 0 and "FAILED!" in failed.stdout and "1 failed check(s)" in failed.stdout, failed.stdout
    assert pps_env.docker("exec", orthanc.pacs, "cat", "/tmp/pp-write/run2/h.json") == '{"a": 1}'


PROBE_ACTION = load("pacs_smoke_probe", os.path.join(ROOT, "roles/pacs_smoke/action_plugins"))


def run_probe_task(target, connection, args, *options):
    """pacs_smoke_probe (module and action plugin) with args; (the process, the task's answer
    parsed from the output)."""
    proc = run_role_module(target, connection, "pacs_smoke_probe", args, *options)
    found = re.search(r"^%s \| ([A-Z]+)(!?) =>" % re.escape(target), proc.stdout, re.M)
    if not found:
        return proc, None
    # The callback shows a failure by "FAILED!", not by the answer's key failed.
    answer = json.JSONDecoder().raw_decode(proc.stdout[found.end():].lstrip())[0]
    return proc, dict(answer, failed=True) if found.group(2) else answer


def test_probe_action_checks_in_the_worker_on_the_controller(scp):
    """A local connection (the role's default probe host): the checks run in Ansible's worker,
    no module is started, the answer is the module's (results, check mode, argument errors)."""
    checks = {"phases": ["inbound"], "echo_checks": [echo_check("x", scp, "GOOD"), echo_check("y", scp, "BAD")]}
    proc, answer = run_probe_task("localhost", "local", checks)
    # A module run logs its EXEC of a Python with -vvv.
    assert answer is not None and "EXEC" not in proc.stdout, proc.stdout + proc.stderr
    assert [r["status"] for r in answer["echo_in"]] == ["pass", "fail"] and answer["failed_count"] == 1, answer
    assert answer["changed"] is False and answer["dicomweb"] == [] and "failed" not in answer
    assert proc.returncode == 0
    _, answer = run_probe_task("localhost", "local", checks, "--check")
    assert [r["status"] for r in answer["echo_in"]] == ["skipped", "skipped"], answer
    proc, answer = run_probe_task("localhost", "local", {"phases": ["dicomweb"]})
    assert answer["failed"] and answer["msg"] == "phase dicomweb needs the option dicomweb (url, username, password, run_id)"
    assert "EXEC" not in proc.stdout, proc.stdout
    proc, answer = run_probe_task("localhost", "local", dict(checks, phases=["tls"]))
    assert answer["failed"] and "phases" in answer["msg"] and "EXEC" not in proc.stdout, proc.stdout


def test_probe_action_runs_the_module_over_any_other_connection(orthanc):
    """Over the docker connection the module runs in the container, with the container's Python
    (which has no pynetdicom: the module itself says so)."""
    proc, answer = run_probe_task(orthanc.pacs, "community.docker.docker",
                                  {"phases": ["inbound"], "echo_checks": [echo_check("x", 4242, "GOOD")]})
    assert "EXEC" in proc.stdout, proc.stdout + proc.stderr
    assert answer["failed"] and "pynetdicom and pydicom" in answer["msg"], answer


def test_probe_answer_names_a_missing_library(monkeypatch):
    """answer() (module and action plugin): a phase whose library is missing fails, naming it; the
    action plugin then runs the module, whose Python may have it."""
    monkeypatch.setattr(OUT, "IMPORT_ERROR", "Traceback: no module named requests")
    assert PROBE.missing_library(["inbound"]) is None
    assert PROBE.missing_library(["inbound", "outbound"]) == ("requests", "Traceback: no module named requests")
    answer = PROBE.answer({"phases": ["outbound"], "dicomweb": {"url": "http://x"}, "outbound_checks": []}, False)
    assert answer["failed"] and "requests" in answer["msg"] and answer["exception"].startswith("Traceback")


def test_probe_action_answers_in_plain_types():
    """The action plugin's answer reaches ansible-playbook's process pickled: a pydicom UID in it
    would make that process import pydicom to read it. It is made plain, as the module's JSON."""
    from pydicom.uid import UID  # pylint: disable=import-outside-toplevel
    answer = PROBE_ACTION.as_json({"study_uid": UID("1.2.3"), "echo_in": [{"duration": 0.5, "status": "pass"}]})
    assert type(answer["study_uid"]) is str and answer == {"study_uid": "1.2.3",  # noqa: E721
                                                          "echo_in": [{"duration": 0.5, "status": "pass"}]}
