"""Run playbooks/smoke.yml for real against Orthanc 1.10.1 in a container (community.docker
connection), then check the JSON report, the HTML report and the connection sheet in a
headless chromium, injected faults, the all-green case and check mode."""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import pytest
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import pps_env  # noqa: E402  pylint: disable=wrong-import-position

PLAYBOOK = os.path.join(ROOT, "playbooks/smoke.yml")
INVENTORY = os.path.join(HERE, "inventory/hosts.yml")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
GREEN_VARS = {
    "orthanc_modalities": [
        {"name": "CT_ROOM1", "aet": "CT1", "host": "pps-modality", "port": 4242},
        {"name": "WS_READING", "aet": "WS1", "host": "pps-modality", "port": 4242, "allow_find": True},
        {"name": "US_OLD", "aet": "US_OLD", "host": "pps-modality", "port": 11113, "expected_offline": True}],
    "orthanc_dicomweb_servers": [
        {"name": "research_ok", "url": "http://pps-modality:8042/dicom-web/", "username": "remote",
         "password": "remote-secret", "smoke_stow": True}],
}


@pytest.fixture(scope="session")
def env():
    environment = pps_env.Env()
    try:
        yield environment.start()
    finally:
        environment.stop()


@pytest.fixture(scope="session")
def reports():
    path = tempfile.mkdtemp(prefix="pps-reports-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def playbook(env, reports, *extra):
    environ = dict(os.environ, PPS_SMOKE_CONTAINER=env.pacs, PPS_SMOKE_PACS_IP=env.pacs_ip,
                   ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")
    start = time.monotonic()
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", INVENTORY, PLAYBOOK,
         "-e", "pacs_smoke_report_dir=" + reports, *extra],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300, check=False)
    return proc, time.monotonic() - start


def latest_report(reports):
    with open(os.path.join(reports, "inventory", "latest", "pps-pacs.json"), encoding="utf-8") as handle:
        return json.load(handle)


def cells(report, status):
    return {(r["link"], r["check"]) for r in report["results"] if r["status"] == status}


def dump_dom(path):
    profile = tempfile.mkdtemp(prefix="pps-chromium-")
    try:
        proc = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--user-data-dir=" + profile, "--dump-dom", "file://" + path],
            capture_output=True, text=True, timeout=120, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def remote_cleanup(env):
    for study in env.studies("modality"):
        requests.delete("http://%s:8042/studies/%s" % (env.modality_ip, study), auth=pps_env.REMOTE_USER, timeout=3)


@pytest.fixture(scope="session")
def baseline(env, reports):
    """The inventory as written: two planted faults (MR_BROKEN port, research_badpw password)."""
    proc, elapsed = playbook(env, reports)
    remote_cleanup(env)
    return proc, elapsed, latest_report(reports)


def test_baseline_fails_on_exactly_the_planted_faults(baseline, env):
    proc, _elapsed, report = baseline
    assert proc.returncode != 0
    assert cells(report, "fail") == {("MR_BROKEN", "echo_out"), ("research_badpw", "stow_remote")}
    assert {("US_OLD", "echo_out"), ("archive_nostow", "stow_remote")} <= cells(report, "skipped")
    expected_pass = {("CT_ROOM1", "echo_in"), ("CT_ROOM1", "echo_out"), ("WS_READING", "find_in"),
                     ("XNAT_RESEARCH", "find_in"), ("XNAT_RESEARCH", "echo_out"),
                     ("PP_SMOKE_UNKNOWN", "echo_in_refused"), ("called AE PP_SMOKE_WRONG", "echo_in_refused"),
                     ("DICOMweb", "http_auth"), ("DICOMweb", "stow"), ("DICOMweb", "qido"), ("DICOMweb", "wado"),
                     ("DICOMweb", "cleanup"), ("research_ok", "stow_remote")}
    assert expected_pass <= cells(report, "pass")
    # The play fails once, at the end, naming every failed link.
    failure = proc.stdout[proc.stdout.index("failed check(s)"):]
    assert "MR_BROKEN echo_out" in failure and "research_badpw stow_remote" in failure
    assert "2 failed check(s) on pps-pacs" in proc.stdout
    # The result table is in the play output.
    assert re.search(r"MR_BROKEN\s+echo_out\s+FAIL", proc.stdout)
    # Secrets stay out of the output and the report.
    for secret in ("smoke-secret", "remote-secret", "not-the-password"):
        assert secret not in proc.stdout
        assert secret not in json.dumps(report)


def test_no_secret_in_the_output_at_vvvv(baseline, env, reports):
    """Every task's result is printed at -v and more: no password of the inventory may be in it
    (the host's model, which holds them, once was, in the plan task's facts)."""
    proc, _ = playbook(env, reports, "-vvvv")
    remote_cleanup(env)
    assert "TASK [pacs_smoke : Report | Write" in proc.stdout, proc.stdout[-2000:]
    for secret in ("smoke-secret", "remote-secret", "not-the-password"):
        assert secret not in proc.stdout and secret not in proc.stderr, secret


def test_no_test_data_left_in_the_pacs(baseline, env):
    assert env.studies() == []
    found = requests.post(env.pacs_url + "/tools/find", auth=pps_env.PACS_USER, timeout=3,
                          json={"Level": "Patient", "Query": {"PatientName": "PP^SMOKETEST"}}).json()
    assert found == []


def test_report_files_and_latest_link(baseline, reports):
    runs = [d for d in glob.glob(os.path.join(reports, "inventory", "2*")) if os.path.isdir(d)]
    assert len(runs) >= 1
    latest = os.path.join(reports, "inventory", "latest")
    assert os.path.islink(latest) and os.readlink(latest) == os.path.basename(sorted(runs)[-1])
    assert sorted(os.listdir(latest)) == ["pps-pacs-connection-sheet.html", "pps-pacs-connection-sheet.md",
                                          "pps-pacs.html", "pps-pacs.json"]
    html = open(os.path.join(latest, "pps-pacs.html"), encoding="utf-8").read()
    assert not re.search(r"(src|href)=\"?(https?:)?//", html), "the report must not load external assets"


def test_html_report_renders_in_chromium(baseline, reports):
    dom = dump_dom(os.path.join(reports, "inventory", "latest", "pps-pacs.html"))
    red = re.findall(r'<td class="fail" data-link="([^"]+)" data-check="([^"]+)"', dom)
    assert set(red) == {("MR_BROKEN", "echo_out"), ("research_badpw", "stow_remote")}
    assert re.search(r'<td class="skipped" data-link="US_OLD" data-check="echo_out"[^>]*>skipped', dom)
    assert re.search(r'<td class="pass" data-link="DICOMweb" data-check="wado"', dom)
    assert "Bad credentials were provided" in dom
    assert re.search(r"fail: 2", dom)


def test_connection_sheet_renders_in_chromium(baseline, reports, env):
    dom = dump_dom(os.path.join(reports, "inventory", "latest", "pps-pacs-connection-sheet.html"))
    row = re.search(r'<tr data-modality="XNAT_RESEARCH">(.*?)</tr>', dom, re.S).group(1)
    cols = re.findall(r"<td>(.*?)</td>", row, re.S)
    text = [re.sub(r"<[^>]+>", "", c).strip() for c in cols]
    assert text[:8] == ["XNAT_RESEARCH", "XNAT_RESEARCH", "pps-modality", "4242", "PPS_PACS", env.pacs_ip, "4242", "no"]
    assert "find" in text[8] and "move" in text[8]
    assert "http://%s:8042/dicom-web/" % env.pacs_ip in dom
    md = open(os.path.join(reports, "inventory", "latest", "pps-pacs-connection-sheet.md"), encoding="utf-8").read()
    assert "| CT_ROOM1 | `CT1` | pps-modality | 4242 | `PPS_PACS` | `%s` | `4242` | no |" % env.pacs_ip in md


def test_all_green_is_fast_and_passes(baseline, env, reports):
    proc, elapsed = playbook(env, reports, "-e", json.dumps(GREEN_VARS))
    remote_cleanup(env)
    assert proc.returncode == 0, proc.stdout[-3000:]
    report = latest_report(reports)
    assert cells(report, "fail") == set()
    assert cells(report, "skipped") == {("US_OLD", "echo_out")}
    print("all-green smoke playbook took %.1f s" % elapsed)
    assert elapsed < 20  # typically ~6 s on an idle 2-core machine (ansible start-up included)
    assert env.studies() == []


def test_fault_injection_turns_exactly_that_cell_red(baseline, env, reports):
    """Point CT_ROOM1 at a dead port inside the running Orthanc: only CT_ROOM1/echo_out turns red."""
    url = env.pacs_url + "/modalities/CT_ROOM1"
    good = {"AET": "CT1", "Host": "pps-modality", "Port": 4242, "AllowEcho": True, "AllowStore": True}
    requests.put(url, json=dict(good, Port=11119), auth=pps_env.PACS_USER, timeout=3).raise_for_status()
    try:
        proc, _elapsed = playbook(env, reports, "-e", json.dumps(GREEN_VARS))
    finally:
        requests.put(url, json=good, auth=pps_env.PACS_USER, timeout=3).raise_for_status()
        remote_cleanup(env)
    assert proc.returncode != 0
    assert cells(latest_report(reports), "fail") == {("CT_ROOM1", "echo_out")}
    assert "1 failed check(s)" in proc.stdout and "CT_ROOM1 echo_out" in proc.stdout


def test_check_mode_sends_and_writes_nothing(baseline, env, reports):
    before = sorted(glob.glob(os.path.join(reports, "inventory", "*")))
    proc, _elapsed = playbook(env, reports, "--check")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "skipped in check mode" in proc.stdout
    assert sorted(glob.glob(os.path.join(reports, "inventory", "*"))) == before
    assert env.studies() == [] and env.studies("modality") == []


def test_phase_tags_select_the_checks_of_the_one_probe_run(baseline, env, reports):
    """The inbound and DICOMweb checks share one module run; their tags still pick them apart."""
    inbound, dicomweb = {"echo_in", "echo_in_refused", "find_in"}, {"http_auth", "stow", "qido", "wado", "cleanup"}

    def checks(*args):
        proc, _elapsed = playbook(env, reports, "-e", json.dumps(GREEN_VARS), *args)
        remote_cleanup(env)
        assert proc.returncode == 0, (args, proc.stdout[:3000], proc.stderr[-2000:])
        return {r["check"] for r in latest_report(reports)["results"]}

    ran = checks("--tags", "pacs_smoke_inbound,pacs_smoke_report")
    assert inbound <= ran and not ran & (dicomweb | {"echo_out"}), ran
    ran = checks("--tags", "pacs_smoke_dicomweb,pacs_smoke_report")
    assert dicomweb <= ran and not ran & (inbound | {"echo_out"}), ran
    ran = checks("--skip-tags", "pacs_smoke_dicomweb")
    assert inbound | {"echo_out"} <= ran and not ran & dicomweb, ran
    ran = checks("--tags", "pacs_smoke_outbound,pacs_smoke_report")
    assert "echo_out" in ran and not ran & (inbound | dicomweb), ran
    assert env.studies() == [] and env.studies("modality") == []
