# -*- coding: utf-8 -*-
"""The outbound checks of the pacs_smoke role: Orthanc's own C-ECHO to each of its modalities
(C(POST /modalities/{name}/echo) on its REST API), all at the same time. The proof is Orthanc's
association (its AE title, its network path, its DicomModalities entry); the probe host only
asks for it, through the REST API URL the DICOMweb checks use.

Imported by the probe module as ``from ansible.module_utils.pacs_smoke_outbound import ...``;
IMPORT_ERROR says why when requests is missing (the module reports it through fail_json).
"""

from __future__ import annotations

import json
import tempfile
import time
import traceback
from urllib.parse import quote

from ansible.module_utils.pacs_smoke_checks import (
    basic_auth, elapsed, make_session, new_result, run_concurrently, skipped_result, write_ca_file)

IMPORT_ERROR = None
try:
    import requests  # noqa: F401  pylint: disable=unused-import  (make_session's)
except ImportError:  # pragma: no cover - reported through fail_json
    IMPORT_ERROR = traceback.format_exc()

# The options of one check.
OUTBOUND_SPEC = dict(
    link=dict(type="str"),
    check=dict(type="str", default="echo_out"),
    modality=dict(type="str", required=True),
    expected_offline=dict(type="bool", default=False),
)


def orthanc_error(body):
    """The most useful text of an Orthanc error body (JSON with Details/Message)."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:300]
    if isinstance(data, dict):
        return str(data.get("Details") or data.get("Message") or data)
    return str(data)


def answer_error(status, body, modality):
    """(error, offline) for Orthanc's HTTP answer `status` with `body` to an echo request:
    offline when the modality itself did not answer (Orthanc's 500), not for refused
    credentials or a modality missing from Orthanc's configuration."""
    if status == 401:
        return "HTTP 401 from Orthanc's REST API: the smoke credentials are refused", False
    if status == 404:
        return "HTTP 404: Orthanc has no modality named %s (%s)" % (modality, orthanc_error(body)), False
    return "HTTP %s: %s" % (status, orthanc_error(body)), True


def echo_one(session, url, check, timeout):
    """Ask Orthanc at `url` to C-ECHO the check's modality; the result dict."""
    name = check["modality"]
    result = new_result(check.get("link") or name, check.get("check") or "echo_out")
    start = time.monotonic()
    offline = False
    try:
        response = session.post("%s/modalities/%s/echo" % (url.rstrip("/"), quote(name, safe="")),
                                json={"Timeout": int(max(1, round(timeout)))}, timeout=timeout + 5)
    except OSError as exc:  # requests' errors are OSErrors
        result["error"] = "Orthanc's REST API at %s is not reachable: %s" % (url, exc)
    else:
        if response.status_code == 200:
            result["status"] = "pass"
            result["detail"] = "Orthanc C-ECHO to %s answered" % name
        else:
            result["error"], offline = answer_error(response.status_code, response.text, name)
    if offline and check.get("expected_offline"):
        result["status"] = "skipped"
        result["error"] = "offline (expected_offline: true): " + result["error"]
    result["duration"] = elapsed(start)
    return result


def run_outbound(checks, connection, timeout, max_workers=8):
    """Every check at the same time through one session to Orthanc's REST API (`connection`:
    url, username, password, validate_certs, ca_pem, server_name, as the DICOMweb option);
    the results in the order of the checks."""
    with tempfile.TemporaryDirectory(prefix="pp-outbound-") as folder:
        ca_file = write_ca_file(connection["ca_pem"], folder) if connection.get("ca_pem") else None
        session = make_session(connection, basic_auth(connection["username"], connection["password"]), ca_file)
        with session:
            return run_concurrently(checks, max_workers, lambda check: echo_one(session, connection["url"], check, timeout))


def skipped(checks, reason):
    """Every outbound check reported as skipped with `reason`."""
    return [skipped_result(c.get("link") or c["modality"], c.get("check") or "echo_out", reason) for c in checks]
