# -*- coding: utf-8 -*-
"""Shared parts of the pacs_smoke modules: result records, running checks concurrently,
the DICOM association check (reachability, A-ASSOCIATE-RJ mapping, verdict) and the HTTP
session to Orthanc, through the HTTPS front door when there is one.

Imported by the modules as ``from ansible.module_utils.pacs_smoke_checks import ...``;
Ansible ships this role-level module_utils file with each module. Only the Python
standard library is imported at the top: pynetdicom is imported when an association is
made, pydicom when the synthetic test instance is built, requests when an HTTP session is
made.
"""

from __future__ import annotations

import io
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

# A-ASSOCIATE-RJ diagnostics (PS3.8 table 9-21) for result source "service-user".
REJECT_DIAGNOSTICS = {
    1: "no reason given",
    2: "application context name not supported",
    3: "calling AE title not recognised",
    7: "called AE title not recognised",
}


# --- result records {link, check, status, error, detail, duration} ------------------------

def new_result(link, check):
    """A result record that fails until the check proves otherwise."""
    return {"link": link, "check": check, "status": "fail", "error": "", "detail": "", "duration": 0.0}


def skipped_result(link, check, reason):
    """A result record for a check that was not run."""
    return {"link": link, "check": check, "status": "skipped", "error": reason, "detail": "", "duration": 0.0}


def skipped_results(checks, reason):
    """Results for checks (dicts with link and check) that were not run."""
    return [skipped_result(c["link"], c["check"], reason) for c in checks]


def count_failed(results):
    """Number of results with status fail."""
    return sum(1 for r in results if r["status"] == "fail")


def elapsed(start):
    """Seconds since `start` (time.monotonic()), rounded for the report."""
    return round(time.monotonic() - start, 3)


# --- running checks concurrently ---------------------------------------------------------


class StepError(Exception):
    """A check failed with a message for the report."""


def http_error(response, what):
    """A StepError describing an unexpected HTTP answer."""
    text = response.text.strip().replace("\n", " ")[:200] if response.content else ""
    hint = {401: " (credentials refused)", 403: " (forbidden)", 404: " (not found)"}.get(response.status_code, "")
    return StepError("%s: HTTP %s%s %s" % (what, response.status_code, hint, text))


def run_step(link, check, func, skip_reason=None):
    """Run func() as one check and return its result: pass with func's detail, or fail with
    a StepError's message, or any other exception's type and message; skipped with a reason."""
    if skip_reason:
        return skipped_result(link, check, skip_reason)
    result = new_result(link, check)
    start = time.monotonic()
    try:
        result["detail"] = func() or ""
        result["status"] = "pass"
    except StepError as exc:
        result["error"] = str(exc)
    except Exception as exc:  # pylint: disable=broad-except
        result["error"] = "%s: %s" % (type(exc).__name__, exc)
    result["duration"] = elapsed(start)
    return result


def run_concurrently(items, max_workers, func):
    """func(item) for every item in a thread pool of at most max_workers; results keep the order."""
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(items)))) as pool:
        return list(pool.map(func, items))


def run_checks(checks, timeout, max_workers, runner):
    """Run `runner(check, timeout)` for every check concurrently, keeping order."""
    return run_concurrently(checks, max_workers, lambda c: runner(c, timeout))


def exit_with_check_results(module, checks, runner):
    """Run the checks with `runner` (all skipped in check mode) and exit with the results.

    The module never fails because a check failed: failed_count tells the caller.
    """
    if module.check_mode:
        results = skipped_results(checks, "check mode: nothing sent")
    else:
        results = run_checks(checks, module.params["timeout"], module.params["max_workers"], runner)
    module.exit_json(changed=False, results=results, failed_count=count_failed(results))


def fill_defaults(checks, default_check):
    """Fill the per-check defaults that AnsibleModule leaves as None."""
    for check in checks:
        check["check"] = check.get("check") or default_check
        check["expect"] = check.get("expect") or "accept"
    return checks


# --- DICOM associations --------------------------------------------------------------------

def describe_reject(assoc):
    """Describe an A-ASSOCIATE-RJ from the acceptor's primitive."""
    primitive = getattr(assoc.acceptor, "primitive", None)
    if primitive is None or primitive.result is None:
        return "association rejected"
    diagnostic = REJECT_DIAGNOSTICS.get(primitive.diagnostic, "diagnostic %s" % primitive.diagnostic)
    kind = "permanent" if primitive.result == 1 else "transient"
    return "association rejected (%s, source %s): %s" % (kind, primitive.result_source, diagnostic)


def make_ae(calling_aet, context, timeout):
    """An AE requesting the presentation context `context` with every timeout set to `timeout`."""
    from pynetdicom import AE  # pylint: disable=import-outside-toplevel

    ae = AE(ae_title=calling_aet)
    ae.add_requested_context(context)
    ae.acse_timeout = timeout
    ae.dimse_timeout = timeout
    ae.network_timeout = timeout
    ae.connection_timeout = timeout
    return ae


def tcp_error(host, port, timeout):
    """None when a TCP connection to host:port opens, else why it does not."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except socket.gaierror as exc:
        return "cannot resolve %s: %s" % (host, exc.strerror or exc)
    except socket.timeout:
        return "no answer from %s:%s within %ss" % (host, port, timeout)
    except OSError as exc:
        return "cannot connect to %s:%s: %s" % (host, port, exc.strerror or exc)


def run_association_check(check, default_timeout, service, context, exchange,
                          accepted_word="accepted", unestablished_is_refusal=False):
    """Run one association check and return its result record.

    `exchange(assoc, check)` sends the DIMSE request over an established association and
    returns (outcome, text) with outcome "accepted" or "refused". `service` ("C-ECHO",
    "C-FIND") and `accepted_word` go into the error texts. An association that is neither
    established, rejected nor aborted is "unreachable" (never a pass), unless
    `unestablished_is_refusal` reports it as aborted by the peer.
    """
    timeout = check.get("timeout") or default_timeout
    result = new_result(check["link"], check["check"])
    start = time.monotonic()
    try:
        unreachable = tcp_error(check["host"], check["port"], timeout)
        if unreachable:
            raise ConnectionError(unreachable)
        asked = time.monotonic()
        assoc = make_ae(check["calling_aet"], context, timeout).associate(
            check["host"], check["port"], ae_title=check["called_aet"])
        # pynetdicom marks an ACSE timeout as an abort: a peer that took the TCP
        # connection and never answered must not count as having refused.
        silent = not assoc.is_established and time.monotonic() - asked >= 0.9 * timeout
        if silent:
            outcome = "unreachable"
            text = "no answer to the association request within %ss (the peer took the TCP connection " \
                   "but did not speak DICOM)" % timeout
        elif assoc.is_rejected:
            outcome, text = "refused", describe_reject(assoc)
        elif assoc.is_aborted or (unestablished_is_refusal and not assoc.is_established):
            outcome, text = "refused", "association aborted by the peer"
        elif not assoc.is_established:
            outcome = "unreachable"
            text = "no association with %s:%s within %ss (connection refused, unreachable or timed out)" % (
                check["host"], check["port"], timeout)
        else:
            outcome, text = exchange(assoc, check)
        result["detail"] = "%s as %s -> %s@%s:%s: %s" % (
            outcome, check["calling_aet"], check["called_aet"], check["host"], check["port"], text)
        if outcome == "accepted" and check["expect"] == "accept":
            result["status"] = "pass"
        elif outcome == "refused" and check["expect"] == "reject":
            result["status"] = "pass"
        elif outcome == "accepted":
            result["error"] = "%s as %s was %s but must be refused" % (service, check["calling_aet"], accepted_word)
        elif outcome == "refused":
            result["error"] = "%s as %s refused: %s" % (service, check["calling_aet"], text)
        else:
            result["error"] = text
    except ConnectionError as exc:
        result["error"] = result["detail"] = str(exc)
    except Exception as exc:  # pylint: disable=broad-except
        result["error"] = "%s: %s" % (type(exc).__name__, exc)
    result["duration"] = elapsed(start)
    return result


# --- the synthetic test instance -----------------------------------------------------------

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


def build_instance(patient_name, patient_id):
    """A small synthetic Secondary Capture instance; returns (bytes, uids, pixel bytes)."""
    # pylint: disable=import-outside-toplevel
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SECONDARY_CAPTURE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = SECONDARY_CAPTURE
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyDate = time.strftime("%Y%m%d")
    ds.StudyTime = time.strftime("%H%M%S")
    ds.StudyID = "SMOKE"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "pacs-provisioner smoke test - safe to delete"
    ds.SeriesDescription = "synthetic smoke test instance"
    ds.Modality = "OT"
    ds.ConversionType = "SYN"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = 16
    ds.Columns = 16
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    pixels = os.urandom(16 * 16)
    ds.PixelData = pixels
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    uids = {"study": ds.StudyInstanceUID, "series": ds.SeriesInstanceUID, "instance": ds.SOPInstanceUID}
    return buf.getvalue(), uids, pixels


# --- the HTTP session to Orthanc (requests is imported when a session is made) -----------

def host_header(url, server_name):
    """The Host header a client that resolved `server_name` sends for `url` (its port kept
    unless it is the scheme's default)."""
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return server_name if parts.port in (None, default) else "%s:%d" % (server_name, parts.port)


def write_ca_file(ca_pem, folder):
    """Write the CA PEM text to a file in `folder` and return its path (requests verifies with a file)."""
    path = os.path.join(folder, "ca.pem")
    with open(path, "w", encoding="ascii") as handle:
        handle.write(ca_pem.strip() + "\n")
    return path


def basic_auth(username, password):
    """HTTP Basic credentials as UTF-8 bytes (requests would send a str in Latin-1, and a
    password with a character outside Latin-1 could not be sent at all), or None."""
    if username is None:
        return None
    return (str(username).encode("utf-8"), str(password or "").encode("utf-8"))


def named_host_adapter(server_name):
    """A requests adapter that connects to the URL's host (an address) but checks the TLS
    certificate for, and sends as SNI, the name users use (urllib3's server_hostname and
    assert_hostname)."""
    from requests.adapters import HTTPAdapter  # pylint: disable=import-outside-toplevel

    class NamedHostAdapter(HTTPAdapter):
        """HTTPAdapter whose connections are verified for server_name."""

        def init_poolmanager(self, *args, **kwargs):  # pylint: disable=arguments-differ
            kwargs["server_hostname"] = server_name
            kwargs["assert_hostname"] = server_name
            super().init_poolmanager(*args, **kwargs)

    return NamedHostAdapter()


def make_session(params, auth, ca_file=None):
    """A requests session to params["url"]: `auth`, certificate verification with `ca_file`
    (or the trust store, or none when params["validate_certs"] is false), and with
    params["server_name"] the connection to the URL's address verified for that name, which
    goes in the Host header."""
    import requests  # pylint: disable=import-outside-toplevel
    session = requests.Session()
    if ca_file:
        session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the CA given
    session.auth = auth
    session.verify = (ca_file or True) if params["validate_certs"] else False
    if params.get("server_name"):
        session.mount("https://", named_host_adapter(params["server_name"]))
        session.headers["Host"] = host_header(params["url"], params["server_name"])
    return session
