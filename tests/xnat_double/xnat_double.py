#!/usr/bin/env python3
"""A test double of XNAT 1.8/1.9 with the DICOM Query-Retrieve (DQR) plugin 3.x.

It implements the REST endpoints described in docs xnat-dqr-api.md (the project's
reference): /data/JSESSION, /xapi/pacs (+ availability and status), /xapi/dqr/settings,
/xapi/dicomscp, /xapi/dqr/query/studies and /xapi/dqr/import. Behind it sits real DICOM:
every enabled receiver is a pynetdicom storage SCP that writes what it receives to disk,
the PACS status is a real C-ECHO, a query a real C-FIND and an import a real C-MOVE.

Endpoints under /test/ are NOT part of XNAT. They exist only for tests:
  GET  /test/received          instances the receivers stored
  GET  /test/requests          the log of /xapi and /data requests (method, path, status)
  GET  /test/imports           queued/finished imports
  GET  /test/receivers         listener state per port
  POST /test/fault             {"status": 500, "count": 1, "delay": 0, "path": "/xapi/pacs", "method": "POST"}
  POST /test/reset             forget all state (PACS, windows, receivers, settings, log, prearchive)
  POST /test/archive           {"aeTitle": "XNAT", "port": 8104, "archive": false}: that receiver
                               accepts associations and C-STOREs but archives nothing (no
                               prearchive session); "archive": true restores it
The prearchive (what receivers store, what imports bring) is XNAT's REST API:
  GET  /data/prearchive/projects[/<project>]?format=json[&tag=<StudyInstanceUID>]
  POST /data/services/prearchive/delete  form field src=<row url> (repeatable)
  GET  /test/revision          {"revision": "dqr2", "dropFields": []}
  POST /test/revision          {"revision": "dqr1"|"dqr2"|"dqr3", "dropFields": ["defaultStoragePacs"]}
                               (dropFields: PACS/receiver fields this XNAT does not know, so
                               it drops them silently; /test/reset restores --revision)
  GET  /test/sessions          {"created": n, "open": m}: Tomcat sessions made (one per
                               Basic-auth call without a session cookie) and still open
  GET  /test/windows           every window XNAT stores, with its pacsId (0: no PACS, orphaned)

Plugin revisions (--revision or POST /test/revision; default dqr2, the double's behaviour so far):
  dqr1  settings at /xapi/dqr (/xapi/dqr/settings is 404); GET /xapi/pacs needs both
        storable and queryable parameters (400 without); PUT /xapi/pacs/{id} and
        /xapi/dicomscp/{id} replace the whole entry; unique on aeTitle alone
  dqr2  settings at /xapi/dqr/settings; merge PUT (non-null fields copied); unique on label
        and on (host, queryRetrievePort, aeTitle)
  dqr3  dqr2 plus seven 0:00-24:00 windows pre-created when a PACS is registered (XNAT 1.10)
  In every revision a window PUT takes the owner from the body's pacsId (missing: 0, the
  window leaves its PACS) and silently trims or deletes overlapping windows of that day.

Usage:
  xnat_double.py --port 8080 --users admin:admin:secret --users user:bob:pw
  (--users takes ROLE:NAME:PASSWORD with ROLE admin or user, repeatable, or a JSON
   file {"name": {"password": "...", "admin": true}})
Only the standard library plus pydicom/pynetdicom (imported when DICOM is first needed).
"""

import argparse
import base64
import copy
import json
import logging
import os
import re
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = logging.getLogger("xnat_double")

DAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
IDENTIFIERS = ("dicomObjectIdentifier", "dqrObjectIdentifier")
DEFAULT_SETTINGS = {
    "dqrCallingAe": "XNAT",
    "dqrMaxPacsRequestAttempts": "5",
    "dqrWaitToRetryRequestInSeconds": "300",
    "pacsAvailabilityCheckFrequency": "1 minute",
    "assumeSameSessionIfArrivedWithin": "30 minutes",
    "allowAllUsersToUseDqr": False,
    "allowAllProjectsToUseDqr": False,
    "notifyAdminOnImport": False,
    "leavePacsAuditTrail": False,
}
PACS_FIELDS = {
    "aeTitle": str, "host": str, "label": str, "queryRetrievePort": int,
    "queryable": bool, "defaultQueryRetrievePacs": bool, "storable": bool,
    "defaultStoragePacs": bool, "ormStrategySpringBeanId": str,
    "supportsExtendedNegotiations": bool, "dicomWebEnabled": bool,
    "dicomWebRootUrl": str, "retrieveLevel": str, "enabled": bool,
}
SCP_FIELDS = {
    "aeTitle": str, "port": int, "identifier": str, "enabled": bool,
    "customProcessing": bool, "directArchive": bool, "anonymizationEnabled": bool,
    "whitelistEnabled": bool, "whitelist": list, "routingExpressionsEnabled": bool,
}
TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})$")
REVISIONS = ("dqr1", "dqr2", "dqr3")


class HttpError(Exception):
    """An error answer: status and a text body."""

    def __init__(self, status, body=""):
        super().__init__(body)
        self.status = status
        self.body = body


def now_ms():
    return int(time.time() * 1000)


def parse_time(value):
    """'H:mm' or 'HH:mm' between 0:00 and 24:00 -> minutes, else HttpError 400."""
    if not isinstance(value, str):
        raise HttpError(400, "time must be a string HH:mm: %r" % (value,))
    match = TIME_RE.match(value.strip())
    if not match:
        raise HttpError(400, "time must be HH:mm: %r" % value)
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise HttpError(400, "time out of range: %r" % value)
    return hours * 60 + minutes


def format_time(minutes):
    """Stored form: 'HH:mm', 24:00 becomes 00:00 (as XNAT's LocalTime does)."""
    minutes %= 24 * 60
    return "%02d:%02d" % (minutes // 60, minutes % 60)


def window_range(window):
    start = parse_time(window["availabilityStart"])
    end = parse_time(window["availabilityEnd"])
    if end == 0:
        end = 24 * 60
    return start, end


def valid_ae(value):
    return (isinstance(value, str) and 1 <= len(value) <= 16 and value.strip() != ""
            and "\\" not in value and all(32 <= ord(c) < 127 for c in value))


PREARCHIVE_UNASSIGNED = "Unassigned"
PREARCHIVE_DELETE_DELAY = 0.3  # seconds: XNAT deletes a queued session in the background


def prearchive_uri(project, timestamp, folder):
    """XNAT's PrearcUtils.buildURI: /prearchive/projects/<project>/<timestamp>/<folderName>."""
    return "/prearchive/projects/%s/%s/%s" % (project or PREARCHIVE_UNASSIGNED, timestamp, folder)


def prearchive_label(value):
    """Session or subject label as XNAT derives it: characters outside [A-Za-z0-9_-] become _."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", str(value or "").strip()) or "unknown"


def prearchive_stamp(when):
    """XNAT's prearchive timestamp folder name (yyyyMMdd_HHmmssSSS, PrearcUtils.makeTimestamp)."""
    return time.strftime("%Y%m%d_%H%M%S", time.localtime(when)) + "%03d" % int((when % 1) * 1000)


def prearchive_time(when):
    """A java.sql.Timestamp as XNAT's JSON tables print it: 2025-01-31 12:34:56.789."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when)) + ".%03d" % int((when % 1) * 1000)


class Prearchive:
    """XNAT's prearchive (PrearcDatabase): what the receivers store becomes sessions.

    A row has the columns of DatabaseSession (xnat-web); values are strings, as XNAT's
    XFTTable JSON gives them. Instances of one study arriving at one receiver for one
    project join one session. A receiver switched to drop (test switch, not XNAT) accepts
    associations and C-STOREs but archives nothing.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        """Forget every session, pending import and drop switch."""
        with self.lock:
            self.sessions = {}     # url -> row
            self.pending = {}      # (aeTitle, port, studyInstanceUid) -> project of a running import
            self.dropping = set()  # (aeTitle, port) that accept but do not archive

    def expect(self, ae_title, port, study_uid, project):
        """An import is about to C-MOVE study_uid to ae_title:port for project."""
        with self.lock:
            self.pending[(ae_title, int(port), study_uid)] = project or PREARCHIVE_UNASSIGNED

    def forget(self, ae_title, port, study_uid):
        """The import's C-MOVE is over."""
        with self.lock:
            self.pending.pop((ae_title, int(port), study_uid), None)

    def set_archiving(self, ae_title, port, archive):
        """Test switch: archive=False makes the receiver ae_title:port drop what it receives."""
        with self.lock:
            if archive:
                self.dropping.discard((ae_title, int(port)))
            else:
                self.dropping.add((ae_title, int(port)))

    def add_instance(self, ae_title, port, ds, calling_ae):
        """File one received instance; returns the session row, or None when dropped."""
        study_uid = str(ds.get("StudyInstanceUID", ""))
        now = time.time()
        with self.lock:
            if (ae_title, int(port)) in self.dropping:
                return None
            project = self.pending.get((ae_title, int(port), study_uid), PREARCHIVE_UNASSIGNED)
            for row in self.sessions.values():
                if row["tag"] == study_uid and row["project"] == project and row["_receiver"] == (ae_title, port) \
                        and "DELETING" not in row["status"]:
                    row["lastmod"] = prearchive_time(now)
                    return dict(row)
            stamp = prearchive_stamp(now)
            folder = prearchive_label(ds.get("PatientID"))
            study_date = str(ds.get("StudyDate", ""))
            study_time = str(ds.get("StudyTime", ""))
            row = {"project": project, "timestamp": stamp, "lastmod": prearchive_time(now),
                   "uploaded": prearchive_time(now),
                   "scan_date": "%s-%s-%s" % (study_date[:4], study_date[4:6], study_date[6:8]) if len(study_date) == 8 else "",
                   "scan_time": ":".join(study_time[i:i + 2] for i in (0, 2, 4)) if len(study_time) >= 6 else "",
                   "subject": prearchive_label(ds.get("PatientName")), "folderName": folder, "name": folder,
                   "tag": study_uid, "status": "READY", "url": prearchive_uri(project, stamp, folder),
                   "autoarchive": "Manual", "prevent_anon": "false", "prevent_auto_commit": "false",
                   "SOURCE": "%s:%s (from %s)" % (ae_title, port, calling_ae), "VISIT": "", "PROTOCOL": "",
                   "TIMEZONE": "", "_receiver": (ae_title, port)}
            self.sessions[row["url"]] = row
            return dict(row)

    @staticmethod
    def public(row):
        """A row without the double's own bookkeeping."""
        return {k: v for k, v in row.items() if not k.startswith("_")}

    def rows(self, project=None, tag=None):
        """Rows of one project (or all) and one StudyInstanceUID (or all), oldest first."""
        with self.lock:
            rows = sorted(self.sessions.values(), key=lambda r: r["timestamp"])
            return [self.public(r) for r in rows if (project is None or r["project"] == project)
                    and (tag is None or r["tag"] == tag)]

    def queue_delete(self, srcs):
        """PrearchiveBatchDelete: set each session QUEUED_DELETING, remove it in the background."""
        queued = []
        with self.lock:
            for src in srcs:
                url = src[len("/data"):] if src.startswith("/data/") else src
                parts = url.strip("/").split("/")
                if len(parts) != 5 or parts[:2] != ["prearchive", "projects"]:
                    raise HttpError(500, "Invalid prearchive session URI: %s" % src)
                row = self.sessions.get(url)
                if row is None:
                    raise HttpError(500, "No prearchive session %s" % src)
                row["status"] = "QUEUED_DELETING"
                queued.append(self.public(row))
        for row in queued:
            timer = threading.Timer(PREARCHIVE_DELETE_DELAY, self._remove, args=(row["url"],))
            timer.daemon = True
            timer.start()
        return queued

    def _remove(self, url):
        with self.lock:
            self.sessions.pop(url, None)

    def route(self, method, path, query, body, is_admin):
        """GET /data/prearchive/projects[/<project>] and POST /data/services/prearchive/delete."""
        table = lambda rows: {"ResultSet": {"Result": rows, "totalRecords": str(len(rows))}}  # noqa: E731
        parts = path.split("/")[1:]
        if parts[:3] == ["data", "prearchive", "projects"] and len(parts) <= 4 and method == "GET":
            tag = (query.get("tag") or [None])[0]
            if tag is not None and not is_admin:
                raise HttpError(403, "Non admin user's can not query by tag")
            project = parts[3] if len(parts) == 4 else None
            if not is_admin and project in (None, PREARCHIVE_UNASSIGNED):
                return 200, table([r for r in self.rows(tag=tag) if r["project"] != PREARCHIVE_UNASSIGNED]
                                  if project is None else []), {}
            return 200, table(self.rows(project, tag)), {}
        if parts == ["data", "services", "prearchive", "delete"]:
            if method != "POST":
                raise HttpError(405, "")
            srcs = list(query.get("src") or []) + list((body or {}).get("src") or [] if isinstance(body, dict) else [])
            if not is_admin:
                raise HttpError(403, "Invalid permissions for new project.")
            return 200, table(self.queue_delete(srcs)), {}
        raise HttpError(404, "")


class Receivers:
    """Real pynetdicom storage SCPs: one listener per port, any called AE of that port."""

    def __init__(self, bind, storage_dir):
        self.bind = bind
        self.storage_dir = storage_dir
        self.servers = {}      # port -> pynetdicom server
        self.errors = {}       # port -> error text
        self.received = []
        self.lock = threading.Lock()

    def _handle_store(self, event):
        ds = event.dataset
        ds.file_meta = event.file_meta
        # The AE title the sender asked for (several receivers may share a port); the
        # acceptor's own title is only the first receiver's of that port.
        requested = getattr(event.assoc.requestor.primitive, "called_ae_title", None)
        called = (requested or event.assoc.acceptor.ae_title).strip()
        port = event.assoc.acceptor.port
        folder = os.path.join(self.storage_dir, "%s_%s" % (called, port))
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, "%s.dcm" % ds.SOPInstanceUID)
        ds.save_as(path, enforce_file_format=True)
        with self.lock:
            self.received.append({
                "aeTitle": called, "port": port,
                "callingAe": event.assoc.requestor.ae_title.strip(),
                "sopInstanceUid": str(ds.SOPInstanceUID),
                "studyInstanceUid": str(ds.get("StudyInstanceUID", "")),
                "path": path, "time": now_ms()})
        prearchive = getattr(self, "prearchive", None)  # set by App
        if prearchive is not None:
            prearchive.add_instance(called, port, ds, event.assoc.requestor.ae_title.strip())
        return 0x0000

    def sync(self, scps):
        """Make the running listeners match the enabled receivers."""
        wanted = {}
        for scp in scps.values():
            if scp["enabled"]:
                wanted.setdefault(scp["port"], []).append(scp["aeTitle"])
        for port in list(self.servers):
            if port not in wanted:
                self.servers.pop(port).shutdown()
        for port in list(self.errors):
            if port not in wanted:
                self.errors.pop(port)
        for port, titles in wanted.items():
            if port in self.servers:
                continue
            try:
                from pynetdicom import AE, AllStoragePresentationContexts, evt
                from pynetdicom.sop_class import Verification
                ae = AE(ae_title=titles[0])
                ae.require_called_aet = False
                ae.supported_contexts = AllStoragePresentationContexts
                ae.add_supported_context(Verification)
                self.servers[port] = ae.start_server(
                    (self.bind, port), block=False,
                    evt_handlers=[(evt.EVT_C_STORE, self._handle_store)])
                self.errors.pop(port, None)
            except Exception as exc:  # noqa: BLE001  a busy port must not kill the double
                self.errors[port] = str(exc)
                LOG.warning("receiver on port %s failed: %s", port, exc)

    def state(self):
        return {"listening": sorted(self.servers), "errors": {str(k): v for k, v in self.errors.items()}}

    def stop(self):
        for server in self.servers.values():
            server.shutdown()
        self.servers.clear()


class State:
    """Everything XNAT would keep in its database."""

    def __init__(self, builtin_port, revision="dqr2"):
        self.lock = threading.RLock()
        self.builtin_port = builtin_port
        self.start_revision = revision  # --revision; /test/reset comes back to it
        self.reset()

    def reset(self):
        self.pacs = {}
        self.windows = {}
        self.scps = {}
        self.settings = copy.deepcopy(DEFAULT_SETTINGS)
        self.sessions = {}
        self.sessions_created = 0
        self.revision = self.start_revision
        self.drop_fields = []
        self.imports = []
        self.requests = []
        self.faults = []
        # Ids start above 1 so that clients cannot assume the first id.
        self.next_pacs, self.next_window, self.next_scp, self.next_import = 7, 31, 3, 101
        if self.builtin_port:
            self.add_scp({"aeTitle": "XNAT", "port": self.builtin_port,
                          "identifier": "dicomObjectIdentifier"})

    def new_session(self, name):
        """A Tomcat session for the user; counted for /test/sessions."""
        session = secrets.token_hex(16).upper()
        self.sessions[session] = name
        self.sessions_created += 1
        return session

    def add_scp(self, body):
        scp = {"id": self.next_scp, "aeTitle": body["aeTitle"], "port": body["port"],
               "identifier": body.get("identifier") or "dicomObjectIdentifier",
               "enabled": body.get("enabled", True), "customProcessing": False,
               "directArchive": False, "anonymizationEnabled": False,
               "whitelistEnabled": False, "whitelist": [], "routingExpressionsEnabled": False}
        for key in SCP_FIELDS:
            if key in body and body[key] is not None:
                scp[key] = body[key]
        scp["label"] = "%s:%s" % (scp["aeTitle"], scp["port"])
        self.next_scp += 1
        self.scps[scp["id"]] = scp
        return scp


def check_types(body, fields):
    if not isinstance(body, dict):
        raise HttpError(400, "JSON object expected")
    for key, kind in fields.items():
        value = body.get(key)
        if value is None:
            continue
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            if isinstance(value, str) and value.isdigit():
                body[key] = int(value)
                continue
            raise HttpError(400, "%s must be an integer" % key)
        if kind is bool and not isinstance(value, bool):
            raise HttpError(400, "%s must be a boolean" % key)
        if kind is str and not isinstance(value, str):
            raise HttpError(400, "%s must be a string" % key)
        if kind is list and not isinstance(value, list):
            raise HttpError(400, "%s must be a list" % key)


class Api:
    """The XNAT endpoints. Each handler returns (status, body) where body is JSON-able,
    a str (text/plain) or None (empty)."""

    def __init__(self, state, receivers):
        self.state = state
        self.receivers = receivers

    # ---------------------------------------------------------------- PACS
    def validate_pacs(self, pacs, required=True):
        """required=False: a whole-replace PUT of DQR 1.x stores blanked fields as they come."""
        for key in ("aeTitle", "host", "ormStrategySpringBeanId"):
            if required and (not isinstance(pacs.get(key), str) or not pacs[key].strip()):
                raise HttpError(400, "%s is required" % key)
        for key in ("aeTitle", "host", "label"):
            if len(pacs.get(key) or "") > 100:
                raise HttpError(400, "%s is longer than 100 characters" % key)
        if "://" in (pacs.get("host") or ""):
            raise HttpError(400, "host must be a host name, not a URL")
        if (pacs.get("defaultQueryRetrievePacs") or pacs.get("defaultStoragePacs")) \
                and pacs.get("queryRetrievePort") is None:
            raise HttpError(400, "queryRetrievePort is required for a default PACS")
        port = pacs.get("queryRetrievePort")
        if port is not None and not 0 < port < 65536:
            raise HttpError(400, "queryRetrievePort out of range")
        if pacs.get("retrieveLevel") not in (None, "STUDY", "SERIES"):
            raise HttpError(400, "retrieveLevel must be STUDY or SERIES")

    def check_unique(self, pacs):
        for other in self.state.pacs.values():
            if other["id"] == pacs.get("id"):
                continue
            if self.state.revision == "dqr1":  # older DQR: unique on aeTitle alone
                if other.get("aeTitle") == pacs.get("aeTitle"):
                    raise HttpError(500, "")
                continue
            if pacs.get("label") and other.get("label") == pacs["label"]:
                raise HttpError(500, "")
            if (other["host"], other.get("queryRetrievePort"), other["aeTitle"]) == \
                    (pacs["host"], pacs.get("queryRetrievePort"), pacs["aeTitle"]):
                raise HttpError(500, "")

    def apply_defaults(self, pacs):
        if pacs.get("defaultQueryRetrievePacs"):
            pacs["queryable"] = True
            for other in self.state.pacs.values():
                if other["id"] != pacs["id"]:
                    other["defaultQueryRetrievePacs"] = False
        if pacs.get("defaultStoragePacs"):
            pacs["storable"] = True
            for other in self.state.pacs.values():
                if other["id"] != pacs["id"]:
                    other["defaultStoragePacs"] = False

    def pacs_or_404(self, pacs_id):
        pacs = self.state.pacs.get(pacs_id)
        if pacs is None:
            raise HttpError(404, "")
        return pacs

    def list_pacs(self, query):
        if self.state.revision == "dqr1" and not ("queryable" in query and "storable" in query):
            # @RequestParam boolean storable, queryable without a default
            raise HttpError(400, "Required boolean parameter 'storable' is not present")
        result = [p for p in self.state.pacs.values() if p["enabled"]]
        for key in ("queryable", "storable"):
            if key in query:
                want = query[key][0].lower() == "true"
                result = [p for p in result if bool(p.get(key)) == want]
        return 200, [self.show(p) for p in sorted(result, key=lambda p: p["id"])]

    @staticmethod
    def show(entity):
        return {k: v for k, v in entity.items() if v is not None}

    def create_pacs(self, body):
        check_types(body, PACS_FIELDS)
        pacs = {"queryable": False, "storable": False, "defaultQueryRetrievePacs": False,
                "defaultStoragePacs": False, "supportsExtendedNegotiations": False,
                "enabled": True}
        pacs.update({k: v for k, v in body.items() if self.known(k, PACS_FIELDS) and v is not None})
        self.validate_pacs(pacs)
        self.check_unique(pacs)
        stamp = now_ms()
        pacs.update({"id": self.state.next_pacs, "created": stamp, "timestamp": stamp, "disabled": 0})
        self.state.next_pacs += 1
        self.state.pacs[pacs["id"]] = pacs
        self.state.windows[pacs["id"]] = {}
        if self.state.revision == "dqr3":  # DQR 3.0 pre-creates the seven full days
            for day in DAYS:
                self.create_window(pacs["id"], {"dayOfWeek": day, "availabilityStart": "0:00",
                                                "availabilityEnd": "24:00"})
        self.apply_defaults(pacs)
        return 200, self.show(pacs)

    def known(self, key, fields):
        """A field this revision keeps (the others are dropped without an error)."""
        return key in fields and key not in self.state.drop_fields

    def update_pacs(self, pacs_id, body):
        check_types(body, PACS_FIELDS)
        current = self.state.pacs.get(pacs_id)
        if current is None:
            raise HttpError(500, "")
        whole = self.state.revision == "dqr1"
        if whole:  # update(pacs): the body replaces the entry, what it lacks is blanked
            merged = {"queryable": False, "storable": False, "defaultQueryRetrievePacs": False,
                      "defaultStoragePacs": False, "supportsExtendedNegotiations": False,
                      "enabled": True, "id": pacs_id, "created": current["created"],
                      "disabled": current["disabled"]}
        else:
            merged = dict(current)
        merged.update({k: v for k, v in body.items() if self.known(k, PACS_FIELDS) and v is not None})
        self.validate_pacs(merged, required=not whole)
        self.check_unique(merged)
        merged["timestamp"] = now_ms()
        self.state.pacs[pacs_id] = merged
        self.apply_defaults(merged)
        return 200, self.show(merged)

    def delete_pacs(self, pacs_id):
        self.pacs_or_404(pacs_id)
        del self.state.pacs[pacs_id]
        self.state.windows.pop(pacs_id, None)
        return 200, None

    def pacs_status(self, pacs_id):
        pacs = self.pacs_or_404(pacs_id)
        started = time.time()
        ok = False
        try:
            from pynetdicom import AE
            from pynetdicom.sop_class import Verification
            ae = AE(ae_title=str(self.state.settings["dqrCallingAe"]))
            ae.acse_timeout = ae.network_timeout = ae.dimse_timeout = 5
            ae.add_requested_context(Verification)
            assoc = ae.associate(pacs["host"], pacs.get("queryRetrievePort") or 104,
                                 ae_title=pacs["aeTitle"])
            if assoc.is_established:
                status = assoc.send_c_echo()
                ok = bool(status) and status.Status == 0x0000
                assoc.release()
        except Exception as exc:  # noqa: BLE001  reported as unsuccessful, like XNAT
            LOG.warning("C-ECHO failed: %s", exc)
        return 200, {"id": pacs_id, "pacsId": pacs_id, "successful": ok,
                     "pingTime": now_ms(), "pingDuration": int((time.time() - started) * 1000)}

    # -------------------------------------------------------- availability
    def list_windows(self, pacs_id):
        self.pacs_or_404(pacs_id)
        result = {day: [] for day in DAYS}
        for window in sorted(self.state.windows[pacs_id].values(),
                             key=lambda w: (window_range(w)[0], w["id"])):
            result[window["dayOfWeek"]].append(dict(window))
        return 200, result

    def validate_window(self, window, overlap_400=True):
        """overlap_400=False (a PUT): overlaps are trimmed afterwards by trim_overlaps."""
        if window.get("dayOfWeek") not in DAYS:
            raise HttpError(400, "dayOfWeek must be one of %s" % ", ".join(DAYS))
        for key in ("threads", "utilizationPercent"):
            value = window.get(key)
            if isinstance(value, bool) or not isinstance(value, int):
                raise HttpError(400, "%s must be an integer" % key)
        if window["threads"] < 0 or not 0 <= window["utilizationPercent"] <= 100:
            raise HttpError(400, "threads or utilizationPercent out of range")
        if window["threads"] == 0 or window["utilizationPercent"] == 0:
            window["threads"] = window["utilizationPercent"] = 0
        start = parse_time(window.get("availabilityStart"))
        end = parse_time(window.get("availabilityEnd"))
        if end == 0:
            end = 24 * 60
        if start >= end:
            raise HttpError(400, "availabilityStart must be before availabilityEnd")
        window["availabilityStart"] = format_time(start)
        window["availabilityEnd"] = format_time(end)
        if not overlap_400:
            return
        for other in self.state.windows.setdefault(window["pacsId"], {}).values():
            if other["id"] == window.get("id") or other["dayOfWeek"] != window["dayOfWeek"]:
                continue
            o_start, o_end = window_range(other)
            if start < o_end and o_start < end:
                raise HttpError(400, "The availability window overlaps window %s" % other["id"])

    def create_window(self, pacs_id, body):
        self.pacs_or_404(pacs_id)
        if not isinstance(body, dict):
            raise HttpError(400, "JSON object expected")
        window = {"pacsId": pacs_id, "dayOfWeek": body.get("dayOfWeek"),
                  "availabilityStart": body.get("availabilityStart"),
                  "availabilityEnd": body.get("availabilityEnd"),
                  "threads": body.get("threads", 1),
                  "utilizationPercent": body.get("utilizationPercent", 100)}
        self.validate_window(window)
        window["id"] = self.state.next_window
        self.state.next_window += 1
        self.state.windows[pacs_id][window["id"]] = window
        return 200, dict(window)

    def window_or_404(self, pacs_id, window_id):
        self.pacs_or_404(pacs_id)
        window = self.state.windows[pacs_id].get(window_id)
        if window is None:
            raise HttpError(404, "")
        return window

    def update_window(self, pacs_id, window_id, body):
        current = self.window_or_404(pacs_id, window_id)
        if not isinstance(body, dict):
            raise HttpError(400, "JSON object expected")
        merged = dict(current)
        for key in ("dayOfWeek", "availabilityStart", "availabilityEnd", "threads", "utilizationPercent"):
            if body.get(key) is not None:
                merged[key] = body[key]
        # updatePacsAvailabilityInterval copies settings.getPacsId(), a Java long: the owner
        # comes from the body, and a body without it moves the window to no PACS (0).
        owner = body.get("pacsId") or 0
        if isinstance(owner, bool) or not isinstance(owner, int):
            raise HttpError(400, "pacsId must be an integer")
        merged["pacsId"] = owner
        self.validate_window(merged, overlap_400=False)
        if merged == current:
            return 304, None
        del self.state.windows[pacs_id][window_id]
        self.state.windows.setdefault(owner, {})[window_id] = merged
        self.trim_overlaps(merged)
        return 200, dict(merged)

    def trim_overlaps(self, window):
        """checkOverlap(settings, true, ...): the other windows of that PACS and day that
        overlap are trimmed, or deleted when nothing is left, without an error."""
        start, end = window_range(window)
        siblings = self.state.windows.setdefault(window["pacsId"], {})
        for other in list(siblings.values()):
            if other["id"] == window["id"] or other["dayOfWeek"] != window["dayOfWeek"]:
                continue
            o_start, o_end = window_range(other)
            if not (start < o_end and o_start < end):
                continue
            if o_start < start:
                other["availabilityEnd"] = format_time(start)
            elif o_end > end:
                other["availabilityStart"] = format_time(end)
            else:
                del siblings[other["id"]]

    def all_windows(self):
        """Every stored window, orphans (pacsId 0 or a deleted PACS) included."""
        return sorted((dict(w) for group in self.state.windows.values() for w in group.values()),
                      key=lambda w: w["id"])

    def delete_window(self, pacs_id, window_id):
        self.window_or_404(pacs_id, window_id)
        del self.state.windows[pacs_id][window_id]
        return 200, None

    # ------------------------------------------------------------ settings
    def post_settings(self, body):
        if not isinstance(body, dict):
            raise HttpError(400, "JSON object expected")
        for key, value in body.items():
            if key not in DEFAULT_SETTINGS:
                continue
            if isinstance(DEFAULT_SETTINGS[key], bool):
                self.state.settings[key] = str(value).lower() == "true"
            else:
                self.state.settings[key] = str(value)
        return 200, None

    # ----------------------------------------------------------- receivers
    def validate_scp(self, scp):
        if not valid_ae(scp.get("aeTitle")):
            raise HttpError(400, "Invalid AE title %r: 1-16 printable ASCII characters, "
                                 "no backslash, not only spaces" % (scp.get("aeTitle"),))
        if isinstance(scp.get("port"), bool) or not isinstance(scp.get("port"), int):
            raise HttpError(400, "port is required")
        if scp.get("identifier") not in IDENTIFIERS:
            raise HttpError(400, "Unknown identifier %r" % (scp.get("identifier"),))
        for other in self.state.scps.values():
            if other["id"] != scp.get("id") and other["aeTitle"] == scp["aeTitle"] \
                    and other["port"] == scp["port"]:
                raise HttpError(400, "There is already a DICOM SCP receiver %s:%s"
                                % (scp["aeTitle"], scp["port"]))

    def create_scp(self, body):
        check_types(body, SCP_FIELDS)
        candidate = {k: v for k, v in body.items() if k not in self.state.drop_fields}
        candidate.setdefault("identifier", "dicomObjectIdentifier")
        candidate.pop("id", None)
        self.validate_scp(candidate)
        scp = self.state.add_scp(candidate)
        self.receivers.sync(self.state.scps)
        return 200, dict(scp)

    def scp_or_404(self, scp_id):
        scp = self.state.scps.get(scp_id)
        if scp is None:
            raise HttpError(404, "")
        return scp

    def update_scp(self, scp_id, body):
        check_types(body, SCP_FIELDS)
        current = self.state.scps.get(scp_id)
        if current is None:
            raise HttpError(500, "")
        if self.state.revision == "dqr1":  # older XNAT: the body replaces the receiver
            merged = {"id": scp_id, "identifier": "dicomObjectIdentifier", "enabled": True,
                      "customProcessing": False, "directArchive": False,
                      "anonymizationEnabled": False, "whitelistEnabled": False, "whitelist": [],
                      "routingExpressionsEnabled": False}
        else:
            merged = dict(current)
        merged.update({k: v for k, v in body.items() if self.known(k, SCP_FIELDS) and v is not None})
        self.validate_scp(merged)
        merged["label"] = "%s:%s" % (merged["aeTitle"], merged["port"])
        self.state.scps[scp_id] = merged
        self.receivers.sync(self.state.scps)
        return 200, dict(merged)

    def delete_scp(self, scp_id):
        self.scp_or_404(scp_id)
        del self.state.scps[scp_id]
        self.receivers.sync(self.state.scps)
        return 200, None

    def enable_scp(self, scp_id, flag):
        scp = self.scp_or_404(scp_id)
        scp["enabled"] = flag == "true"
        self.receivers.sync(self.state.scps)
        return 200, dict(scp)

    # ------------------------------------------------------- query, import
    def _dqr_pacs(self, body):
        if not isinstance(body, dict) or "pacsId" not in body:
            raise HttpError(400, "pacsId is required")
        try:
            pacs_id = int(body["pacsId"])
        except (TypeError, ValueError):
            raise HttpError(400, "pacsId must be an integer") from None
        pacs = self.state.pacs.get(pacs_id)
        if pacs is None or not pacs["enabled"]:
            raise HttpError(404, "No PACS with id %s" % pacs_id)
        return pacs

    def _client_ae(self):
        from pynetdicom import AE
        ae = AE(ae_title=str(self.state.settings["dqrCallingAe"]))
        ae.acse_timeout = ae.network_timeout = 10
        ae.dimse_timeout = 60
        return ae

    def query_studies(self, body):
        pacs = self._dqr_pacs(body)
        if not pacs.get("queryable"):
            raise HttpError(409, "PACS %s is not queryable" % pacs["id"])
        from pydicom.dataset import Dataset
        from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind as FIND
        ident = Dataset()
        ident.QueryRetrieveLevel = "STUDY"
        ident.StudyInstanceUID = body.get("studyInstanceUid") or ""
        ident.PatientID = body.get("patientId") or ""
        ident.AccessionNumber = body.get("accessionNumber") or ""
        ident.StudyDate = ""
        ident.ModalitiesInStudy = ""
        ident.PatientName = ""
        ident.PatientBirthDate = ""
        ident.PatientSex = ""
        ident.StudyDescription = ""
        ae = self._client_ae()
        ae.add_requested_context(FIND)
        assoc = ae.associate(pacs["host"], pacs["queryRetrievePort"], ae_title=pacs["aeTitle"])
        if not assoc.is_established:
            raise HttpError(500, "Association with PACS %s rejected or failed" % pacs["aeTitle"])
        studies = []
        try:
            for status, found in assoc.send_c_find(ident, FIND):
                if not status:
                    raise HttpError(500, "C-FIND failed: no response")
                if status.Status in (0xFF00, 0xFF01) and found is not None:
                    mods = found.get("ModalitiesInStudy", "")
                    studies.append({
                        "studyInstanceUid": str(found.get("StudyInstanceUID", "")),
                        "studyDate": str(found.get("StudyDate", "")),
                        "accessionNumber": str(found.get("AccessionNumber", "")),
                        "studyDescription": str(found.get("StudyDescription", "")),
                        "modalitiesInStudy": list(mods) if not isinstance(mods, str) else [m for m in [mods] if m],
                        "patient": {"id": str(found.get("PatientID", "")),
                                    "name": str(found.get("PatientName", "")),
                                    "sex": str(found.get("PatientSex", "")),
                                    "birthDate": str(found.get("PatientBirthDate", ""))}})
                elif status.Status not in (0x0000, 0xFF00, 0xFF01):
                    raise HttpError(500, "C-FIND failed with status 0x%04X" % status.Status)
        finally:
            assoc.release()
        if not studies:
            return 204, None
        return 200, studies

    def queue_import(self, body):
        pacs = self._dqr_pacs(body)
        for key in ("aeTitle", "port", "studies"):
            if not body.get(key):
                raise HttpError(400, "%s is required" % key)
        receiver = [s for s in self.state.scps.values()
                    if s["aeTitle"] == body["aeTitle"] and s["port"] == int(body["port"])]
        if not receiver:
            raise HttpError(400, "No receiver %s:%s" % (body["aeTitle"], body["port"]))
        queued = []
        for study in body["studies"]:
            item = {"id": self.state.next_import, "pacsId": pacs["id"], "status": "QUEUED",
                    "studyInstanceUid": study.get("studyInstanceUid"),
                    "destinationAeTitle": body["aeTitle"], "port": int(body["port"]),
                    "xnatProject": body.get("projectId"), "queuedTime": now_ms()}
            self.state.next_import += 1
            self.state.imports.append(item)
            queued.append(dict(item))
        threading.Thread(target=self._run_imports, args=(pacs, [q["id"] for q in queued]),
                         daemon=True).start()
        return 200, queued

    def _run_imports(self, pacs, ids):
        from pydicom.dataset import Dataset
        from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelMove as MOVE
        for item in [i for i in self.state.imports if i["id"] in ids]:
            item["status"] = "PROCESSING"
            try:
                ae = self._client_ae()
                ae.add_requested_context(MOVE)
                assoc = ae.associate(pacs["host"], pacs["queryRetrievePort"], ae_title=pacs["aeTitle"])
                if not assoc.is_established:
                    raise RuntimeError("association rejected or failed")
                ident = Dataset()
                ident.QueryRetrieveLevel = "STUDY"
                ident.StudyInstanceUID = item["studyInstanceUid"]
                final = None
                # what the move brings lands in the prearchive of the import's project
                prearchive = getattr(self.receivers, "prearchive", None)
                if prearchive is not None:
                    prearchive.expect(item["destinationAeTitle"], item["port"], item["studyInstanceUid"],
                                      item.get("xnatProject"))
                try:
                    for status, _ in assoc.send_c_move(ident, item["destinationAeTitle"], MOVE):
                        if status:
                            final = status
                finally:
                    if prearchive is not None:
                        prearchive.forget(item["destinationAeTitle"], item["port"], item["studyInstanceUid"])
                assoc.release()
                if final is None or final.Status not in (0x0000, 0xB000):
                    raise RuntimeError("C-MOVE status %s" % (
                        "none" if final is None else "0x%04X" % final.Status))
                item["status"] = "RECEIVED"
                item["completed"] = int(final.get("NumberOfCompletedSuboperations", 0))
            except Exception as exc:  # noqa: BLE001  recorded on the request, like XNAT
                item["status"] = "FAILED"
                item["error"] = str(exc)


class Handler(BaseHTTPRequestHandler):
    server_version = "XNAT-double/1.0"
    protocol_version = "HTTP/1.1"

    # silence default stderr logging; the request log is in /test/requests
    def log_message(self, fmt, *args):  # noqa: D401
        LOG.debug(fmt, *args)

    @property
    def app(self):
        return self.server.app

    def _send(self, status, body, headers=None):
        if body is None:
            data, ctype = b"", None
        elif isinstance(body, str):
            data, ctype = body.encode(), "text/plain;charset=UTF-8"
        else:
            data, ctype = json.dumps(body).encode(), "application/json"
        self.send_response(status)
        if ctype and data:
            self.send_header("Content-Type", ctype)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        if (self.headers.get("Content-Type") or "").startswith("application/x-www-form-urlencoded"):
            return urllib.parse.parse_qs(raw.decode())  # XNAT's restlet services take form fields
        try:
            return json.loads(raw)
        except ValueError:
            raise HttpError(400, "Unreadable JSON") from None

    def _user(self):
        """The authenticated user (name, info) or None."""
        self.session_id = None
        for part in (self.headers.get("Cookie") or "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == "JSESSIONID" and value in self.app.state.sessions:
                self.session_id = value
        auth = self.headers.get("Authorization") or ""
        if auth.lower().startswith("basic "):
            try:
                name, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            info = self.app.users.get(name)
            if info and secrets.compare_digest(info["password"], password):
                if self.session_id is None:  # Tomcat makes a session for this call
                    self.session_id = self.app.state.new_session(name)
                return name, info
            return None
        if self.session_id is not None:
            name = self.app.state.sessions[self.session_id]
            return name, self.app.users[name]
        return None

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def _dispatch(self):
        url = urllib.parse.urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        query = urllib.parse.parse_qs(url.query)
        if path.startswith("/test/") or path == "/test":
            try:
                status, body = self._test_endpoint(path)
            except HttpError as err:
                status, body = err.status, err.body
            self._send(status, body)
            return
        state = self.app.state
        fault = None
        with state.lock:
            for candidate in state.faults:
                if candidate["count"] > 0 and path.startswith(candidate.get("path", "/")) \
                        and candidate.get("method", self.command) == self.command:
                    candidate["count"] -= 1
                    fault = dict(candidate)
                    break
        if fault and fault.get("delay"):
            time.sleep(float(fault["delay"]))
        headers = {}
        if fault and fault.get("status"):
            status, body = int(fault["status"]), fault.get("body", "")
        else:
            try:
                body_in = self._body() if self.command in ("POST", "PUT") else None
                with state.lock:
                    status, body, headers = self._route(path, query, body_in)
            except HttpError as err:
                status, body = err.status, err.body
                if status == 401:
                    headers = {"WWW-Authenticate": 'Basic realm="XNAT Protected Area"'}
        with state.lock:
            state.requests.append({"method": self.command, "path": path, "status": status})
        self._send(status, body if body != "" else None, headers)

    def _route(self, path, query, body):
        user = self._user()
        if user is None:
            raise HttpError(401, "")
        name, info = user
        api = self.app.api
        state = self.app.state
        method = self.command
        is_admin = bool(info.get("admin"))

        def admin():
            if not is_admin:
                raise HttpError(403, "")

        if path == "/data/JSESSION":
            if method == "DELETE":
                if "JSESSIONID=%s" % self.session_id in (self.headers.get("Cookie") or ""):
                    state.sessions.pop(self.session_id, None)  # ends the caller's session
                    return 200, None, {}
                for key in [k for k, v in state.sessions.items() if v == name]:
                    state.sessions.pop(key)
                return 200, None, {}
            session = self.session_id  # the session this call made (or its cookie's)
            return 200, session, {"Set-Cookie": "JSESSIONID=%s; Path=/; HttpOnly" % session}

        if path.startswith(("/data/prearchive/", "/data/services/prearchive/")):
            return self.app.prearchive.route(method, path, query, body, is_admin)

        parts = path.split("/")[1:]
        if parts[:2] != ["xapi", "pacs"] and parts[:2] != ["xapi", "dicomscp"] \
                and parts[:2] != ["xapi", "dqr"]:
            raise HttpError(404, "")

        def num(text):
            if not text.isdigit():
                raise HttpError(400, "Not a number: %s" % text)
            return int(text)

        rest = parts[2:]
        if parts[1] == "pacs":
            if not rest:
                if method == "GET":
                    return (*api.list_pacs(query), {})
                if method == "POST":
                    admin()
                    return (*api.create_pacs(body or {}), {})
            elif len(rest) == 1:
                pacs_id = num(rest[0])
                if method == "GET":
                    return 200, api.show(api.pacs_or_404(pacs_id)), {}
                admin()
                if method == "PUT":
                    return (*api.update_pacs(pacs_id, body or {}), {})
                if method == "DELETE":
                    return (*api.delete_pacs(pacs_id), {})
            elif len(rest) == 2 and rest[1] == "status" and method == "GET":
                admin()
                pacs_id = num(rest[0])
                # the C-ECHO must not hold the state lock: release it around the network call
                state.lock.release()
                try:
                    return (*api.pacs_status(pacs_id), {})
                finally:
                    state.lock.acquire()
            elif rest[1:2] == ["availability"]:
                pacs_id = num(rest[0])
                if len(rest) == 2:
                    if method == "GET":
                        return (*api.list_windows(pacs_id), {})
                    if method == "POST":
                        admin()
                        return (*api.create_window(pacs_id, body), {})
                elif len(rest) == 3:
                    window_id = num(rest[2])
                    if method == "GET":
                        return 200, dict(api.window_or_404(pacs_id, window_id)), {}
                    admin()
                    if method == "PUT":
                        return (*api.update_window(pacs_id, window_id, body), {})
                    if method == "DELETE":
                        return (*api.delete_window(pacs_id, window_id), {})
        elif parts[1] == "dqr":
            # DQR 1.x serves its settings at /xapi/dqr, newer revisions at /xapi/dqr/settings
            if rest == ([] if state.revision == "dqr1" else ["settings"]):
                admin()
                if method == "GET":
                    return 200, dict(state.settings), {}
                if method == "POST":
                    return (*api.post_settings(body), {})
            elif rest in (["query", "studies"], ["import"]) and method == "POST":
                if not (is_admin or state.settings.get("allowAllUsersToUseDqr") is True):
                    raise HttpError(403, "")
                handler = api.query_studies if rest[0] == "query" else api.queue_import
                state.lock.release()
                try:
                    return (*handler(body), {})
                finally:
                    state.lock.acquire()
        elif parts[1] == "dicomscp":
            if not rest:
                if method == "GET":
                    return 200, [dict(s) for s in sorted(state.scps.values(), key=lambda s: s["id"])], {}
                if method == "POST":
                    admin()
                    return (*api.create_scp(body or {}), {})
            elif rest[0] == "title" and len(rest) == 3 and method == "GET":
                port = num(rest[2])
                ae_title = urllib.parse.unquote(rest[1])
                for scp in state.scps.values():
                    if scp["aeTitle"] == ae_title and scp["port"] == port:
                        return 200, dict(scp), {}
                raise HttpError(404, "")
            elif len(rest) == 1:
                scp_id = num(rest[0])
                if method == "GET":
                    return 200, dict(api.scp_or_404(scp_id)), {}
                admin()
                if method == "PUT":
                    return (*api.update_scp(scp_id, body or {}), {})
                if method == "DELETE":
                    return (*api.delete_scp(scp_id), {})
            elif len(rest) == 3 and rest[1] == "enabled" and rest[2] in ("true", "false") \
                    and method == "PUT":
                admin()
                return (*api.enable_scp(num(rest[0]), rest[2]), {})
        raise HttpError(405 if method != "GET" else 404, "")

    def _test_endpoint(self, path):
        """NOT XNAT: helpers for tests only."""
        app = self.app
        state = app.state
        if path == "/test/received" and self.command == "GET":
            with app.receivers.lock:
                return 200, list(app.receivers.received)
        if path == "/test/requests" and self.command == "GET":
            with state.lock:
                return 200, list(state.requests)
        if path == "/test/imports" and self.command == "GET":
            with state.lock:
                return 200, [dict(i) for i in state.imports]
        if path == "/test/receivers" and self.command == "GET":
            return 200, app.receivers.state()
        if path == "/test/fault" and self.command == "POST":
            fault = self._body() or {}
            fault.setdefault("count", 1)
            with state.lock:
                state.faults.append(fault)
            return 200, fault
        if path == "/test/revision" and self.command == "POST":
            wanted = self._body() or {}
            if wanted.get("revision", state.revision) not in REVISIONS:
                raise HttpError(400, "revision must be one of %s" % ", ".join(REVISIONS))
            with state.lock:
                state.revision = wanted.get("revision", state.revision)
                state.drop_fields = list(wanted.get("dropFields") or [])
        if path == "/test/revision" and self.command in ("GET", "POST"):
            return 200, {"revision": state.revision, "dropFields": list(state.drop_fields)}
        if path == "/test/sessions" and self.command == "GET":
            with state.lock:
                return 200, {"created": state.sessions_created, "open": len(state.sessions)}
        if path == "/test/windows" and self.command == "GET":
            with state.lock:
                return 200, app.api.all_windows()
        if path == "/test/archive" and self.command == "POST":
            switch = self._body() or {}
            if not switch.get("aeTitle") or not switch.get("port"):
                raise HttpError(400, "aeTitle and port are required")
            app.prearchive.set_archiving(switch["aeTitle"], switch["port"], switch.get("archive", True) is not False)
            return 200, {"aeTitle": switch["aeTitle"], "port": int(switch["port"]),
                         "archive": switch.get("archive", True) is not False}
        if path == "/test/reset" and self.command == "POST":
            app.prearchive.reset()
            with state.lock:
                state.reset()
                app.receivers.sync(state.scps)
            with app.receivers.lock:
                app.receivers.received.clear()
            return 200, None
        raise HttpError(404, "")


class App:
    def __init__(self, users, storage_dir, receiver_bind="127.0.0.1", builtin_port=8104,
                 revision="dqr2"):
        self.users = users
        self.state = State(builtin_port, revision)
        self.receivers = Receivers(receiver_bind, storage_dir)
        self.prearchive = self.receivers.prearchive = Prearchive()
        self.api = Api(self.state, self.receivers)
        self.httpd = None

    def serve(self, bind="127.0.0.1", port=8080):
        """Start the HTTP server in the background; returns the bound port."""
        self.receivers.sync(self.state.scps)
        self.httpd = ThreadingHTTPServer((bind, port), Handler)
        self.httpd.daemon_threads = True
        self.httpd.app = self
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self.httpd.server_address[1]

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
        self.receivers.stop()


def load_users(values):
    """--users ROLE:NAME:PASSWORD (repeatable) or a JSON file."""
    users = {}
    for value in values or []:
        if os.path.isfile(value):
            with open(value, encoding="utf-8") as handle:
                data = json.load(handle)
            for name, info in data.items():
                users[name] = {"password": str(info["password"]), "admin": bool(info.get("admin"))}
            continue
        role, _, rest = value.partition(":")
        name, _, password = rest.partition(":")
        if role not in ("admin", "user") or not name:
            raise SystemExit("--users takes ROLE:NAME:PASSWORD (ROLE admin or user) or a JSON file: %r" % value)
        users[name] = {"password": password, "admin": role == "admin"}
    if not users:
        users = {"admin": {"password": "admin", "admin": True}}
    return users


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8080, help="HTTP port (0: pick a free one)")
    parser.add_argument("--bind", default="127.0.0.1", help="HTTP bind address")
    parser.add_argument("--users", action="append", help="ROLE:NAME:PASSWORD or a JSON file")
    parser.add_argument("--storage-dir", default="/tmp/xnat_double", help="where receivers store")
    parser.add_argument("--receiver-bind", default="127.0.0.1", help="bind address of the DICOM receivers")
    parser.add_argument("--builtin-receiver-port", type=int, default=8104,
                        help="port of the built-in XNAT receiver (0: none)")
    parser.add_argument("--revision", choices=REVISIONS, default="dqr2",
                        help="DQR plugin revision to behave like (see the module docstring)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    os.makedirs(args.storage_dir, exist_ok=True)
    app = App(load_users(args.users), args.storage_dir, args.receiver_bind, args.builtin_receiver_port,
              args.revision)
    port = app.serve(args.bind, args.port)
    print("READY port=%d" % port, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        app.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
