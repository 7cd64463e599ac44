"""The smoke report of the converge run, and an injected fault that turns one cell red
(issue 5, "What must be shown")."""

import json
import os
import pathlib

import pytest
from conftest import MODALITY, PACS, docker_host, run_site

REPORTS = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "reports" / "hospital"

# Every cell site.yml must produce for this inventory: link -> check -> status.
EXPECTED = {
    "CT_ROOM1": {"echo_in": "pass", "echo_out": "pass"},
    "WORKSTATION": {"echo_in": "pass", "find_in": "pass", "echo_out": "pass"},
    "PORTABLE_XR": {"echo_in": "pass", "echo_out": "skipped"},     # expected_offline
    "XNAT_RESEARCH": {"echo_in": "pass", "find_in": "pass", "echo_out": "pass"},
    "XNAT_TEACH": {"echo_in": "pass", "find_in": "pass", "echo_out": "pass"},
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
