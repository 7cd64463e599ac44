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

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
# run_checks is not called here; it stays importable from the module for direct callers.
from ansible.module_utils.pacs_smoke_checks import (  # pylint: disable=unused-import
    exit_with_check_results, fill_defaults, run_association_check, run_checks)

PYNETDICOM_IMPORT_ERROR = None
try:
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind  # pylint: disable=no-name-in-module
except ImportError:  # pragma: no cover - reported through fail_json
    PYNETDICOM_IMPORT_ERROR = traceback.format_exc()


def build_query(check):
    """The C-FIND identifier: one StudyInstanceUID, a few return keys."""
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
    """Run one C-FIND check and return its result dict."""
    # An association that is not established counts as aborted by the peer (as before the
    # shared module_utils), so C-FIND never reports "unreachable" once TCP connects.
    return run_association_check(check, default_timeout, "C-FIND", StudyRootQueryRetrieveInformationModelFind,
                                 send_find, accepted_word="answered", unestablished_is_refusal=True)


def normalise(checks):
    """Fill the per-check defaults that AnsibleModule leaves as None."""
    return fill_defaults(checks, "find")


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
    exit_with_check_results(module, normalise(module.params["checks"]), run_find)


if __name__ == "__main__":
    main()
