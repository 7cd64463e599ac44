#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: a list of DICOM C-FIND checks (Study Root, STUDY) run concurrently."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dicom_find
short_description: Run a list of DICOM C-FIND checks (Study Root, STUDY level) in one call
description:
  - Opens one association per check with pynetdicom and sends a Study Root C-FIND at
    STUDY level for one StudyInstanceUID that does not exist (a fresh UID unless
    given), so the answer is small and leaks nothing; checks run concurrently.
  - A check with C(expect=accept) passes when the C-FIND ends with status 0x0000.
    A C-ECHO can succeed where the C-FIND from the same AE is refused (Orthanc
    1.10.1 accepts the association, then aborts it when C(AllowFind) is false).
  - A check with C(expect=reject) passes when the association or the C-FIND is refused.
  - The module never fails because a check failed; it fails only on bad arguments
    or a missing library. In check mode every check is reported as skipped.
version_added: "1.0.0"
author: pacs-provisioner
requirements: [pynetdicom >= 2.0, pydicom]
options:
  checks:
    description: The checks to run.
    type: list
    elements: dict
    required: true
    suboptions:
      link:
        description: Name of the link shown in the report.
        type: str
        required: true
      check:
        description: Name of the check shown in the report.
        type: str
        default: find
      host:
        description: Address of the peer.
        type: str
        required: true
      port:
        description: DICOM port of the peer.
        type: int
        required: true
      calling_aet:
        description: Our AE title for this association.
        type: str
        required: true
      called_aet:
        description: The peer's AE title.
        type: str
        required: true
      expect:
        description: Whether the peer must answer or refuse the C-FIND.
        type: str
        choices: [accept, reject]
        default: accept
      query_level:
        description: Query/Retrieve level (only STUDY is supported).
        type: str
        choices: [STUDY]
        default: STUDY
      study_uid:
        description: StudyInstanceUID to query for (default a fresh UID that matches nothing).
        type: str
      timeout:
        description: Per-check timeout in seconds (defaults to O(timeout)).
        type: float
  timeout:
    description: Default timeout in seconds for connect, ACSE, DIMSE and network.
    type: float
    default: 3
  max_workers:
    description: How many checks run at the same time.
    type: int
    default: 16
"""

EXAMPLES = r"""
- name: C-FIND Orthanc as the XNAT receiver
  dicom_find:
    checks:
      - {link: XNAT_RESEARCH, check: find_in, host: pacs1.example.org, port: 4242,
         calling_aet: XNAT_RESEARCH, called_aet: GH_PACS}
  register: find
"""

RETURN = r"""
results:
  description: One result per check, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    link: {description: The link name., type: str}
    check: {description: The check name., type: str}
    status: {description: "pass, fail or skipped.", type: str}
    error: {description: Why the check failed or was skipped (empty on pass)., type: str}
    detail: {description: What happened (also on pass)., type: str}
    duration: {description: Seconds the check took., type: float}
failed_count:
  description: Number of results with status fail.
  returned: always
  type: int
"""

import socket
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

PYNETDICOM_IMPORT_ERROR = None
try:
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid
    from pynetdicom import AE
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind  # pylint: disable=no-name-in-module
except ImportError:  # pragma: no cover - reported through fail_json
    PYNETDICOM_IMPORT_ERROR = traceback.format_exc()

# A-ASSOCIATE-RJ diagnostics (PS3.8 table 9-21) for result source "service-user".
REJECT_DIAGNOSTICS = {
    1: "no reason given",
    2: "application context name not supported",
    3: "calling AE title not recognised",
    7: "called AE title not recognised",
}


def describe_reject(assoc):
    """Describe an A-ASSOCIATE-RJ from the acceptor's primitive."""
    primitive = getattr(assoc.acceptor, "primitive", None)
    if primitive is None or primitive.result is None:
        return "association rejected"
    diagnostic = REJECT_DIAGNOSTICS.get(primitive.diagnostic, "diagnostic %s" % primitive.diagnostic)
    kind = "permanent" if primitive.result == 1 else "transient"
    return "association rejected (%s, source %s): %s" % (kind, primitive.result_source, diagnostic)


def make_ae(calling_aet, timeout):
    """An AE requesting Study Root C-FIND with every timeout set to `timeout`."""
    ae = AE(ae_title=calling_aet)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
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


def build_query(check):
    """The C-FIND identifier: one StudyInstanceUID, a few return keys."""
    query = Dataset()
    query.QueryRetrieveLevel = check.get("query_level") or "STUDY"
    query.StudyInstanceUID = check.get("study_uid") or generate_uid()
    query.StudyDate = ""
    query.PatientID = ""
    return query


def run_find(check, default_timeout):
    """Run one C-FIND check and return its result dict."""
    timeout = check.get("timeout") or default_timeout
    result = {"link": check["link"], "check": check["check"], "status": "fail",
              "error": "", "detail": "", "duration": 0.0}
    start = time.monotonic()
    try:
        unreachable = tcp_error(check["host"], check["port"], timeout)
        if unreachable:
            raise ConnectionError(unreachable)
        assoc = make_ae(check["calling_aet"], timeout).associate(
            check["host"], check["port"], ae_title=check["called_aet"])
        if assoc.is_rejected:
            outcome, text = "refused", describe_reject(assoc)
        elif not assoc.is_established:
            outcome, text = "refused", "association aborted by the peer"
        else:
            codes = []
            matches = 0
            for status, identifier in assoc.send_c_find(build_query(check), StudyRootQueryRetrieveInformationModelFind):
                code = getattr(status, "Status", None)
                codes.append(code)
                if code in (0xFF00, 0xFF01) and identifier is not None:
                    matches += 1
            aborted = assoc.is_aborted
            if assoc.is_established:
                assoc.release()
            final = codes[-1] if codes else None
            if final == 0x0000:
                outcome, text = "accepted", "C-FIND status 0x0000 (%d matches)" % matches
            elif final is None or aborted:
                outcome, text = "refused", "association accepted but the C-FIND was aborted or got no response"
            else:
                outcome, text = "refused", "C-FIND status 0x%04X" % final
        result["detail"] = "%s as %s -> %s@%s:%s: %s" % (
            outcome, check["calling_aet"], check["called_aet"], check["host"], check["port"], text)
        if outcome == "accepted" and check["expect"] == "accept":
            result["status"] = "pass"
        elif outcome == "refused" and check["expect"] == "reject":
            result["status"] = "pass"
        elif outcome == "accepted":
            result["error"] = "C-FIND as %s was answered but must be refused" % check["calling_aet"]
        else:
            result["error"] = "C-FIND as %s refused: %s" % (check["calling_aet"], text)
    except ConnectionError as exc:
        result["error"] = result["detail"] = str(exc)
    except Exception as exc:  # pylint: disable=broad-except
        result["error"] = "%s: %s" % (type(exc).__name__, exc)
    result["duration"] = round(time.monotonic() - start, 3)
    return result


def normalise(checks):
    """Fill the per-check defaults that AnsibleModule leaves as None."""
    for check in checks:
        check["check"] = check.get("check") or "find"
        check["expect"] = check.get("expect") or "accept"
    return checks


def run_checks(checks, timeout, max_workers, runner):
    """Run `runner(check, timeout)` for every check concurrently, keeping order."""
    if not checks:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(checks)))) as pool:
        return list(pool.map(lambda c: runner(c, timeout), checks))


def skipped_results(checks, reason):
    """Results for checks that were not run."""
    return [{"link": c["link"], "check": c["check"], "status": "skipped", "error": reason,
             "detail": "", "duration": 0.0} for c in checks]


CHECK_SPEC = dict(
    link=dict(type="str", required=True),
    check=dict(type="str", default="find"),
    host=dict(type="str", required=True),
    port=dict(type="int", required=True),
    calling_aet=dict(type="str", required=True),
    called_aet=dict(type="str", required=True),
    expect=dict(type="str", choices=["accept", "reject"], default="accept"),
    query_level=dict(type="str", choices=["STUDY"], default="STUDY"),
    study_uid=dict(type="str"),
    timeout=dict(type="float"),
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            checks=dict(type="list", elements="dict", required=True, options=CHECK_SPEC),
            timeout=dict(type="float", default=3.0),
            max_workers=dict(type="int", default=16),
        ),
        supports_check_mode=True,
    )
    if PYNETDICOM_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("pynetdicom"), exception=PYNETDICOM_IMPORT_ERROR)
    checks = normalise(module.params["checks"])
    if module.check_mode:
        results = skipped_results(checks, "check mode: nothing sent")
    else:
        results = run_checks(checks, module.params["timeout"], module.params["max_workers"], run_find)
    module.exit_json(changed=False, results=results,
                     failed_count=sum(1 for r in results if r["status"] == "fail"))


if __name__ == "__main__":
    main()
