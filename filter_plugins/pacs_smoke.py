# -*- coding: utf-8 -*-
"""Filters of the pacs_smoke role: plan the checks, summarise the results."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: pacs_smoke_plan
short_description: Plan the smoke checks of one Orthanc host from its settings
description:
  - Takes a dict of the host's settings and returns the check lists the smoke
    modules take (C(echo_in), C(find_in), C(echo_out)), plus C(links) (modalities
    with their defaults filled in) for the connection sheet.
  - Encodes how Orthanc 1.10.1 treats calling AEs; see the role README.
  - Other filters in this file, C(pacs_smoke_table), C(pacs_smoke_matrix) and
    C(pacs_smoke_failures), turn a list of results into report lines, a matrix and
    the list of failures; C(pacs_smoke_explain(results, probe, sources)) adds to each
    inbound check that got no answer whether the host firewall's sets (the fact
    pacs_firewall_sources) explain it, naming the variable to set; C(pacs_smoke_xnat_plan) turns xnat_dqr_servers and
    the smoke_write and smoke_project keys of its items into the list the xnat_dqr_smoke module takes;
    C(phase_tags | pacs_smoke_phases(ansible_run_tags, ansible_skip_tags)) names the phases of the
    pacs_smoke_probe task that the --tags and --skip-tags of the run select;
    C(orthanc_dicomweb_servers | pacs_smoke_remote_servers) keeps the name and smoke_stow of each
    item (the plan's input without the servers' passwords).
options:
  _input:
    description: >-
      Dict with host, dicom_aet, dicom_port, modalities (orthanc_modalities shape),
      always_allow_echo, check_called_aet, check_modality_host, dicom_tls,
      unknown_aet, wrong_called_aet, dicomweb_servers (orthanc_dicomweb_servers shape;
      only name and smoke_stow are kept); optionally http_port, username, timeout,
      tls_expiry_fail_days and tls_expiry_warn_days, only checked (an empty AE title or user,
      a port or timeout not above 0 and bad expiry days fail, naming their variables).
    type: dict
    required: true
"""

EXAMPLES = r"""
plan: "{{ {'host': '10.0.0.5', 'dicom_aet': 'GH_PACS', 'dicom_port': 4242,
           'modalities': orthanc_modalities} | pacs_smoke_plan }}"
lines: "{{ results | pacs_smoke_table }}"
"""

RETURN = r"""
_value:
  description: >-
    Dict with echo_in, find_in, echo_out (check lists for the modules), skipped (results
    of checks that cannot run), links (modalities with defaults) and remote_servers.
  type: dict
"""

import ipaddress
import pathlib
import re
import sys

from ansible.errors import AnsibleFilterError

# Shared contract code lives beside the filters in filter_plugins/pacs_model.py (README: "Where code lives").
if str(pathlib.Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from pacs_model import pacs_modality  # noqa: E402  pylint: disable=wrong-import-position

# warn: a check that passed with a reservation (a certificate near expiry, Orthanc's own HTTP
# port reachable but refusing); it does not fail the run.
STATUS_ORDER = ("fail", "warn", "skipped", "pass")
CHECK_ORDER = ("echo_in", "echo_in_refused", "find_in", "echo_out", "dqr_query", "xnat_store", "dqr_import",
               "http_auth", "stow", "qido", "wado", "stow_remote", "cleanup",
               "chain", "expiry", "tls11_refused", "http_redirect")
# The keys of a modality the plan reads; their defaults are the orthanc role's argument spec's
# (pacs_model.MODALITY_DEFAULTS), filled by pacs_modality.
PLAN_FLAGS = ("allow_echo", "allow_store", "allow_find", "allow_move", "allow_get", "use_dicom_tls",
              "expected_offline")


def _require(value, name, kind):
    if not isinstance(value, kind):
        raise AnsibleFilterError("%s: expected %s, got %r of type %s" % (
            name, getattr(kind, "__name__", kind), value, type(value).__name__))
    return value


def _bool(value, name):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
        return value.lower() in ("true", "yes", "1")
    raise AnsibleFilterError("%s: expected a boolean, got %r of type %s" % (name, value, type(value).__name__))


def _number(value, kind):
    """value as kind (int or float), or None when it is not a number."""
    try:
        return kind(value)
    except (TypeError, ValueError):
        return None


# The settings the smoke tests need, each with the variable it comes from and the smallest
# value that works (checked when the key is given).
NEEDED = (("dicom_port", "orthanc_dicom_port", int, 1), ("http_port", "orthanc_http_port", int, 1),
          ("timeout", "pacs_smoke_timeout", float, 1e-9),
          ("tls_expiry_fail_days", "pacs_smoke_tls_expiry_fail_days", int, 0))


def setting_problems(settings):
    """What the smoke tests cannot run with, each problem naming its variable: an empty AE title
    or HTTP user, a port or timeout not above 0, expiry days below 0 or the warning days below
    the failure days. Keys missing from settings are not checked."""
    problems = []
    for key, variable in (("dicom_aet", "orthanc_dicom_aet"), ("username", "pacs_smoke_username")):
        if key in settings and not str(settings[key] or "").strip():
            problems.append("%s is empty%s" % (variable, " (orthanc_users[0] gives it by default)"
                                               if key == "username" else ""))
    for key, variable, kind, least in NEEDED:
        if key in settings:
            value = _number(settings[key], kind)
            if value is None or value < least:
                problems.append("%s must be %s, got %r" % (
                    variable, "0 or more" if least == 0 else "more than 0", settings[key]))
    if "tls_expiry_warn_days" in settings:
        warn, fail = _number(settings["tls_expiry_warn_days"], int), _number(settings.get("tls_expiry_fail_days"), int)
        if warn is None or (fail is not None and warn < fail):
            problems.append("pacs_smoke_tls_expiry_warn_days must not be below pacs_smoke_tls_expiry_fail_days "
                            "(%r), got %r" % (settings.get("tls_expiry_fail_days"), settings["tls_expiry_warn_days"]))
    return problems


def pacs_smoke_remote_servers(servers):
    """The name and smoke_stow of each orthanc_dicomweb_servers item (nothing else: no
    password), in order; a list of such pairs is returned as it is."""
    kept = []
    for index, server in enumerate(_require(servers or [], "orthanc_dicomweb_servers", list)):
        if not isinstance(server, dict):
            raise AnsibleFilterError("orthanc_dicomweb_servers[%d]: expected a dict, got %s"
                                     % (index, type(server).__name__))
        if "name" not in server:
            raise AnsibleFilterError("orthanc_dicomweb_servers[%d]: needs a name, got keys %r" % (index, sorted(server)))
        kept.append({"name": server["name"], "smoke_stow": _bool(
            server.get("smoke_stow", False), "orthanc_dicomweb_servers[%s].smoke_stow" % server["name"])})
    return kept


def pacs_smoke_plan(settings):
    """Return the smoke checks for one Orthanc host; refuse settings the checks cannot run with
    (setting_problems), naming every variable at once."""
    _require(settings, "pacs_smoke_plan input", dict)
    problems = setting_problems(settings)
    if problems:
        raise AnsibleFilterError("pacs_smoke: " + "; ".join(problems))
    for key in ("host", "dicom_aet", "dicom_port"):
        if key not in settings:
            raise AnsibleFilterError("pacs_smoke_plan input: missing key %r in %r" % (key, sorted(settings)))
    host, aet, port = settings["host"], settings["dicom_aet"], int(settings["dicom_port"])
    modalities = _require(settings.get("modalities") or [], "modalities", list)
    unknown = settings.get("unknown_aet") or "PP_SMOKE_UNKNOWN"
    wrong_called = settings.get("wrong_called_aet") or "PP_SMOKE_WRONG"
    always_echo = _bool(settings.get("always_allow_echo", True), "always_allow_echo")
    check_called = _bool(settings.get("check_called_aet", False), "check_called_aet")
    check_host = _bool(settings.get("check_modality_host", False), "check_modality_host")
    tls = _bool(settings.get("dicom_tls", False), "dicom_tls")
    plan = {"echo_in": [], "find_in": [], "echo_out": [], "links": [], "skipped": [],
            "remote_servers": pacs_smoke_remote_servers(settings.get("dicomweb_servers"))}

    def skip(link, check, reason):
        plan["skipped"].append({"link": link, "check": check, "status": "skipped", "error": reason,
                                "detail": "", "duration": 0.0})

    inbound_reason = None
    if tls:
        inbound_reason = "Orthanc's DICOM port uses TLS; inbound checks from the probe host are not implemented for TLS"
    elif check_host:
        inbound_reason = "DicomCheckModalityHost is true: only the modality's own host may use its AE"
    base = {"host": host, "port": port, "called_aet": aet}
    for index, raw in enumerate(modalities):
        _require(raw, "modalities[%d]" % index, dict)
        if "name" not in raw or "aet" not in raw:
            raise AnsibleFilterError("modalities[%d]: needs name and aet, got %r" % (index, raw))
        mod = pacs_modality(raw)
        for key in PLAN_FLAGS:
            mod[key] = _bool(mod[key], "modalities[%s].%s" % (mod["name"], key))
        plan["links"].append(mod)
        name = mod["name"]
        if inbound_reason:
            skip(name, "echo_in", inbound_reason)
        elif mod["allow_echo"] or always_echo:
            plan["echo_in"].append(dict(base, link=name, check="echo_in", calling_aet=mod["aet"], expect="accept"))
        else:
            skip(name, "echo_in", "allow_echo is false for this modality")
        if mod["allow_find"]:
            if inbound_reason:
                skip(name, "find_in", inbound_reason)
            else:
                plan["find_in"].append(dict(base, link=name, check="find_in", calling_aet=mod["aet"], expect="accept"))
        plan["echo_out"].append({"link": name, "check": "echo_out", "modality": name,
                                 "expected_offline": mod["expected_offline"]})
    if tls:
        skip(unknown, "echo_in_refused", inbound_reason)
    elif always_echo:
        skip(unknown, "echo_in_refused", "DicomAlwaysAllowEcho is true: any AE may C-ECHO")
    else:
        # Orthanc 1.10.1: A-ASSOCIATE-RJ (calling AE not recognised) when every
        # DicomAlwaysAllow* is false, else association accepted and C-ECHO refused.
        plan["echo_in"].append(dict(base, link=unknown, check="echo_in_refused", calling_aet=unknown,
                                    expect="reject"))
    if check_called and not tls:
        known = [m for m in plan["links"] if m["allow_echo"] or always_echo]
        calling = known[0]["aet"] if known and not check_host else unknown
        plan["echo_in"].append(dict(base, link="called AE " + wrong_called, check="echo_in_refused",
                                    calling_aet=calling, called_aet=wrong_called, expect="reject"))
    return plan




def _xnat_smoke_settings(item):
    """write/project of one XNAT: its smoke_write and smoke_project keys (the xnat_dqr contract)."""
    name = item["name"]
    write = _bool(item.get("smoke_write", False), "xnat_dqr_servers[%s].smoke_write" % name)
    project = item.get("smoke_project") or ""
    _require(project, "xnat_dqr_servers[%s].smoke_project" % name, str)
    return write, project


def pacs_smoke_xnat_plan(settings):
    """The xnats list of the xnat_dqr_smoke module, one entry per xnat_dqr_servers item.

    `settings`: {servers: xnat_dqr_servers, dicom_aet, dicom_port, validate_certs}. An XNAT is
    read-only (write false) unless its item says smoke_write: true: a hospital's XNAT receives
    nothing from a smoke test it was not told about.
    """
    _require(settings, "pacs_smoke_xnat_plan input", dict)
    servers = _require(settings.get("servers") or [], "xnat_dqr_servers", list)
    plan = []
    for index, item in enumerate(servers):
        _require(item, "xnat_dqr_servers[%d]" % index, dict)
        missing = [k for k in ("name", "url", "username", "password", "receiver") if k not in item]
        if missing:
            raise AnsibleFilterError("xnat_dqr_servers[%d]: missing %s" % (index, ", ".join(missing)))
        receiver = _require(item["receiver"], "xnat_dqr_servers[%s].receiver" % item["name"], dict)
        write, project = _xnat_smoke_settings(item)
        plan.append({"name": item["name"], "url": item["url"], "username": item["username"],
                     "password": item["password"], "validate_certs": _bool(settings.get("validate_certs", True),
                                                                           "validate_certs"),
                     "pacs_label": item.get("pacs_label") or settings["dicom_aet"],
                     "pacs_aet": settings["dicom_aet"], "pacs_port": int(settings["dicom_port"]),
                     "receiver_aet": receiver["aet"], "receiver_port": int(receiver["port"]),
                     "write": write, "project": project})
    return plan


def _check_rank(check):
    return CHECK_ORDER.index(check) if check in CHECK_ORDER else len(CHECK_ORDER)


def _results(results):
    _require(results, "pacs_smoke results", list)
    for index, item in enumerate(results):
        _require(item, "pacs_smoke results[%d]" % index, dict)
        for key in ("link", "check", "status"):
            if key not in item:
                raise AnsibleFilterError("pacs_smoke results[%d]: missing %r in %r" % (index, key, item))
    return results


def pacs_smoke_matrix(results):
    """Links (rows) by checks (columns) with the result in each cell."""
    results = _results(results)
    links = []
    for item in results:
        if item["link"] not in links:
            links.append(item["link"])
    checks = sorted({item["check"] for item in results}, key=lambda c: (_check_rank(c), c))
    cells = {link: {} for link in links}
    for item in results:
        cells[item["link"]][item["check"]] = item
    counts = {status: sum(1 for r in results if r["status"] == status) for status in STATUS_ORDER}
    return {"links": links, "checks": checks, "cells": cells, "counts": counts}


def pacs_smoke_failures(results):
    """One line per failed check: '<link> <check>: <error>'."""
    return ["%s %s: %s" % (r["link"], r["check"], r.get("error") or "failed")
            for r in _results(results) if r["status"] == "fail"]


# Checks the probe host sends to the PACS, by the firewall set that lets them in.
INBOUND_SERVICE = {"echo_in": "dicom", "echo_in_refused": "dicom", "find_in": "dicom",
                   "http_auth": "http", "stow": "http", "qido": "http", "wado": "http", "cleanup": "http"}
# How a dropped packet looks to the probe: no answer, a timeout (a refusal is not a drop).
_DROPPED = re.compile(r"no answer|timed? ?out|timeout", re.I)


def _in_sources(address, networks):
    """Whether address lies in one of the networks (strings as in pacs_firewall_sources)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for network in networks or []:
        try:
            if ip in ipaddress.ip_network(str(network), strict=False):
                return True
        except ValueError:
            continue
    return False


def firewall_hint(service, probe, sources):
    """Why a probe to the PACS's `service` port (dicom or http) may have got no answer.

    `probe` is the probe host's source address toward the PACS ('' if unknown); `sources`
    the firewall role's pacs_firewall_sources fact of this run, or None when the firewall
    did not run in it.
    """
    cidrs = "pacs_firewall_%s_cidrs" % service
    who = "the probe's address %s" % probe if probe else "the probe's address"
    if not sources:
        return ("if the host firewall is on, %s must be in %s (or pacs_firewall_admin_cidrs for HTTP)"
                % (who, cidrs))
    family = "ipv6" if ":" in probe else "ipv4"
    allowed = (sources.get(service) or {}).get(family) or []
    if probe and not _in_sources(probe, allowed):
        return ("the host firewall drops it: %s is not among the %s sources; add it to %s%s"
                % (who, service.upper(), cidrs, " or pacs_firewall_admin_cidrs" if service == "http" else ""))
    return ("the host firewall lets %s through to the %s port: look at Orthanc itself and at "
            "firewalls between the probe and the host" % (probe or "the probe", service.upper()))


def _unanswered(result):
    """Whether a result is a check sent to the PACS that failed with no answer (a drop)."""
    return (result["status"] == "fail" and result["check"] in INBOUND_SERVICE
            and bool(_DROPPED.search(str(result.get("error") or ""))))


def pacs_smoke_unanswered(results):
    """The checks sent to the PACS that got no answer (the ones a firewall may explain)."""
    return [r for r in _results(results) if _unanswered(r)]


def pacs_smoke_explain(results, probe="", sources=None):
    """The results, where an inbound check got no answer with the firewall's explanation added
    to its error (as '<error> (<hint>)'); other results unchanged."""
    return [dict(r, error="%s (%s)" % (r.get("error"), firewall_hint(INBOUND_SERVICE[r["check"]], probe or "", sources)))
            if _unanswered(r) else r for r in _results(results)]


def pacs_smoke_table(results):
    """Plain-text table of the results for the play output."""
    results = _results(results)
    rows = [("LINK", "CHECK", "STATUS", "TIME", "ERROR")]
    for r in sorted(results, key=lambda r: (r["link"], _check_rank(r["check"]))):
        rows.append((str(r["link"]), str(r["check"]), r["status"].upper(),
                     "%.2fs" % float(r.get("duration") or 0), str(r.get("error") or "")))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return ["  ".join(row[i].ljust(widths[i]) for i in range(4)) + "  " + row[4] for row in rows]


def _selected(tags, only_tags, skip_tags):
    """Whether Ansible runs a task with `tags` under --tags `only_tags` and --skip-tags
    `skip_tags` (ansible.playbook.taggable.Taggable.evaluate_tags, ansible-core 2.19)."""
    tags = set(tags) or {"untagged"}
    tagged = tags != {"untagged"}
    run = True
    if only_tags:
        run = ("always" in tags or ("all" in only_tags and "never" not in tags) or not tags.isdisjoint(only_tags)
               or ("tagged" in only_tags and tagged and "never" not in tags))
    if run and skip_tags:
        if "all" in skip_tags:
            run = "always" in tags and "always" not in skip_tags
        elif not tags.isdisjoint(skip_tags) or ("tagged" in skip_tags and tagged):
            run = False
    return run


def pacs_smoke_phases(phase_tags, run_tags=None, skip_tags=None):
    """The phases (keys of `phase_tags`, in its order) whose tags the run selects, as if each
    phase were a task of its own with those tags. One task runs several phases in one module
    run (pacs_smoke_probe) and keeps each phase's tags meaningful: --tags pacs_smoke_inbound
    runs only the inbound checks, --skip-tags pacs_smoke_dicomweb skips only the DICOMweb ones.
    run_tags and skip_tags are ansible_run_tags and ansible_skip_tags."""
    if not isinstance(phase_tags, dict):
        raise AnsibleFilterError("pacs_smoke_phases: expected a dict of phase: [tags], got %s"
                                 % type(phase_tags).__name__)
    only = set(run_tags or [])
    skip = set(skip_tags or [])
    return [phase for phase, tags in phase_tags.items() if _selected(tags or [], only, skip)]


class FilterModule:
    """Map filter names to functions."""

    def filters(self):
        return {
            "pacs_smoke_plan": pacs_smoke_plan,
            "pacs_smoke_remote_servers": pacs_smoke_remote_servers,
            "pacs_smoke_matrix": pacs_smoke_matrix,
            "pacs_smoke_failures": pacs_smoke_failures,
            "pacs_smoke_table": pacs_smoke_table,
            "pacs_smoke_explain": pacs_smoke_explain,
            "pacs_smoke_unanswered": pacs_smoke_unanswered,
            "pacs_smoke_xnat_plan": pacs_smoke_xnat_plan,
            "pacs_smoke_phases": pacs_smoke_phases,
        }
