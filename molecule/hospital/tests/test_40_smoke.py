"""The smoke report of the converge run, and injected faults that turn exactly their cells
red (issue 5, "What must be shown"; issue 15: a receiver that drops what it receives)."""

import json
import os
import pathlib

import pytest
from conftest import MODALITY, PACS, XNATS, docker_host, run_site

REPORTS = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "reports" / "hospital"

# Every cell site.yml must produce for this inventory: link -> check -> status.
EXPECTED = {
    "CT_ROOM1": {"echo_in": "pass", "echo_out": "pass"},
    "WORKSTATION": {"echo_in": "pass", "find_in": "pass", "echo_out": "pass"},
    "PORTABLE_XR": {"echo_in": "pass", "echo_out": "skipped"},     # expected_offline
    # smoke_write: true on its item: C-STORE into XNAT and DQR import, seen in its prearchive
    "XNAT_RESEARCH": {"echo_in": "pass", "find_in": "pass", "echo_out": "pass",
                      "dqr_query": "pass", "xnat_store": "pass", "dqr_import": "pass"},
    # read-only (no smoke_write): only XNAT's DQR query of the PACS
    "XNAT_TEACH": {"echo_in": "pass", "find_in": "pass", "echo_out": "pass",
                   "dqr_query": "pass", "xnat_store": "skipped", "dqr_import": "skipped"},
    "XNAT DQR": {"cleanup": "pass"},                               # the XNAT test study left Orthanc
    "PP_SMOKE_UNKNOWN": {"echo_in_refused": "pass"},
    "called AE PP_SMOKE_WRONG": {"echo_in_refused": "pass"},
    "DICOMweb": {"http_auth": "pass", "stow": "pass", "qido": "pass", "wado": "pass", "cleanup": "pass"},
    "research": {"stow_remote": "pass"},
    "archive": {"stow_remote": "skipped"},                         # smoke_stow false
}


def cells(report):
    table = {}
    for result in report["results"]:
        assert (result["check"] not in table.get(result["link"], {})), result
        table.setdefault(result["link"], {})[result["check"]] = result["status"]
    return table


def latest_report():
    return json.loads((REPORTS / "latest" / ("%s.json" % PACS)).read_text())


def test_report_of_the_run_has_every_expected_cell():
    report = latest_report()
    assert report["host"] == PACS
    assert cells(report) == EXPECTED
    assert report["failures"] == []
    html = (REPORTS / "latest" / ("%s.html" % PACS)).read_text()
    for link in EXPECTED:
        assert link in html.replace("&#39;", "'"), link
    for name in ("%s-connection-sheet.html" % PACS, "%s-connection-sheet.md" % PACS):
        assert (REPORTS / "latest" / name).stat().st_size > 0


@pytest.fixture
def ct_stopped():
    modality = docker_host(MODALITY)
    modality.run_expect([0], "systemctl stop modality-ct")
    yield
    modality.run_expect([0], "systemctl start modality-ct")
    modality.run_expect([0], "timeout 20 sh -c 'until echoscu -aec HOSP_CT 127.0.0.1 11112; do sleep 0.3; done'")


def test_stopped_modality_turns_exactly_its_cell_red(ct_stopped):
    before = latest_report()["run"]
    code, output = run_site("--tags", "smoke")
    assert code != 0, output
    assert "1 failed check(s) on %s" % PACS in output, output
    assert "CT_ROOM1 echo_out:" in output, output
    report = latest_report()
    assert report["run"] != before
    want = json.loads(json.dumps(EXPECTED))
    want["CT_ROOM1"]["echo_out"] = "fail"
    assert cells(report) == want
    assert [f.split(":")[0] for f in report["failures"]] == ["CT_ROOM1 echo_out"]


def xnat_prearchive(xnat):
    """Every session in the XNAT's prearchive (XNAT's REST API)."""
    return xnat.get("/data/prearchive/projects", params={"format": "json"})["ResultSet"]["Result"]


def test_smoke_left_nothing_in_the_xnat_prearchives(xnats):
    """The converge run's C-STORE and import into XNAT_RESEARCH were deleted from its prearchive."""
    for name in XNATS:
        assert [r for r in xnat_prearchive(xnats[name]) if r["subject"].startswith("PP_SMOKETEST")] == [], name


@pytest.fixture
def research_receiver_drops(xnats):
    """XNAT_RESEARCH's receiver accepts associations and C-STOREs but archives nothing."""
    xnat = xnats["XNAT_RESEARCH"]
    receiver = {"aeTitle": xnat.item["receiver"]["aet"], "port": xnat.item["receiver"]["port"]}
    xnat.test_call("POST", "/test/archive", dict(receiver, archive=False))
    yield xnat
    xnat.test_call("POST", "/test/archive", dict(receiver, archive=True))


def test_receiver_that_drops_turns_exactly_its_cells_red(research_receiver_drops):
    """C-STORE and import both go to that receiver (the import is a C-MOVE to it): those two
    cells turn red, the query (which reads the PACS) and every other cell stay as they were."""
    before = latest_report()["run"]
    code, output = run_site("--tags", "smoke", "-e", "pacs_smoke_xnat_wait=5")
    assert code != 0, output
    assert "2 failed check(s) on %s" % PACS in output, output
    assert "XNAT_RESEARCH xnat_store:" in output and "did not appear in XNAT's prearchive" in output, output
    report = latest_report()
    assert report["run"] != before
    want = json.loads(json.dumps(EXPECTED))
    want["XNAT_RESEARCH"]["xnat_store"] = "fail"
    want["XNAT_RESEARCH"]["dqr_import"] = "fail"
    assert cells(report) == want
    assert sorted(f.split(":")[0] for f in report["failures"]) == ["XNAT_RESEARCH dqr_import",
                                                                   "XNAT_RESEARCH xnat_store"]
    assert [r for r in xnat_prearchive(research_receiver_drops) if r["subject"].startswith("PP_SMOKETEST")] == []
