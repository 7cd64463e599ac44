#!/usr/bin/python
"""Register one PACS (an Orthanc) in one XNAT with the DQR plugin, idempotently."""

from __future__ import annotations

DOCUMENTATION = r"""
module: xnat_dqr
short_description: Register a PACS, its DQR receiver, availability windows and DQR settings in XNAT
description:
  - Converges one XNAT (1.8/1.9/1.10 with the DICOM Query-Retrieve plugin 1.x, 2.x or 3.0) through its REST API.
  - Opens one XNAT session (POST /data/JSESSION) and sends its cookie on every later call;
    the session is closed at the end, also when the run fails.
  - Finds the PACS entry by (aeTitle, host, queryRetrievePort) or by label, then creates it
    (POST /xapi/pacs) or PUTs the whole wanted entry over what XNAT has (right both where XNAT
    merges and where an older plugin replaces the entry with the body). A changed host
    therefore updates the entry that carries the label instead of adding a second one.
  - Ensures an enabled receiver (/xapi/dicomscp) with identifier dqrObjectIdentifier for
    the receiver AE title and port (a PUT carries the whole receiver).
  - Makes the PACS's availability windows exactly the wanted ones from any starting point
    (none, the UI's or DQR 3.0's seven full days, windows an administrator edited). It deletes
    the windows whose span is not wanted first, then PUTs (with pacsId) and POSTs, so that
    XNAT never sees an overlap and no window leaves its PACS.
  - Posts DQR settings only when they differ (GET values may be strings or booleans).
  - After each write the entry is read back and compared field by field, and a field XNAT did
    not keep (XNAT drops unknown fields silently) fails the run naming it.
  - The plugin revision is detected, not configured. A bare GET /xapi/pacs answered with 400
    is repeated with the storable/queryable parameters; /xapi/dqr/settings answered with 404
    means the 1.x path /xapi/dqr.
  - In check mode only GET requests are sent (plus opening and closing the session); the
    result holds the plan and a diff.
  - It never deletes a PACS or a receiver.
version_added: "1.0.0"
author: pacs-provisioner
options:
  name:
    description: Symbolic name of this XNAT (used in messages).
    type: str
    required: true
  url:
    description: XNAT base URL, e.g. https://xnat.example.org (with a context path if any).
    type: str
    required: true
  username:
    description: An XNAT site administrator.
    type: str
    required: true
  password:
    description: Password of O(username) (or the secret of an alias token).
    type: str
    required: true
  validate_certs:
    description: Verify the XNAT TLS certificate.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for each HTTP request.
    type: int
    default: 30
  pacs_ae_title:
    description: AE title of the PACS (the Orthanc DicomAet).
    type: str
    required: true
  pacs_host:
    description: Host name or IP address at which XNAT reaches the PACS.
    type: str
    required: true
  pacs_port:
    description: DICOM port of the PACS (queryRetrievePort).
    type: int
    required: true
  pacs_label:
    description: Label of the PACS in XNAT (unique in XNAT).
    type: str
    required: true
  queryable:
    description: XNAT may query the PACS.
    type: bool
    default: true
  storable:
    description: XNAT may store to the PACS.
    type: bool
    default: false
  default_query_retrieve:
    description: Make this the default query/retrieve PACS (XNAT clears the flag on all others).
    type: bool
    default: false
  default_storage:
    description: Make this the default storage PACS (XNAT clears the flag on all others).
    type: bool
    default: false
  orm_strategy:
    description: ormStrategySpringBeanId of the PACS entry.
    type: str
    default: dicomOrmStrategy
  receiver_aet:
    description: AE title of the XNAT DQR receiver that the PACS moves studies to.
    type: str
    required: true
  receiver_port:
    description: Port of the XNAT DQR receiver.
    type: int
    required: true
  windows:
    description:
      - Availability windows as XNAT stores them (the output of the xnat_dqr_windows filter).
      - An empty list means seven windows 00:00-24:00, threads 1, utilization 100.
    type: list
    elements: dict
    default: []
  dqr_settings:
    description: DQR settings to enforce (only the keys given are compared and posted).
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Register Orthanc in XNAT
  xnat_dqr:
    name: XNAT_RESEARCH
    url: https://xnat.example.org
    username: admin
    password: "{{ vault_xnat_admin_password }}"
    pacs_ae_title: GH_PACS
    pacs_host: pacs1.example.org
    pacs_port: 4242
    pacs_label: GH_PACS
    default_query_retrieve: true
    receiver_aet: XNAT_RESEARCH
    receiver_port: 8104
    windows: "{{ [] | xnat_dqr_windows }}"
    dqr_settings: {dqrCallingAe: XNAT_RESEARCH}
  delegate_to: localhost
  no_log: true
"""

RETURN = r"""
pacs_id:
  description: Id of the PACS entry (null in check mode when it would be created).
  returned: always
  type: int
receiver_id:
  description: Id of the receiver (null in check mode when it would be created).
  returned: always
  type: int
changes:
  description: What was (or in check mode would be) changed, one line each; on failure, what was attempted.
  returned: always
  type: list
  elements: str
summary:
  description: One readable line without secrets.
  returned: success
  type: str
not_kept:
  description: The fields XNAT did not keep after a write that it answered with success.
  returned: when the read-back after a write differs
  type: list
  elements: str
"""

import json
import re
import socket
import ssl
import urllib.error
from itertools import product
from urllib.parse import quote

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

try:
    from ansible.module_utils.urls import SSLValidationError
except ImportError:  # pragma: no cover
    SSLValidationError = ssl.SSLError

DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
RECEIVER_IDENTIFIER = "dqrObjectIdentifier"
SESSION_RE = re.compile(r"^[A-Za-z0-9._~-]{8,200}\Z")
# Fields XNAT assigns itself: never sent back in a PUT body.
SERVER_FIELDS = ("created", "timestamp", "disabled")
WINDOW_FIELDS = ("dayOfWeek", "availabilityStart", "availabilityEnd", "threads", "utilizationPercent")


class XnatError(Exception):
    """A failed call, with the status (None when there was no answer) and the text."""

    def __init__(self, method, path, status, text):
        super().__init__(text)
        self.method, self.path, self.status, self.text = method, path, status, text


class NotKept(Exception):
    """XNAT answered a write with success but did not keep what was sent."""

    def __init__(self, what, path, fields):
        super().__init__(what)
        self.what, self.path, self.fields = what, path, fields


class Conflict(Exception):
    """The wanted state cannot be reached without a decision by an administrator."""


class Xnat:
    """Minimal XNAT REST client on ansible.module_utils.urls.open_url.

    login() opens one Tomcat session (POST /data/JSESSION with Basic auth); every later
    call sends only its cookie, so a run makes one session instead of one per call, and
    close() ends it. Without login() every call authenticates with Basic.
    """

    def __init__(self, params):
        self.base = params["url"].rstrip("/")
        self.params = params
        self.session = None

    def login(self):
        """Open the session and return its id (the caller hides it from the output)."""
        _, text = self.call("POST", "/data/JSESSION", accept=(200,), raw=True)
        text = (text or "").strip()
        if not SESSION_RE.match(text):
            raise XnatError("POST", "/data/JSESSION", 200,
                            "the answer is not an XNAT session id (is the url XNAT's?)")
        self.session = text
        return text

    def close(self):
        """End the session; errors are ignored (the session times out in XNAT anyway)."""
        if self.session is None:
            return
        try:
            self.call("DELETE", "/data/JSESSION", accept=(200, 204, 302, 401, 404))
        except XnatError:
            pass
        self.session = None

    def call(self, method, path, body=None, accept=(200,), raw=False):
        """One request: (status, parsed JSON, text or None); XnatError unless accepted."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        auth = {"url_username": self.params["username"], "url_password": self.params["password"],
                "force_basic_auth": True}
        if self.session is not None:
            headers["Cookie"] = "JSESSIONID=%s" % self.session
            auth = {}
        try:
            resp = open_url(self.base + path, data=data, method=method, headers=headers,
                            validate_certs=self.params["validate_certs"],
                            timeout=self.params["timeout"], follow_redirects="none", **auth)
            status, content = resp.getcode(), resp.read()
        except urllib.error.HTTPError as err:
            status = err.code
            try:
                content = err.read()
            except Exception:  # noqa: BLE001  the body is only used for the message
                content = b""
            if status not in accept:
                raise XnatError(method, path, status, content.decode("utf-8", "replace")[:500]) from None
        except (socket.timeout, TimeoutError) as err:
            raise XnatError(method, path, None, "timeout: %s" % err) from None
        except SSLValidationError as err:
            raise XnatError(method, path, None, "TLS: %s" % err) from None
        except urllib.error.URLError as err:
            raise XnatError(method, path, None, str(err.reason)) from None
        except (OSError, ValueError) as err:
            raise XnatError(method, path, None, str(err)) from None
        if status not in accept:
            raise XnatError(method, path, status, content.decode("utf-8", "replace")[:500])
        if raw:
            return status, content.decode("utf-8", "replace")
        if not content:
            return status, None
        try:
            return status, json.loads(content)
        except ValueError:
            return status, content.decode("utf-8", "replace")


def hint(err, params):
    """What the operator should check for a failed call."""
    status, method, path = err.status, err.method, err.path
    if status is None:
        text = err.text.lower()
        if "timeout" in text or "timed out" in text:
            return ("no answer within %ss: check the url, a firewall dropping packets, or raise "
                    "xnat_dqr_timeout" % params["timeout"])
        if "tls" in text or "certificate" in text or "ssl" in text:
            return "TLS failed: check the certificate or set xnat_dqr_validate_certs (only for tests)"
        return "XNAT is unreachable: check the url, DNS and any firewall between the controller and XNAT"
    if status == 401:
        return ("the username/password were refused: check username and the vaulted password of "
                "this XNAT in xnat_dqr_servers")
    if status == 403:
        return "the user %r must be a site administrator of this XNAT" % params["username"]
    if path == "/data/JSESSION":
        return "check that the url points at XNAT itself (with its context path), not at a login page or proxy"
    if status == 404 and path.startswith(("/xapi/pacs", "/xapi/dqr")):
        return ("not found: check that the url points at XNAT (with its context path) and that the "
                "DICOM Query-Retrieve plugin is installed")
    if status == 500 and method == "POST" and path == "/xapi/pacs":
        return ("XNAT refused to create the PACS: a PACS with the same label %r or the same AE title/"
                "host/port (older DQR revisions: the same AE title alone) may exist in a disabled state "
                "(GET /xapi/pacs does not list disabled ones); enable or delete it in the XNAT UI"
                % params["pacs_label"])
    if status == 500 and method == "PUT" and path.startswith("/xapi/pacs/"):
        return ("XNAT refused the update: the PACS may have been deleted meanwhile, or a disabled PACS "
                "already has this label or AE title/host/port")
    if status == 400 and "availability" in path:
        return "XNAT rejected an availability window (overlap or invalid time): check the schedule"
    if status in (400, 409, 500) and path.startswith("/xapi/dicomscp"):
        return ("XNAT rejected the receiver %s:%s: check the AE title (1-16 printable ASCII, no backslash) "
                "and that no other receiver uses the same AE title and port"
                % (params["receiver_aet"], params["receiver_port"]))
    if status == 500:
        return "XNAT failed internally: see its logs (logs/dicom-query-retrieve.log, application.log)"
    return "unexpected answer"


def norm_time(value):
    """'H:mm', 'HH:mm' or '24:00' -> 'HH:mm' as XNAT stores it (24:00 is 00:00)."""
    hours, _, minutes = str(value).strip().partition(":")
    total = (int(hours) * 60 + int(minutes or 0)) % 1440
    return "%02d:%02d" % divmod(total, 60)


def norm_window(window):
    """A window in XNAT's stored form (threads or utilization 0 makes both 0)."""
    threads, util = int(window.get("threads", 1)), int(window.get("utilizationPercent", 100))
    if threads == 0 or util == 0:
        threads = util = 0
    return {"dayOfWeek": str(window["dayOfWeek"]).upper(),
            "availabilityStart": norm_time(window["availabilityStart"]),
            "availabilityEnd": norm_time(window["availabilityEnd"]),
            "threads": threads, "utilizationPercent": util}


def window_key(window):
    """Day and span: windows with the same key are the same slot."""
    return (DAYS.index(window["dayOfWeek"]), window["availabilityStart"], window["availabilityEnd"])


def window_text(window):
    """One readable line for a window."""
    return "%s %s-%s threads %s utilization %s%%" % (
        window["dayOfWeek"], window["availabilityStart"],
        "24:00" if window["availabilityEnd"] == "00:00" else window["availabilityEnd"],
        window["threads"], window["utilizationPercent"])


def desired_windows(params):
    """The wanted windows, normalised, checked and sorted (ValueError if invalid)."""
    windows = params["windows"] or [
        {"dayOfWeek": day, "availabilityStart": "00:00", "availabilityEnd": "00:00",
         "threads": 1, "utilizationPercent": 100} for day in DAYS]
    result = []
    for window in windows:
        try:
            result.append(norm_window(window))
        except (KeyError, ValueError, TypeError) as err:
            raise ValueError("invalid window %r: %s" % (window, err)) from None
        if result[-1]["dayOfWeek"] not in DAYS:
            raise ValueError("invalid dayOfWeek in window %r" % (window,))

    def span(window):
        start = int(window["availabilityStart"][:2]) * 60 + int(window["availabilityStart"][3:])
        end = int(window["availabilityEnd"][:2]) * 60 + int(window["availabilityEnd"][3:]) or 1440
        return start, end

    for i, one in enumerate(result):
        one_start, one_end = span(one)
        if one_start >= one_end:
            raise ValueError("window %s: start must be before end" % window_text(one))
        for other in result[:i]:
            other_start, other_end = span(other)
            if one["dayOfWeek"] == other["dayOfWeek"] and one_start < other_end and other_start < one_end:
                raise ValueError("windows overlap: %s and %s" % (window_text(other), window_text(one)))
    return sorted(result, key=window_key)


def plan_windows(current, want):
    """(deletes, updates, posts) turning current (with ids) into want.

    A current window is kept when its day and span match a wanted one (then updated if
    threads or utilization differ); every other current window is deleted. Deleting
    first leaves only wanted spans, which never overlap, so no POST meets XNAT's 400 and
    no PUT makes XNAT trim a neighbour.
    """
    remaining = sorted(current, key=window_key)
    updates, posts = [], []
    for window in want:
        same = [c for c in remaining if window_key(c) == window_key(window)]
        if same:
            remaining.remove(same[0])
            if (same[0]["threads"], same[0]["utilizationPercent"]) != \
                    (window["threads"], window["utilizationPercent"]):
                updates.append((same[0]["id"], window))
        else:
            posts.append(window)
    return remaining, updates, posts


def norm_setting(value):
    """DQR settings compare as strings (GET gives strings or booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def not_kept(sent, got, norm=lambda value: value):
    """[(field, sent, returned)] for each sent field that the read-back entry lacks or changed."""
    got = got if isinstance(got, dict) else {}
    return [(key, value, got.get(key)) for key, value in sent.items() if norm(got.get(key)) != norm(value)]


def put_body(current, want):
    """The whole entry for a PUT: what XNAT has (so that a whole-replace revision blanks
    nothing we do not manage) with the wanted fields over it, without server fields."""
    body = {k: v for k, v in (current or {}).items() if k not in SERVER_FIELDS and v is not None}
    body.update(want)
    return body


def union_by_id(lists):
    """Entries of several listings, each id once, in id order."""
    seen = {}
    for listing in lists:
        for entry in listing or []:
            if isinstance(entry, dict) and "id" in entry:
                seen.setdefault(entry["id"], entry)
    return [seen[key] for key in sorted(seen)]


class Converger:
    """Computes and (unless in check mode) applies the changes for one XNAT."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.check = module.check_mode
        self.xnat = Xnat(module.params)
        self.changes = []
        self.before = {}
        self.after = {}
        self.want_windows = []
        self.revision = {}

    def write(self, method, path, body=None, accept=(200,)):
        """A changing call: skipped in check mode."""
        if self.check:
            return None
        return self.xnat.call(method, path, body, accept)[1]

    def verify(self, what, path, sent, norm=lambda value: value):
        """Read the entry back and fail naming every field XNAT did not keep."""
        status, got = self.xnat.call("GET", path, accept=(200, 404))
        missing = not_kept(sent, got if status == 200 else None, norm)
        if missing:
            raise NotKept(what if status == 200 else "%s (no longer found after the write)" % what,
                          path, missing)
        return got

    # -------------------------------------------------------------- PACS
    def desired_pacs(self):
        """The whole wanted PACS entry."""
        p = self.params
        return {"aeTitle": p["pacs_ae_title"], "host": p["pacs_host"], "queryRetrievePort": p["pacs_port"],
                "label": p["pacs_label"], "queryable": p["queryable"] or p["default_query_retrieve"],
                "storable": p["storable"] or p["default_storage"],
                "defaultQueryRetrievePacs": p["default_query_retrieve"],
                "defaultStoragePacs": p["default_storage"], "ormStrategySpringBeanId": p["orm_strategy"]}

    def list_pacs(self):
        """Every enabled PACS. An older DQR answers a bare GET with 400 (storable and
        queryable are required parameters there): then the four combinations are listed,
        so that the result is complete whether the parameters filter or not."""
        status, listing = self.xnat.call("GET", "/xapi/pacs", accept=(200, 400))
        if status == 200:
            self.revision["pacs_list"] = "plain"
            return listing or []
        self.revision["pacs_list"] = "storable and queryable required"
        return union_by_id(
            self.xnat.call("GET", "/xapi/pacs?storable=%s&queryable=%s" % flags)[1]
            for flags in product(("false", "true"), repeat=2))

    def converge_pacs(self):
        """Create or update the PACS entry; returns (id, created)."""
        want = self.desired_pacs()
        listing = self.list_pacs()
        triple = (want["aeTitle"], want["host"], want["queryRetrievePort"])
        by_triple = [x for x in listing if (x.get("aeTitle"), x.get("host"), x.get("queryRetrievePort")) == triple]
        by_label = [x for x in listing if x.get("label") == want["label"]]
        if by_triple and by_label and by_triple[0]["id"] != by_label[0]["id"]:
            raise Conflict(
                "PACS %s (id %s) has AE title/host/port %s:%s:%s but PACS id %s has the label %r: "
                "XNAT would refuse either update; delete or relabel one of them in XNAT"
                % (by_triple[0].get("label"), by_triple[0]["id"], *triple, by_label[0]["id"], want["label"]))
        current = (by_triple or by_label or [None])[0]
        self.before["pacs"] = {k: current.get(k) for k in want} if current else None
        self.after["pacs"] = dict(want)
        what = "PACS %s" % want["label"]
        if current is None:
            self.changes.append("create PACS %s (%s@%s:%s)" % (want["label"], *triple))
            created = self.write("POST", "/xapi/pacs", want)
            if created is None:
                return None, True
            if not isinstance(created, dict) or "id" not in created:
                raise XnatError("POST", "/xapi/pacs", 200, "the answer holds no PACS id")
            self.verify("%s (id %s)" % (what, created["id"]), "/xapi/pacs/%d" % created["id"], want)
            return created["id"], True
        delta = {k: v for k, v in want.items() if current.get(k) != v}
        if delta:
            self.changes.append("update PACS %s (id %s): %s" % (
                want["label"], current["id"],
                ", ".join("%s %r -> %r" % (k, current.get(k), v) for k, v in sorted(delta.items()))))
            path = "/xapi/pacs/%d" % current["id"]
            # the whole entry: older DQR replaces the PACS with the body, newer ones merge it
            self.write("PUT", path, put_body(current, want))
            if not self.check:
                self.verify("%s (id %s)" % (what, current["id"]), path, want)
        return current["id"], False

    # ------------------------------------------------------------ windows
    def read_windows(self, pacs_id):
        """The windows of the PACS, normalised, with their ids."""
        _, days = self.xnat.call("GET", "/xapi/pacs/%d/availability" % pacs_id)
        current = []
        for day_windows in (days if isinstance(days, dict) else {}).values():
            for window in day_windows or []:
                entry = norm_window(window)
                entry["id"] = window.get("id")
                current.append(entry)
        return sorted(current, key=window_key)

    def write_window(self, method, path, pacs_id, window, verify_path=None):
        """POST or PUT one whole window (with its owner pacsId) and read it back."""
        body = dict(window, pacsId=pacs_id)
        answer = self.write(method, path, body, accept=(200, 304))
        if self.check:
            return
        verify_path = verify_path or "%s/%s" % (path, answer.get("id") if isinstance(answer, dict) else None)
        self.verify("window %s of PACS id %s" % (window_text(window), pacs_id), verify_path,
                    body, norm=lambda v: norm_time(v) if isinstance(v, str) and ":" in v else v)

    def converge_windows(self, pacs_id, is_new):
        """Make the PACS's windows exactly the wanted ones, from any starting point."""
        want = self.want_windows
        current = []
        if pacs_id is not None and not (is_new and self.check):
            current = self.read_windows(pacs_id)
        self.before["windows"] = [window_text(w) for w in current]
        self.after["windows"] = [window_text(w) for w in want]
        deletes, updates, posts = plan_windows(current, want)
        base = "/xapi/pacs/%s/availability" % pacs_id
        for window in deletes:  # delete first: XNAT refuses overlapping windows
            self.changes.append("remove window %s" % window_text(window))
            self.write("DELETE", "%s/%s" % (base, window["id"]))
        for window_id, window in updates:
            self.changes.append("update window %s" % window_text(window))
            path = "%s/%s" % (base, window_id)
            self.write_window("PUT", path, pacs_id, dict(window, id=window_id), verify_path=path)
        for window in posts:
            self.changes.append("add window %s" % window_text(window))
            self.write_window("POST", base, pacs_id, window)
        if (deletes or updates or posts) and not self.check:
            self.check_schedule(pacs_id, want)

    def check_schedule(self, pacs_id, want):
        """After the writes the PACS must hold exactly the wanted windows."""
        have = [{k: w[k] for k in WINDOW_FIELDS} for w in self.read_windows(pacs_id)]
        if have != want:
            extra = [window_text(w) for w in have if w not in want]
            lost = [window_text(w) for w in want if w not in have]
            raise NotKept("the schedule of PACS id %s" % pacs_id, "/xapi/pacs/%d/availability" % pacs_id,
                          [("windows", "; ".join(lost) or "-", "; ".join(extra) or "-")])

    # ----------------------------------------------------------- receiver
    def converge_receiver(self):
        """Ensure the enabled DQR receiver; returns its id."""
        aet, port = self.params["receiver_aet"], self.params["receiver_port"]
        path = "/xapi/dicomscp/title/%s/%d" % (quote(aet, safe=""), port)
        status, current = self.xnat.call("GET", path, accept=(200, 404))
        want = {"aeTitle": aet, "port": port, "identifier": RECEIVER_IDENTIFIER, "enabled": True}
        self.after["receiver"] = dict(want)
        what = "receiver %s:%s" % (aet, port)
        if status == 404 or not isinstance(current, dict):
            self.before["receiver"] = None
            self.changes.append("create receiver %s:%s (%s)" % (aet, port, RECEIVER_IDENTIFIER))
            created = self.write("POST", "/xapi/dicomscp", want)
            if created is None:
                return None
            if not isinstance(created, dict) or "id" not in created:
                raise XnatError("POST", "/xapi/dicomscp", 200, "the answer holds no receiver id")
            self.verify(what, "/xapi/dicomscp/%d" % created["id"], want)
            return created["id"]
        self.before["receiver"] = {k: current.get(k) for k in want}
        scp_id = current["id"]
        scp_path = "/xapi/dicomscp/%d" % scp_id
        wrote = False
        if current.get("identifier") != RECEIVER_IDENTIFIER:
            self.changes.append("set receiver %s:%s identifier %s -> %s"
                                % (aet, port, current.get("identifier"), RECEIVER_IDENTIFIER))
            # the whole receiver: older XNAT replaces it with the body, 1.9 merges it
            body = put_body({k: v for k, v in current.items() if k != "label"}, want)
            self.write("PUT", scp_path, body)
            wrote = not self.check
            if wrote:
                _, current = self.xnat.call("GET", scp_path)
                current = current if isinstance(current, dict) else {}
        if current.get("enabled") is not True:
            self.changes.append("enable receiver %s:%s" % (aet, port))
            self.write("PUT", "%s/enabled/true" % scp_path)
            wrote = not self.check
        if wrote:
            self.verify(what, scp_path, want)
        return scp_id

    # ----------------------------------------------------------- settings
    def converge_settings(self):
        """Post the DQR settings that differ (1.x path /xapi/dqr found by a 404)."""
        want = {k: norm_setting(v) for k, v in (self.params["dqr_settings"] or {}).items()}
        if not want:
            return
        path = "/xapi/dqr/settings"
        status, current = self.xnat.call("GET", path, accept=(200, 404))
        if status == 404:  # DQR plugin 1.x
            path = "/xapi/dqr"
            _, current = self.xnat.call("GET", path)
        self.revision["settings_path"] = path
        current = current if isinstance(current, dict) else {}
        have = {k: norm_setting(current[k]) if k in current else None for k in want}
        self.before["dqr_settings"] = have
        self.after["dqr_settings"] = want
        delta = {k: v for k, v in want.items() if have[k] != v}
        if delta:
            self.changes.append("set DQR settings %s" % ", ".join(
                "%s %r -> %r" % (k, have[k], v) for k, v in sorted(delta.items())))
            if not self.check:
                self.write("POST", path, delta)
                self.verify("DQR settings", path, delta,
                            norm=lambda v: None if v is None else norm_setting(v))

    def run(self):
        """Converge everything; returns (pacs id, receiver id)."""
        self.want_windows = desired_windows(self.params)  # validate before any call
        # One Tomcat session for the whole run. Check mode opens it too: the POST creates
        # no configuration, only the session that each Basic-auth GET would otherwise create
        # anew, and close() ends it again.
        self.module.no_log_values.add(self.xnat.login())
        pacs_id, is_new = self.converge_pacs()
        self.converge_windows(pacs_id, is_new)
        receiver_id = self.converge_receiver()
        self.converge_settings()
        return pacs_id, receiver_id


def not_kept_text(err):
    """'field: sent X, XNAT returned Y' for each field XNAT did not keep."""
    return "; ".join("%s: sent %s, XNAT returned %s" % (field, json.dumps(sent), json.dumps(got))
                     for field, sent, got in err.fields)


def argument_spec():
    return {
        "name": {"type": "str", "required": True},
        "url": {"type": "str", "required": True},
        "username": {"type": "str", "required": True},
        "password": {"type": "str", "required": True, "no_log": True},
        "validate_certs": {"type": "bool", "default": True},
        "timeout": {"type": "int", "default": 30},
        "pacs_ae_title": {"type": "str", "required": True},
        "pacs_host": {"type": "str", "required": True},
        "pacs_port": {"type": "int", "required": True},
        "pacs_label": {"type": "str", "required": True},
        "queryable": {"type": "bool", "default": True},
        "storable": {"type": "bool", "default": False},
        "default_query_retrieve": {"type": "bool", "default": False},
        "default_storage": {"type": "bool", "default": False},
        "orm_strategy": {"type": "str", "default": "dicomOrmStrategy"},
        "receiver_aet": {"type": "str", "required": True},
        "receiver_port": {"type": "int", "required": True},
        "windows": {"type": "list", "elements": "dict", "default": []},
        "dqr_settings": {"type": "dict", "default": {}},
    }


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    where = "XNAT %s (%s)" % (params["name"], params["url"])
    if not params["url"].startswith(("http://", "https://")):
        module.fail_json(msg="%s: url must start with http:// or https://" % where)
    if params["timeout"] <= 0:
        module.fail_json(msg="%s: timeout must be a positive number of seconds" % where)
    for key in ("pacs_port", "receiver_port"):
        if not 1 <= params[key] <= 65535:
            module.fail_json(msg="%s: %s must be 1-65535, got %s" % (where, key, params[key]))
    converger = Converger(module)
    failure = None
    try:
        pacs_id, receiver_id = converger.run()
    except XnatError as err:
        answer = "no answer (%s)" % err.text if err.status is None else "HTTP %s%s" % (
            err.status, ": %s" % err.text.strip() if err.text.strip() else "")
        failure = {"msg": "%s: %s %s failed with %s. %s" % (
            where, err.method, err.path, answer, hint(err, params)), "status": err.status}
    except NotKept as err:
        failure = {"msg": "%s: XNAT answered the write with success but did not keep %s of %s (read back "
                          "from GET %s): %s. XNAT drops fields it does not know without an error: this "
                          "DQR plugin revision may name or handle them differently; check it in the "
                          "XNAT UI" % (where, ", ".join(f[0] for f in err.fields), err.what, err.path,
                                       not_kept_text(err)),
                   "not_kept": [f[0] for f in err.fields]}
    except (Conflict, ValueError) as err:
        failure = {"msg": "%s: %s" % (where, err)}
    finally:
        converger.xnat.close()  # also on failure: the run leaves no open session behind
    if failure:
        module.fail_json(changes=converger.changes, **failure)
    changed = bool(converger.changes)
    summary = "%s: %s" % (where, "; ".join(converger.changes) if changed else "up to date")
    if module.check_mode and changed:
        summary += " (check mode: nothing written)"
    module.exit_json(changed=changed, pacs_id=pacs_id, receiver_id=receiver_id,
                     changes=converger.changes, summary=summary,
                     diff={"before": converger.before, "after": converger.after})


if __name__ == "__main__":
    main()
