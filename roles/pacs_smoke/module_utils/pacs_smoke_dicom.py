# -*- coding: utf-8 -*-
"""The inbound DICOM checks of the pacs_smoke role: C-ECHO (Verification) and C-FIND
(Study Root, STUDY level) of the PACS, one association per check, as a modality would.

Imported by modules as ``from ansible.module_utils.pacs_smoke_dicom import ...``. The
checks' argument specs live here with the code that reads them, so every module that runs
them (pacs_smoke_probe) takes the same options. pynetdicom and pydicom are imported here;
IMPORT_ERROR says why when they are missing (the module reports it through fail_json).
"""

from __future__ import annotations

import traceback

from ansible.module_utils.pacs_smoke_checks import fill_defaults, run_association_check

IMPORT_ERROR = None
try:
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid
    from pynetdicom.sop_class import (  # pylint: disable=no-name-in-module
        StudyRootQueryRetrieveInformationModelFind, Verification)
except ImportError:  # pragma: no cover - reported through fail_json
    IMPORT_ERROR = traceback.format_exc()

# The options of one association check, shared by C-ECHO and C-FIND.
_ASSOCIATION_SPEC = dict(
    link=dict(type="str", required=True),
    host=dict(type="str", required=True),
    port=dict(type="int", required=True),
    calling_aet=dict(type="str", required=True),
    called_aet=dict(type="str", required=True),
    expect=dict(type="str", choices=["accept", "reject"], default="accept"),
    timeout=dict(type="float"),
)
ECHO_SPEC = dict(_ASSOCIATION_SPEC, check=dict(type="str", default="echo"))
FIND_SPEC = dict(_ASSOCIATION_SPEC, check=dict(type="str", default="find"),
                 query_level=dict(type="str", choices=["STUDY"], default="STUDY"),
                 study_uid=dict(type="str"))


# --- C-ECHO ------------------------------------------------------------------------------

def send_echo(assoc, _check):
    """Send the C-ECHO over an established association; returns (outcome, text)."""
    status = assoc.send_c_echo()
    code = getattr(status, "Status", None)
    if assoc.is_established:
        assoc.release()
    if code == 0x0000:
        return "accepted", "C-ECHO status 0x0000"
    if code is None:
        return "refused", "association accepted but the C-ECHO got no response (aborted or timed out)"
    return "refused", "C-ECHO status 0x%04X" % code


def run_echo(check, default_timeout):
    """Run one C-ECHO check and return its result dict.

    Passes with expect=accept when the association is accepted and the C-ECHO answers
    0x0000; with expect=reject when the peer refuses the association (A-ASSOCIATE-RJ) or
    the C-ECHO. A peer that cannot be reached fails either way.
    """
    return run_association_check(check, default_timeout, "C-ECHO", Verification, send_echo)


def normalise_echo(checks):
    """Fill the per-check defaults of C-ECHO checks that AnsibleModule leaves as None."""
    return fill_defaults(checks, "echo")


# --- C-FIND ------------------------------------------------------------------------------

def build_query(check):
    """The C-FIND identifier: one StudyInstanceUID (a fresh one that matches nothing unless
    given, so the answer is small and leaks nothing), a few return keys."""
    query = Dataset()
    query.QueryRetrieveLevel = check.get("query_level") or "STUDY"
    query.StudyInstanceUID = check.get("study_uid") or generate_uid()
    query.StudyDate = ""
    query.PatientID = ""
    return query


def send_find(assoc, check):
    """Send the C-FIND over an established association; returns (outcome, text)."""
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
        return "accepted", "C-FIND status 0x0000 (%d matches)" % matches
    if final is None or aborted:
        return "refused", "association accepted but the C-FIND was aborted or got no response"
    return "refused", "C-FIND status 0x%04X" % final


def run_find(check, default_timeout):
    """Run one C-FIND check and return its result dict.

    A C-ECHO can succeed where the C-FIND from the same AE is refused (Orthanc 1.10.1
    accepts the association, then aborts it when AllowFind is false). An association that
    is not established counts as aborted by the peer, so a C-FIND never reports
    "unreachable" once TCP connects.
    """
    return run_association_check(check, default_timeout, "C-FIND", StudyRootQueryRetrieveInformationModelFind,
                                 send_find, accepted_word="answered", unestablished_is_refusal=True)


def normalise_find(checks):
    """Fill the per-check defaults of C-FIND checks that AnsibleModule leaves as None."""
    return fill_defaults(checks, "find")


# --- both, as one set of concurrent checks ------------------------------------------------

def inbound_jobs(echo_checks, find_checks):
    """(check, runner) pairs of all inbound checks, C-ECHO first, so one thread pool runs
    them all at once; results come back in this order."""
    return [(c, run_echo) for c in normalise_echo(echo_checks)] + \
           [(c, run_find) for c in normalise_find(find_checks)]
