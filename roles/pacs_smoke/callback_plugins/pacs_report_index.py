# -*- coding: utf-8 -*-
"""Callback plugin: record the play recap of each run next to the smoke reports and render
the hospital index (<report_dir>/<inventory>/index.html) and the fleet page
(<report_dir>/index.html) from the top-level templates/site/ folder.

Everything but the CallbackModule class is a small pure function (tested in
tests/unit/test_report_index.py without running Ansible)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: pacs_report_index
type: notification
short_description: Record the play recap per run and render the hospital index and the fleet page
description:
  - Only acts in runs whose playbook contains a play with the C(pacs_smoke) role (C(site.yml),
    C(playbooks/smoke.yml)); other playbooks (C(playbooks/preflight.yml), ...) write nothing.
  - At the end of the run (C(v2_playbook_on_stats)) writes the ok/changed/failed/unreachable
    counts of every host and whether the run was in check mode to
    C(<pacs_smoke_report_dir>/<inventory>/runs/<timestamp>.json). The timestamp is the smoke
    run's (its report folder C(<inventory>/<timestamp>/)) when the smoke wrote a report, the
    start of the run otherwise (check mode, smoke skipped by tags, a run that failed earlier).
  - Then renders C(<inventory>/index.html) (every host, each link's last status, the last
    14 runs as a strip of colours per link, changes and check-mode drift per run) and
    C(<pacs_smoke_report_dir>/index.html) (one row per inventory) from C(templates/site/).
  - A failure here is shown as a warning and never fails the run.
version_added: "1.0.0"
author: pacs-provisioner
requirements:
  - enabled in C(callbacks_enabled) (C(CALLBACK_NEEDS_ENABLED)); the folder in C(callback_plugins)
options:
  templates_dir:
    description:
      - Folder of C(hospital-index.html.j2) and C(fleet.html.j2).
      - Unset, C(templates/site) of the repository that holds this plugin.
    type: path
    env:
      - name: PACS_REPORT_TEMPLATES_DIR
    ini:
      - section: callback_pacs_report_index
        key: templates_dir
  runs:
    description: Number of runs shown per hospital (strip length).
    type: int
    default: 14
    env:
      - name: PACS_REPORT_RUNS
    ini:
      - section: callback_pacs_report_index
        key: runs
"""

import datetime
import json
import os
import re

try:
    from ansible import context
    from ansible.plugins.callback import CallbackBase
except ImportError:  # the pure functions below do not need Ansible
    context = None
    CallbackBase = object

STAMP_RE = re.compile(r"^\d{8}T\d{6}Z$")
HISTORY = 14
SEVERITY = {"fail": 4, "warn": 3, "pass": 2, "skipped": 1, "none": 0}
ROWS_PER_COLUMN = 26
SMOKE_ROLE = "pacs_smoke"
DEFAULT_TEMPLATES = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
    "templates", "site")


# ---------------------------------------------------------------------------- history


def stamp_label(stamp):
    """'20261130T202809Z' -> '11-30 20:28' (UTC); anything else is returned unchanged."""
    if not STAMP_RE.match(stamp or ""):
        return stamp or ""
    return "%s-%s %s:%s" % (stamp[4:6], stamp[6:8], stamp[9:11], stamp[11:13])


def _read_json(path):
    """The JSON object in path, or None when it is missing, unreadable or not an object."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_history(inventory_dir, limit=HISTORY):
    """Read the runs of one inventory folder, oldest first, at most the newest `limit`.

    A run is keyed by its UTC stamp and merges the smoke report folder `<stamp>/` (one
    `<host>.json` per host) with the recap `runs/<stamp>.json` written by this callback.
    Either may be missing (runs from before the callback; check-mode runs have no smoke).
    Returns [{stamp, check_mode, playbook, recap: {host: counts} or None, smoke: {host: report}}].
    """
    runs = {}

    def run(stamp):
        return runs.setdefault(stamp, {"stamp": stamp, "check_mode": False, "playbook": "",
                                       "recap": None, "smoke": {}})

    try:
        names = os.listdir(inventory_dir)
    except OSError:
        return []
    for name in names:
        folder = os.path.join(inventory_dir, name)
        if not STAMP_RE.match(name) or os.path.islink(folder) or not os.path.isdir(folder):
            continue
        for entry in sorted(os.listdir(folder)):
            if not entry.endswith(".json") or entry.endswith("-connection-sheet.json"):
                continue
            report = _read_json(os.path.join(folder, entry))
            if report is not None and isinstance(report.get("results"), list):
                run(name)["smoke"][report.get("host") or entry[:-5]] = report
    runs_dir = os.path.join(inventory_dir, "runs")
    for entry in os.listdir(runs_dir) if os.path.isdir(runs_dir) else []:
        stamp = entry[:-5]
        if not entry.endswith(".json") or not STAMP_RE.match(stamp):
            continue
        recap = _read_json(os.path.join(runs_dir, entry))
        if recap is None or not isinstance(recap.get("hosts"), dict):
            continue
        item = run(stamp)
        item["recap"] = recap["hosts"]
        item["check_mode"] = bool(recap.get("check_mode"))
        item["playbook"] = str(recap.get("playbook") or "")
    ordered = [runs[stamp] for stamp in sorted(runs)]
    return ordered[-limit:] if limit else ordered


def link_statuses(results):
    """Worst status per link of one host report's results, in the order links first appear:
    fail beats warn beats pass beats skipped. Returns [(link, status, first error)]."""
    order, status, error, error_state = [], {}, {}, {}
    for item in results or []:
        link = str(item.get("link", ""))
        state = item.get("status") if item.get("status") in SEVERITY else "fail"
        if link not in status:
            order.append(link)
            status[link] = state
            error[link] = ""
        elif SEVERITY[state] > SEVERITY[status[link]]:
            status[link] = state
        # The first failure's error; a warning's only while the link has no failure.
        if state in ("fail", "warn") and (not error[link] or (state == "fail" and error_state[link] == "warn")):
            error[link] = "%s: %s" % (item.get("check", ""), item.get("error") or ("failed" if state == "fail" else "warning"))
            error_state[link] = state
    return [(link, status[link], error[link]) for link in order]


def run_summary(run):
    """One column of the runs table: stamp, label, mode, totals and drift of a run."""
    recap = run.get("recap") or {}
    changed = sum(int(c.get("changed", 0)) for c in recap.values())
    failed = sum(int(c.get("failures", 0)) + int(c.get("unreachable", 0)) for c in recap.values())
    smoke_fail = sum(int((r.get("counts") or {}).get("fail", 0)) for r in run.get("smoke", {}).values())
    return {
        "stamp": run["stamp"],
        "label": stamp_label(run["stamp"]),
        "mode": "check" if run.get("check_mode") else ("run" if run.get("recap") is not None else "smoke"),
        "playbook": run.get("playbook", ""),
        "changed": changed,
        "failed": failed,
        "drift": is_drift(run),
        "smoke": bool(run.get("smoke")),
        "smoke_fail": smoke_fail,
        "status": "fail" if failed or smoke_fail else ("drift" if is_drift(run) else "pass"),
    }


def is_drift(run):
    """True when a check-mode run would have changed something on a host (changed > 0)."""
    if not run.get("check_mode"):
        return False
    return any(int(c.get("changed", 0)) > 0 for c in (run.get("recap") or {}).values())


def recap_cell(counts, check_mode):
    """One host in one run of the runs table: a CSS class and a short text."""
    if counts is None:
        return {"cls": "none", "text": "", "title": "not in this run"}
    failed, unreachable = int(counts.get("failures", 0)), int(counts.get("unreachable", 0))
    changed = int(counts.get("changed", 0))
    title = "ok %s, changed %s, failed %s, unreachable %s%s" % (
        counts.get("ok", 0), changed, failed, unreachable, " (check mode)" if check_mode else "")
    if unreachable:
        return {"cls": "fail", "text": "unr", "title": title}
    if failed:
        return {"cls": "fail", "text": "%d F" % failed, "title": title}
    if changed:
        return {"cls": "drift" if check_mode else "changed", "text": "%d" % changed, "title": title}
    return {"cls": "pass", "text": "", "title": title}


def recap_text(counts):
    """A host's recap in words: 'unreachable', '2 failed', '3 changed' or 'no change'."""
    if int(counts.get("unreachable", 0)):
        return "unreachable"
    if int(counts.get("failures", 0)):
        return "%d failed" % int(counts["failures"])
    if int(counts.get("changed", 0)):
        return "%d changed" % int(counts["changed"])
    return "no change"


def build_strips(runs):
    """Per smoke host, one row per link: its last known status and one cell per run (oldest
    first; 'none' where the run has no report of that host, e.g. a check-mode run).

    Returns [{host, name, aet, last_run, counts, links: [{name, last, cells, failing_since,
    error}]}]. A link keeps the order of the newest report that has it."""
    hosts = []
    for run in runs:
        for host in run.get("smoke", {}):
            if host not in hosts:
                hosts.append(host)
    out = []
    for host in sorted(hosts):
        per_run = [dict((link, (state, err)) for link, state, err in
                        link_statuses(run["smoke"][host].get("results")))
                   if host in run.get("smoke", {}) else None for run in runs]
        links = []
        for run in reversed(runs):
            if host in run.get("smoke", {}):
                for link, _state, _err in link_statuses(run["smoke"][host].get("results")):
                    if link not in links:
                        links.append(link)
        latest = next(run for run in reversed(runs) if host in run.get("smoke", {}))
        report = latest["smoke"][host]
        rows = []
        for link in links:
            cells, last, error, since = [], "none", "", None
            for run, states in zip(runs, per_run):
                state, err = (states or {}).get(link, ("none", ""))
                title = "%s %s: %s%s" % (stamp_label(run["stamp"]), link, state if states is not None
                                         else "no smoke in this run", (" - " + err) if err else "")
                cells.append({"cls": state, "title": title})
                if states is not None and link in states:
                    last, error = state, err
                    since = (since or run["stamp"]) if state == "fail" else None
            rows.append({"name": link, "last": last, "cells": cells, "error": error,
                         "failing_since": stamp_label(since) if since and last == "fail" else ""})
        orthanc = report.get("orthanc") or {}
        out.append({"host": host, "name": str(orthanc.get("name", "")), "aet": str(orthanc.get("aet", "")),
                    "last_run": latest["stamp"], "last_label": stamp_label(latest["stamp"]),
                    "counts": report.get("counts") or {}, "links": rows,
                    "failing": sum(1 for r in rows if r["last"] == "fail")})
    return out


def split_columns(rows, per_column=ROWS_PER_COLUMN):
    """Split rows into balanced columns of at most `per_column` rows (at least one column)."""
    if not rows:
        return [[]]
    count = -(-len(rows) // per_column)
    size = -(-len(rows) // count)
    return [rows[i:i + size] for i in range(0, len(rows), size)]


def hospital_context(inventory, runs, generated=None):
    """Everything hospital-index.html.j2 shows, from read_history()'s runs (generated: the
    page's UTC stamp, now by default)."""
    summaries = [run_summary(run) for run in runs]
    hosts = []
    for run in runs:
        for host in list((run.get("recap") or {})) + list(run.get("smoke", {})):
            if host not in hosts:
                hosts.append(host)
    recap_rows = [{"host": host, "cells": [recap_cell((run.get("recap") or {}).get(host), run.get("check_mode"))
                                            if run.get("recap") is not None
                                            else {"cls": "none", "text": "", "title": "no recap recorded"}
                                            for run in runs]} for host in sorted(hosts)]
    strips = build_strips(runs)
    for item in strips:
        item["columns"] = split_columns(item["links"])
    last = summaries[-1] if summaries else None
    return {
        "inventory": inventory,
        "runs": summaries,
        "recap_rows": recap_rows,
        "smoke_hosts": strips,
        "last": last,
        "failing": sum(h["failing"] for h in strips),
        "drift_runs": [s for s in summaries if s["drift"]],
        "generated": stamp_label(generated or utc_stamp()),
    }


def fleet_context(report_dir, limit=HISTORY, generated=None):
    """One row per inventory folder of report_dir that holds runs: its hosts' latest smoke
    status and recap, failing links, drift, and the status strip of its last runs."""
    rows = []
    try:
        names = sorted(os.listdir(report_dir))
    except OSError:
        names = []
    for name in names:
        folder = os.path.join(report_dir, name)
        if not os.path.isdir(folder) or os.path.islink(folder):
            continue
        runs = read_history(folder, limit)
        if not runs:
            continue
        summaries = [run_summary(run) for run in runs]
        strips = build_strips(runs)
        last_recap = next((run for run in reversed(runs) if run.get("recap") is not None), None)
        hosts = []
        for item in strips:
            hosts.append({"host": item["host"], "cls": "fail" if item["failing"] else "pass",
                          "text": "%d/%d links failing" % (item["failing"], len(item["links"]))
                          if item["failing"] else "%d links ok" % len(item["links"])})
        for host, counts in sorted(((last_recap or {}).get("recap") or {}).items()):
            if host not in [h["host"] for h in hosts]:
                cell = recap_cell(counts, last_recap.get("check_mode"))
                hosts.append({"host": host, "cls": cell["cls"], "text": recap_text(counts)})
        rows.append({"inventory": name, "last": summaries[-1], "hosts": hosts, "runs": summaries,
                     "failing": sum(h["failing"] for h in strips),
                     "drift": summaries[-1]["drift"] if summaries else False,
                     "last_drift": next((s["label"] for s in reversed(summaries) if s["drift"]), "")})
    return {"inventories": rows, "generated": stamp_label(generated or utc_stamp())}


# ---------------------------------------------------------------------------- output


def render(templates_dir, name, context_vars):
    """Render templates_dir/name with Jinja2, every value HTML-escaped (autoescape)."""
    import jinja2  # pylint: disable=import-outside-toplevel

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates_dir), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)
    return env.get_template(name).render(**context_vars)


def write_text(path, text):
    """Write text to path atomically (a temporary file renamed over it)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def recap_record(stamp, check_mode, stats, playbook="", smoke_run=None, limit=None, tags=None):
    """The JSON document of one run's recap: stats is {host: summarize() dict}."""
    keys = ("ok", "changed", "failures", "unreachable", "skipped", "rescued", "ignored")
    return {"stamp": stamp, "check_mode": bool(check_mode), "playbook": playbook,
            "smoke_run": smoke_run, "limit": limit, "tags": list(tags or []),
            "drift": bool(check_mode) and any(int(c.get("changed", 0)) > 0 for c in stats.values()),
            "hosts": {host: {k: int(counts.get(k, 0)) for k in keys} for host, counts in sorted(stats.items())}}


def write_recap(inventory_dir, record):
    """Write record to <inventory_dir>/runs/<stamp>.json; returns the path."""
    path = os.path.join(inventory_dir, "runs", record["stamp"] + ".json")
    write_text(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path


def render_site(report_dir, inventory, templates_dir=DEFAULT_TEMPLATES, limit=HISTORY):
    """(Re)render <report_dir>/<inventory>/index.html and <report_dir>/index.html; returns both paths."""
    hospital = os.path.join(report_dir, inventory, "index.html")
    runs = read_history(os.path.join(report_dir, inventory), limit)
    write_text(hospital, render(templates_dir, "hospital-index.html.j2", hospital_context(inventory, runs)))
    fleet = os.path.join(report_dir, "index.html")
    write_text(fleet, render(templates_dir, "fleet.html.j2", fleet_context(report_dir, limit)))
    return hospital, fleet


def utc_stamp(now=None):
    """The smoke's run stamp format: UTC, %Y%m%dT%H%M%SZ."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ")


def smoke_paths(paths):
    """From the paths written by pacs_smoke_write (<dir>/<inventory>/<stamp>/<file>), the
    (report_dir, inventory, stamp) of the run, or None when they do not look like that."""
    for path in paths or []:
        run_dir = os.path.dirname(os.path.abspath(str(path)))
        stamp = os.path.basename(run_dir)
        if STAMP_RE.match(stamp):
            inventory_dir = os.path.dirname(run_dir)
            return os.path.dirname(inventory_dir), os.path.basename(inventory_dir), stamp
    return None


# ---------------------------------------------------------------------------- callback


class CallbackModule(CallbackBase):
    """Record the recap of runs that include the smoke play; render the index pages."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "pacs_report_index"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._stamp = utc_stamp()
        self._playbook = ""
        self._playbook_dir = os.getcwd()
        self._smoke_play = None
        self._written = {}  # host -> (report_dir, inventory, stamp) from pacs_smoke_write

    def v2_playbook_on_start(self, playbook):
        """Find the smoke play among all plays (imports are loaded before the run starts)."""
        self._stamp = utc_stamp()
        self._playbook = os.path.basename(getattr(playbook, "_file_name", "") or "")
        self._playbook_dir = os.path.abspath(getattr(playbook, "_basedir", "") or os.getcwd())
        try:
            for play in playbook.get_plays():
                if any(role.get_name() == SMOKE_ROLE or role.get_name().endswith("." + SMOKE_ROLE)
                       for role in play.get_roles()):
                    self._smoke_play = play
        except Exception as exc:  # pylint: disable=broad-except
            self._display.warning("pacs_report_index: cannot inspect the playbook: %s" % exc)

    def v2_runner_on_ok(self, result):
        """Remember where pacs_smoke_write put each host's report."""
        task = getattr(result, "task", None) or result._task
        if task.action.split(".")[-1] != "pacs_smoke_write":
            return
        host = (getattr(result, "host", None) or result._host).get_name()
        found = smoke_paths((getattr(result, "result", None) or result._result).get("paths"))
        if found:
            self._written[host] = found

    def _locate(self, host_name):
        """(report_dir, inventory) of a host: where its smoke wrote this run, else the
        smoke role's pacs_smoke_report_dir/pacs_smoke_inventory_name for it (extra vars,
        inventory, role defaults), templated as the smoke play would."""
        if host_name in self._written:
            return self._written[host_name][:2]
        play = self._smoke_play
        manager = play.get_variable_manager()
        inventory = getattr(manager, "_inventory", None)
        host = inventory.get_host(host_name) if inventory is not None else None
        if host is None or not host.vars.get("inventory_dir"):
            return None  # implicit localhost and the like are no host of the hospital
        for other, where in sorted(self._written.items()):
            other_host = inventory.get_host(other)
            if other_host is not None and other_host.vars.get("inventory_dir") == host.vars["inventory_dir"]:
                return where[:2]  # a host of the same inventory as a smoke host goes with it
        from ansible.template import Templar  # pylint: disable=import-outside-toplevel

        variables = manager.get_vars(play=play, host=host, include_hostvars=False)
        variables["playbook_dir"] = os.path.abspath(play._included_path or self._playbook_dir)
        templar = Templar(loader=play._loader, variables=variables)
        report_dir = templar.template(variables.get("pacs_smoke_report_dir", "{{ playbook_dir }}/reports"))
        name = templar.template(variables.get("pacs_smoke_inventory_name",
                                              "{{ inventory_dir | default('inventory', true) | basename }}"))
        return os.path.abspath(str(report_dir)), str(name)

    def v2_playbook_on_stats(self, stats):
        """Write the recap of this run per inventory and re-render the pages."""
        if self._smoke_play is None:
            return
        try:
            self._record(stats)
        except Exception as exc:  # pylint: disable=broad-except
            self._display.warning("pacs_report_index: the run's recap and index were not written: %s" % exc)

    def _record(self, stats):
        args = context.CLIARGS if context is not None else {}
        check_mode = bool(args.get("check", False))
        groups = {}
        for host in sorted(stats.processed):
            where = self._locate(host)
            if where is not None:
                groups.setdefault(where, {})[host] = stats.summarize(host)
        templates_dir = self.get_option("templates_dir") if self._has_option("templates_dir") else None
        limit = self.get_option("runs") if self._has_option("runs") else HISTORY
        for (report_dir, inventory), hosts in sorted(groups.items()):
            stamps = [self._written[h][2] for h in hosts if h in self._written]
            stamp = max(stamps) if stamps else self._stamp
            tags = [t for t in args.get("tags", ()) if t != "all"]
            record = recap_record(stamp, check_mode, hosts, self._playbook, stamp if stamps else None,
                                  args.get("subset"), tags)
            write_recap(os.path.join(report_dir, inventory), record)
            hospital, _fleet = render_site(report_dir, inventory, templates_dir or DEFAULT_TEMPLATES, limit or HISTORY)
            self._display.display("pacs_report_index: %s%s" % (
                hospital, " (check mode: drift on %s)" % ", ".join(h for h, c in sorted(hosts.items()) if c["changed"])
                if record["drift"] else ""))

    def _has_option(self, name):
        try:
            return self.get_option(name) not in (None, "")
        except KeyError:
            return False
