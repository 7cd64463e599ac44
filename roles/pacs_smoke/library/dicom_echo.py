#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: a list of DICOM C-ECHO checks run concurrently with pynetdicom."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dicom_echo
short_description: Run a list of DICOM C-ECHO checks (Verification) in one call
description:
  - Opens one association per check with pynetdicom, sends a C-ECHO and reports
    one result per check; checks run concurrently.
  - A check with C(expect=accept) passes when the association is accepted and the
    C-ECHO answers with status 0x0000.
  - A check with C(expect=reject) passes when the peer refuses, either with an
    A-ASSOCIATE-RJ (Orthanc 1.10.1 does this for an unknown calling AE when all
    C(DicomAlwaysAllow*) options are false, and for a wrong called AE when
    C(DicomCheckCalledAet) is true) or by not answering the C-ECHO with success
    (Orthanc accepts the association but refuses the C-ECHO when another
    C(DicomAlwaysAllow*) option is true). A peer that cannot be reached fails.
  - The module never fails because a check failed; it returns the results and the
    caller decides. It fails only on bad arguments or a missing library.
  - In check mode every check is reported as skipped; nothing is sent.
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
        description: Name of the link shown in the report (modality name, AE, ...).
        type: str
        required: true
      check:
        description: Name of the check shown in the report.
        type: str
        default: echo
      host:
        description: Address of the peer to associate with.
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
        description: Whether the peer must accept or refuse the C-ECHO.
        type: str
        choices: [accept, reject]
        default: accept
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
- name: C-ECHO Orthanc as each modality, and as an unknown AE that must be refused
  dicom_echo:
    timeout: 3
    checks:
      - {link: CT_ROOM1, check: echo_in, host: pacs1.example.org, port: 4242,
         calling_aet: CT1, called_aet: GH_PACS}
      - {link: PP_SMOKE_UNKNOWN, check: echo_in_unknown_refused, host: pacs1.example.org,
         port: 4242, calling_aet: PP_SMOKE_UNKNOWN, called_aet: GH_PACS, expect: reject}
  register: echo
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
    from pynetdicom.sop_class import Verification  # pylint: disable=no-name-in-module
except ImportError:  # pragma: no cover - reported through fail_json
    PYNETDICOM_IMPORT_ERROR = traceback.format_exc()


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
    """Run one C-ECHO check and return its result dict."""
    return run_association_check(check, default_timeout, "C-ECHO", Verification, send_echo)


def normalise(checks):
    """Fill the per-check defaults that AnsibleModule leaves as None."""
    return fill_defaults(checks, "echo")


CHECK_SPEC = dict(
    link=dict(type="str", required=True),
    check=dict(type="str", default="echo"),
    host=dict(type="str", required=True),
    port=dict(type="int", required=True),
    calling_aet=dict(type="str", required=True),
    called_aet=dict(type="str", required=True),
    expect=dict(type="str", choices=["accept", "reject"], default="accept"),
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
    exit_with_check_results(module, normalise(module.params["checks"]), run_echo)


if __name__ == "__main__":
    main()
