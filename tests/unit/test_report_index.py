"""The hospital index and the fleet page (callback plugin
roles/pacs_smoke/callback_plugins/pacs_report_index.py, templates in templates/site/):
history from synthetic run folders, per-link strips, drift, escaping, a 40-modality page
checked in headless chromium, and the callback loaded by ansible-playbook from ansible.cfg."""

import datetime
import glob
import html
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import types

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLUGIN = os.path.join(ROOT, "roles/pacs_smoke/callback_plugins/pacs_report_index.py")
TEMPLATES = os.path.join(ROOT, "templates/site")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PLAYBOOK_BIN = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")


def _load():
    spec = importlib.util.spec_from_file_location("pacs_report_index", PLUGIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


IDX = _load()
START = datetime.datetime(2026, 11, 1, 2, 0, tzinfo=datetime.timezone.utc)


def stamp(night):
    return IDX.utc_stamp(START + datetime.timedelta(days=night))


def result(link, status, check="echo_out", error=""):
    return {"link": link, "check": check, "status": status, "error": error, "detail": "", "duration": 0.1}


def smoke(folder, night, host, results, name="PACS", aet="PACS_AE"):
    """A smoke report folder <folder>/<stamp>/<host>.json as pacs_smoke writes it."""
    run_dir = os.path.join(str(folder), stamp(night))
    os.makedirs(run_dir, exist_ok=True)
    counts = {s: sum(1 for r in results if r["status"] == s) for s in ("pass", "fail", "skipped")}
    report = {"host": host, "inventory": os.path.basename(str(folder)), "run": stamp(night), "counts": counts,
              "orthanc": {"name": name, "aet": aet}, "failures": [], "results": results}
    with open(os.path.join(run_dir, host + ".json"), "w", encoding="utf-8") as handle:
        json.dump(report, handle)
    return run_dir


def recap(folder, night, hosts, check_mode=False):
    """A recap runs/<stamp>.json as the callback writes it; hosts: {host: changed} or {host: counts}."""
    stats = {h: (c if isinstance(c, dict) else {"ok": 10, "changed": c}) for h, c in hosts.items()}
    return IDX.write_recap(str(folder), IDX.recap_record(stamp(night), check_mode, stats, "site.yml"))


@pytest.fixture(name="hospital")
def fixture_hospital(tmp_path):
    """16 nightly runs of 'gh' (pacs1: CT_ROOM1 fails the last 3 nights), a check run with drift."""
    folder = tmp_path / "gh"
    for night in range(16):
        ct = "fail" if night >= 13 else "pass"
        smoke(folder, night, "pacs1", [result("CT_ROOM1", ct, error="no answer" if ct == "fail" else ""),
                                       result("CT_ROOM1", "pass", "echo_in"),
                                       result("MR_OLD", "skipped"), result("WS", "pass")])
        recap(folder, night, {"pacs1": 0, "db1": 1 if night == 5 else 0})
    return folder


def test_history_is_capped_oldest_first_and_merges_recap_with_smoke(hospital):
    runs = IDX.read_history(str(hospital))
    assert len(runs) == 14
    assert [r["stamp"] for r in runs] == [stamp(n) for n in range(2, 16)]
    assert set(runs[-1]["smoke"]) == {"pacs1"} and set(runs[-1]["recap"]) == {"pacs1", "db1"}
    assert len(IDX.read_history(str(hospital), limit=5)) == 5
    assert len(IDX.read_history(str(hospital), limit=0)) == 16


def test_link_failing_the_last_three_nights_shows_three_red_cells_at_the_end(hospital):
    (pacs,) = IDX.build_strips(IDX.read_history(str(hospital)))
    ct = next(link for link in pacs["links"] if link["name"] == "CT_ROOM1")
    assert [c["cls"] for c in ct["cells"]] == ["pass"] * 11 + ["fail"] * 3
    assert ct["last"] == "fail" and ct["failing_since"] == IDX.stamp_label(stamp(13))
    assert ct["error"] == "echo_out: no answer"
    assert pacs["failing"] == 1
    others = {link["name"]: link for link in pacs["links"]}
    assert [c["cls"] for c in others["MR_OLD"]["cells"]] == ["skipped"] * 14
    assert others["WS"]["failing_since"] == "" and others["WS"]["last"] == "pass"


def test_worst_status_wins_per_link():
    rows = IDX.link_statuses([result("A", "pass"), result("A", "fail", "find_in", "refused"),
                              result("B", "skipped"), result("B", "pass"), result("C", "weird")])
    assert rows == [("A", "fail", "find_in: refused"), ("B", "pass", ""), ("C", "fail", "echo_out: failed")]


def test_drift_is_a_check_run_with_changes(tmp_path):
    folder = tmp_path / "gh"
    smoke(folder, 0, "pacs1", [result("CT", "pass")])
    recap(folder, 0, {"pacs1": 4})                                # a real run that changed: no drift
    recap(folder, 1, {"pacs1": 0}, check_mode=True)               # check run, nothing to change
    recap(folder, 2, {"pacs1": 2, "db1": 0}, check_mode=True)     # check run that would change: drift
    runs = IDX.read_history(str(folder))
    assert [IDX.is_drift(r) for r in runs] == [False, False, True]
    summaries = [IDX.run_summary(r) for r in runs]
    assert [s["mode"] for s in summaries] == ["run", "check", "check"]
    assert summaries[2]["status"] == "drift" and summaries[0]["changed"] == 4
    ctx = IDX.hospital_context("gh", runs)
    pacs = next(row for row in ctx["recap_rows"] if row["host"] == "pacs1")
    assert [c["cls"] for c in pacs["cells"]] == ["changed", "pass", "drift"]
    assert [c["cls"] for c in ctx["smoke_hosts"][0]["links"][0]["cells"]] == ["pass", "none", "none"]
    assert json.loads(open(os.path.join(folder, "runs", stamp(2) + ".json"), encoding="utf-8").read())["drift"]
    IDX.render_site(str(tmp_path), "gh", TEMPLATES)
    page = open(os.path.join(folder, "index.html"), encoding="utf-8").read()
    assert "drift found by the last --check run" in page
    fleet = open(os.path.join(tmp_path, "index.html"), encoding="utf-8").read()
    assert re.search(r'<span class="badge drift">drift</span>', fleet)


def test_missing_runs_and_hosts_and_junk_are_tolerated(tmp_path):
    folder = tmp_path / "gh"
    smoke(folder, 0, "pacs1", [result("CT", "pass")])                     # no recap (older run)
    smoke(folder, 1, "pacs2", [result("US", "fail", error="refused")])    # pacs1 missing this run
    recap(folder, 2, {"pacs1": {"ok": 3, "unreachable": 1}})              # recap only, host down
    smoke(folder, 3, "pacs1", [result("CT", "pass"), result("NEW", "pass")])
    os.symlink(stamp(3), os.path.join(folder, "latest"))
    os.makedirs(os.path.join(folder, "not-a-run"))
    (folder / stamp(3) / "pacs1-connection-sheet.md").write_text("x")
    (folder / stamp(3) / "broken.json").write_text("{not json")
    (folder / "runs" / "junk.json").write_text("[]")
    (folder / "index.html").write_text("old")
    runs = IDX.read_history(str(folder))
    assert [r["stamp"] for r in runs] == [stamp(n) for n in range(4)]
    strips = {h["host"]: h for h in IDX.build_strips(runs)}
    ct = next(link for link in strips["pacs1"]["links"] if link["name"] == "CT")
    assert [c["cls"] for c in ct["cells"]] == ["pass", "none", "none", "pass"]
    new = next(link for link in strips["pacs1"]["links"] if link["name"] == "NEW")
    assert [c["cls"] for c in new["cells"]] == ["none", "none", "none", "pass"]
    assert [c["cls"] for c in strips["pacs2"]["links"][0]["cells"]] == ["none", "fail", "none", "none"]
    assert strips["pacs2"]["last_run"] == stamp(1)
    ctx = IDX.hospital_context("gh", runs)
    pacs1 = next(row for row in ctx["recap_rows"] if row["host"] == "pacs1")
    assert [c["cls"] for c in pacs1["cells"]] == ["none", "none", "fail", "none"]
    assert pacs1["cells"][2]["text"] == "unr"
    assert IDX.read_history(str(tmp_path / "nowhere")) == []
    IDX.render_site(str(tmp_path), "gh", TEMPLATES)   # renders without error


def test_every_inventory_string_is_escaped(tmp_path):
    evil = '<script>alert("x")</script>'
    folder = tmp_path / "<b>gh&co"
    smoke(folder, 0, 'pacs"1', [result(evil, "fail", error="<img src=x onerror=alert(1)>")],
          name="<i>PACS</i>", aet="<AE>")
    recap(folder, 0, {'pacs"1': 1, "<db>": 0}, check_mode=True)
    hospital, fleet = IDX.render_site(str(tmp_path), "<b>gh&co", TEMPLATES)
    for path in (hospital, fleet):
        page = open(path, encoding="utf-8").read()
        assert "<script" not in page and "<img" not in page and "<b>" not in page and "<i>" not in page
        assert "<db>" not in page and "<AE>" not in page
    page = open(hospital, encoding="utf-8").read()
    assert html.escape(evil) in page or "&lt;script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert 'href="' + stamp(0) + '/pacs%221.html"' in page
    assert 'href="%3Cb%3Egh%26co/index.html"' in open(fleet, encoding="utf-8").read()


def test_fleet_has_one_row_per_inventory_with_its_hosts(tmp_path):
    smoke(tmp_path / "gh", 0, "pacs1", [result("CT", "fail", error="x")])
    recap(tmp_path / "gh", 0, {"pacs1": 0, "db1": 2})
    smoke(tmp_path / "clinic", 0, "pacs", [result("US", "pass")])
    os.makedirs(tmp_path / "empty")
    ctx = IDX.fleet_context(str(tmp_path))
    rows = {row["inventory"]: row for row in ctx["inventories"]}
    assert sorted(rows) == ["clinic", "gh"]
    assert rows["gh"]["failing"] == 1 and rows["clinic"]["failing"] == 0
    assert [(h["host"], h["cls"], h["text"]) for h in rows["gh"]["hosts"]] == [
        ("pacs1", "fail", "1/1 links failing"), ("db1", "changed", "2 changed")]
    _hospital, fleet = IDX.render_site(str(tmp_path), "gh", TEMPLATES)
    page = open(fleet, encoding="utf-8").read()
    assert 'href="clinic/index.html"' in page and 'href="gh/index.html"' in page


def test_smoke_paths_and_recap_record():
    assert IDX.smoke_paths(["/r/gh/20261130T202809Z/pacs1.json"]) == ("/r", "gh", "20261130T202809Z")
    assert IDX.smoke_paths(["/r/gh/latest/pacs1.json"]) is None and IDX.smoke_paths(None) is None
    record = IDX.recap_record("20261130T202809Z", True, {"b": {"changed": 1, "ok": 2}, "a": {}}, "site.yml")
    assert record["drift"] is True and list(record["hosts"]) == ["a", "b"]
    assert record["hosts"]["a"] == {k: 0 for k in ("ok", "changed", "failures", "unreachable",
                                                   "skipped", "rescued", "ignored")}
    assert IDX.stamp_label("20261130T202809Z") == "11-30 20:28"
    assert [len(c) for c in IDX.split_columns(list(range(47)))] == [24, 23]
    assert [len(c) for c in IDX.split_columns(list(range(60)))] == [20, 20, 20]
    assert [len(c) for c in IDX.split_columns(list(range(10)))] == [10]


def test_callback_records_where_the_smoke_wrote_and_renders(tmp_path, monkeypatch):
    """The callback class with the events Ansible sends: a pacs_smoke_write result, then the stats."""
    run_dir = smoke(tmp_path / "gh", 0, "pacs1", [result("CT", "pass")])
    callback = IDX.CallbackModule()
    callback._smoke_play = object()  # pylint: disable=protected-access
    written = types.SimpleNamespace(
        task=types.SimpleNamespace(action="pacs_smoke_write"), host=types.SimpleNamespace(get_name=lambda: "pacs1"),
        result={"paths": [os.path.join(run_dir, "pacs1.json"), os.path.join(run_dir, "pacs1.html")]})
    callback.v2_runner_on_ok(written)
    monkeypatch.setattr(IDX.context, "CLIARGS", {"check": False, "tags": ("all",)})
    stats = types.SimpleNamespace(processed={"pacs1": 1}, summarize=lambda h: {"ok": 5, "changed": 1})
    callback.v2_playbook_on_stats(stats)
    saved = json.loads((tmp_path / "gh" / "runs" / (stamp(0) + ".json")).read_text())
    assert saved["smoke_run"] == stamp(0) and saved["hosts"]["pacs1"]["changed"] == 1
    assert (tmp_path / "gh" / "index.html").exists() and (tmp_path / "index.html").exists()


def _playbook(args, tmp_path):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"))
    return subprocess.run([PLAYBOOK_BIN, "-i", os.path.join(ROOT, "inventories/demo"), "--vault-password-file",
                           os.path.join(ROOT, "inventories/demo/.vault-password-demo-only"), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_ansible_playbook_check_mode_records_the_recap(tmp_path):
    """Loaded from ansible.cfg: a --check run of the smoke playbook (no report) still records its recap."""
    reports = tmp_path / "reports"
    proc = _playbook([os.path.join(ROOT, "playbooks/smoke.yml"), "--check",
                      "-e", "pacs_smoke_report_dir=" + str(reports)], tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "pacs_report_index" not in proc.stderr
    (path,) = glob.glob(str(reports / "demo" / "runs" / "*.json"))
    saved = json.loads(open(path, encoding="utf-8").read())
    assert saved["check_mode"] is True and saved["smoke_run"] is None and "pacs1" in saved["hosts"]
    assert sorted(os.listdir(reports / "demo")) == ["index.html", "runs"]
    assert (reports / "index.html").exists()


def test_ansible_playbook_without_smoke_writes_nothing(tmp_path):
    """playbooks/preflight.yml has no smoke play: the callback stays silent and writes nothing."""
    reports = tmp_path / "reports"
    proc = _playbook([os.path.join(ROOT, "playbooks/preflight.yml"), "-e", "pacs_smoke_report_dir=" + str(reports)],
                     tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "pacs_report_index" not in proc.stdout + proc.stderr
    assert not reports.exists()


# ---------------------------------------------------------------------------- chromium

MODALITIES = ["%s_%s_%02d" % (kind, room, n) for n, (kind, room) in enumerate(
    [(k, r) for k in ("CT", "MR", "US", "XR", "NM", "MG", "DX", "PT") for r in ("RADIOLOGY", "ER", "CARDIO", "ONCO", "WARD")],
    start=1)][:40]


def fourty_modalities(folder):
    """14 nights of a hospital with 40 modalities, 2 XNATs, a DICOMweb peer and 4 more hosts."""
    for night in range(14):
        results = []
        for index, name in enumerate(MODALITIES):
            status = "pass"
            if index == 7 and night >= 10:
                status = "fail"                      # failing every night since night 10
            elif index == 21 and night in (3, 4, 12):
                status = "fail"
            elif index in (30, 31):
                status = "skipped"                   # expected offline
            results.append(result(name, status, error="no answer from 10.20.30.%d:104 within 3.0s" % index
                                  if status == "fail" else ""))
            results.append(result(name, "pass", "echo_in"))
        for extra in ("XNAT_RESEARCH", "XNAT_CLINICAL", "DICOMweb", "research_peer", "PP_SMOKE_UNKNOWN",
                      "called AE PP_SMOKE_WRONG", "XNAT DQR"):
            results.append(result(extra, "pass", "stow"))
        if night != 9:  # night 9 was a --check run: no smoke
            smoke(folder, night, "pacs-main", results, name="University Hospital PACS", aet="UH_PACS")
        recap(folder, night, {"pacs-main": 3 if night == 9 else (2 if night == 6 else 0), "pacs-db": 0,
                              "xnat-gw": {"ok": 4, "failures": 1} if night == 11 else 0, "nginx-front": 0,
                              "pacs-standby": 0}, check_mode=night == 9)


def _screenshot(page, png, height, profile):
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--user-data-dir=" + profile, "--screenshot=" + png, "--window-size=1920,%d" % height, "file://" + page],
        capture_output=True, text=True, timeout=120, check=False)
    assert os.path.exists(png), proc.stderr[-2000:]


def test_forty_modalities_fit_on_one_1920x1080_screen(tmp_path, capsys):
    from PIL import Image, ImageChops  # pylint: disable=import-outside-toplevel

    fourty_modalities(tmp_path / "university")
    hospital, _fleet = IDX.render_site(str(tmp_path), "university", TEMPLATES)
    page = open(hospital, encoding="utf-8").read()
    assert page.count("<tr data-link=") == 47
    profile = tempfile.mkdtemp(prefix="pri-chromium-")
    try:
        shot = str(tmp_path / "hospital-index-1920x1080.png")
        tall = str(tmp_path / "hospital-index-1920x2400.png")
        _screenshot(hospital, shot, 1080, profile)
        _screenshot(hospital, tall, 2400, profile)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    with capsys.disabled():
        print("\nhospital index screenshot: %s" % shot)
    image = Image.open(tall).convert("RGB")
    assert image.size == (1920, 2400)
    box = ImageChops.difference(image, Image.new("RGB", image.size, (255, 255, 255))).getbbox()
    assert box is not None
    assert box[3] <= 1080, "the page is %d px high: it does not fit 1920x1080 without scrolling" % box[3]
    # The red of the failing link is there, near the end of its strip.
    pixels = image.load()
    reds = sum(1 for x in range(0, 1920, 2) for y in range(0, box[3], 2) if pixels[x, y] == (0xc6, 0x28, 0x28))
    assert reds > 50
