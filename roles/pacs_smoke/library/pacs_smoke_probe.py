#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: the probe host's smoke checks of one PACS in one run (one Python start)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pacs_smoke_probe
short_description: Run the probe host's smoke checks of a PACS (C-ECHO, C-FIND, outbound C-ECHO, DICOMweb) in one call
description:
  - Runs the checks of the phases listed in O(phases) in one process, the phases at the
    same time, and returns one result per check
    C({link, check, status, error, detail, duration}) under the phase's key. One module
    run instead of one per kind of check, as each run starts a Python that imports pynetdicom
    or requests (about 0.6 s).
  - C(inbound) the checks of O(echo_checks) and O(find_checks), all concurrently, one
    association per check with pynetdicom, as a modality would. A C-ECHO check with
    C(expect=accept) passes when the association is accepted and the C-ECHO answers 0x0000;
    with C(expect=reject) when the peer refuses the association (A-ASSOCIATE-RJ; Orthanc
    1.10.1 does this for an unknown calling AE when all C(DicomAlwaysAllow*) options are
    false, and for a wrong called AE when C(DicomCheckCalledAet) is true) or the C-ECHO.
    A C-FIND check (Study Root, STUDY level, a fresh StudyInstanceUID that matches nothing)
    passes with C(expect=accept) when the C-FIND ends with 0x0000; Orthanc 1.10.1 accepts
    the association of a known AE, then aborts it when C(AllowFind) is false. A peer that
    cannot be reached, or that takes the TCP connection and never answers, fails either way.
  - >-
    C(outbound) Orthanc's own C-ECHO to each of O(outbound_checks) (C(POST /modalities/{name}/echo)
    on its REST API at O(dicomweb.url), with the credentials and TLS settings of O(dicomweb)), all
    at the same time: the proof is Orthanc's association (its AE title, its network path, its
    C(DicomModalities) entry). A modality with C(expected_offline=true) that does not answer is
    reported skipped; a modality Orthanc does not know (HTTP 404) always fails.
  - C(dicomweb) the REST API refuses a request without credentials (C(http_auth)); a
    synthetic Secondary Capture instance (PatientName C(patient_name), PatientID
    C(patient_id_prefix)-C(run_id), fresh UIDs, random pixels) is stored with STOW-RS
    (C(stow)), found with QIDO-RS (C(qido)) and read back with WADO-RS with identical pixel
    data (C(wado)), using dicomweb-client without retries; Orthanc's
    C(POST /dicom-web/servers/{name}/stow) sends it to each of C(remote_servers) with
    C(smoke_stow=true) (C(stow_remote), others skipped; the remote copy is not deleted);
    C(cleanup) deletes it through Orthanc's REST API and proves no study with the test
    PatientName and PatientID prefix is left (leftovers of runs more than 10 minutes apart
    from this one are deleted too). Cleanup runs even when an earlier step failed; a check
    that cannot run because an earlier one failed is skipped.
  - The module never fails because a check failed; it returns the results and the caller
    decides. It fails only on bad arguments or a missing library. In check mode nothing is
    sent and every check of the listed phases is reported as skipped.
version_added: "1.1.0"
author: pacs-provisioner
requirements: [pynetdicom >= 2.0, pydicom >= 2.0, requests, dicomweb-client >= 0.59]
options:
  phases:
    description: The phases to run; the checks of the others are not run and their keys are empty.
    type: list
    elements: str
    choices: [inbound, outbound, dicomweb]
    required: true
  timeout:
    description: Seconds per DICOM association (connect, ACSE, DIMSE, network) and per HTTP request.
    type: float
    default: 3
  max_workers:
    description: How many inbound checks run at the same time.
    type: int
    default: 16
  echo_checks:
    description: The inbound C-ECHO checks (phase C(inbound)).
    type: list
    elements: dict
    default: []
    suboptions:
      link:
        description: Name of the link shown in the report (modality name, AE, ...).
        type: str
        required: true
      check:
        description: Name of the check shown in the report (default C(echo), for O(find_checks) C(find)).
        type: str
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
        description: Whether the peer must accept or refuse.
        type: str
        choices: [accept, reject]
        default: accept
      timeout:
        description: Per-check timeout in seconds (defaults to O(timeout)).
        type: float
  find_checks:
    description:
      - The inbound C-FIND checks (phase C(inbound)); the options of O(echo_checks), plus
        C(query_level) (only C(STUDY)) and C(study_uid) (default a fresh UID that matches nothing).
    type: list
    elements: dict
    default: []
  outbound_checks:
    description: The outbound C-ECHO checks (phase C(outbound)).
    type: list
    elements: dict
    default: []
    suboptions:
      link:
        description: Name of the link shown in the report (default the modality's name).
        type: str
      check:
        description: Name of the check shown in the report.
        type: str
        default: echo_out
      modality:
        description: The modality's name in Orthanc's C(DicomModalities).
        type: str
        required: true
      expected_offline:
        description: A modality that does not answer is reported skipped, not failed.
        type: bool
        default: false
  dicomweb:
    description:
      - The DICOMweb roundtrip (phase C(dicomweb)) and Orthanc's REST API (phase C(outbound));
        required by either phase.
    type: dict
    suboptions:
      url:
        description: Orthanc's HTTP base URL as clients see it (scheme, host, port).
        type: str
        required: true
      dicomweb_root:
        description: Path of the DICOMweb plugin below C(url).
        type: str
        default: /dicom-web/
      username:
        description: HTTP user.
        type: str
        required: true
      password:
        description: Password of C(username).
        type: str
        required: true
      validate_certs:
        description: Verify TLS certificates.
        type: bool
        default: true
      ca_pem:
        description: PEM text of the CA(s) that verify an https C(url); without it the trust store is used.
        type: str
      server_name:
        description:
          - The name users use for an https C(url) whose host is an address; the certificate must be
            valid for it (sent as SNI too) and requests carry it in their Host header.
        type: str
      run_id:
        description: Identifies this run; goes into PatientID and the report.
        type: str
        required: true
      link:
        description: Name of the link shown in the report for the local checks.
        type: str
        default: DICOMweb
      patient_name:
        description: PatientName of the synthetic instance; must clearly mark test data.
        type: str
        default: PP^SMOKETEST
      patient_id_prefix:
        description: Prefix of the PatientID; the cleanup looks for this run's study and stale leftovers with it.
        type: str
        default: PPSMOKE
      remote_servers:
        description: Orthanc's C(DicomWeb.Servers) entries (C(name), C(smoke_stow)) to STOW the test study to.
        type: list
        elements: dict
        default: []
"""

EXAMPLES = r"""
- name: C-ECHO and C-FIND Orthanc as its modalities, its C-ECHO to them, and the DICOMweb roundtrip, in one run
  pacs_smoke_probe:
    phases: [inbound, outbound, dicomweb]
    echo_checks:
      - {link: CT_ROOM1, check: echo_in, host: pacs1.example.org, port: 4242,
         calling_aet: CT1, called_aet: GH_PACS}
      - {link: PP_SMOKE_UNKNOWN, check: echo_in_unknown_refused, host: pacs1.example.org,
         port: 4242, calling_aet: PP_SMOKE_UNKNOWN, called_aet: GH_PACS, expect: reject}
    find_checks:
      - {link: XNAT_RESEARCH, check: find_in, host: pacs1.example.org, port: 4242,
         calling_aet: XNAT_RESEARCH, called_aet: GH_PACS}
    outbound_checks:
      - {link: CT_ROOM1, modality: CT_ROOM1}
      - {link: PORTABLE_XR, modality: PORTABLE_XR, expected_offline: true}
    dicomweb:
      url: http://pacs1.example.org:8042
      username: admin
      password: "{{ vault_orthanc_admin_password }}"
      run_id: "20250101T120000Z-abc123"
  no_log: true
  register: probe
"""

RETURN = r"""
echo_in:
  description: One result per C-ECHO check, in the order given (empty unless phase inbound ran).
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
find_in:
  description: One result per C-FIND check, in the order given (empty unless phase inbound ran).
  returned: always
  type: list
  elements: dict
echo_out:
  description: One result per outbound check, in the order given (empty unless phase outbound ran).
  returned: always
  type: list
  elements: dict
dicomweb:
  description: The results of the DICOMweb roundtrip (empty unless phase dicomweb ran).
  returned: always
  type: list
  elements: dict
study_uid:
  description: StudyInstanceUID of the synthetic study (empty unless phase dicomweb ran).
  returned: always
  type: str
patient_id:
  description: PatientID of the synthetic study (empty unless phase dicomweb ran).
  returned: always
  type: str
failed_count:
  description: Number of results with status fail, over all phases.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.pacs_smoke_checks import count_failed, run_concurrently, skipped_results
from ansible.module_utils import pacs_smoke_dicom as dicom
from ansible.module_utils import pacs_smoke_dicomweb as dicomweb
from ansible.module_utils import pacs_smoke_outbound as outbound

RESULT_KEYS = ("echo_in", "find_in", "echo_out", "dicomweb")


def run_inbound(params):
    """The C-ECHO and C-FIND checks in one thread pool; their results under echo_in and find_in."""
    jobs = dicom.inbound_jobs(params["echo_checks"], params["find_checks"])
    results = run_concurrently(jobs, params["max_workers"], lambda job: job[1](job[0], params["timeout"]))
    split = len(params["echo_checks"])
    return {"echo_in": results[:split], "find_in": results[split:]}


def run_dicomweb(params):
    """The DICOMweb roundtrip; its results, the test study's UID and PatientID."""
    trip = dicomweb.run_roundtrip(dict(params["dicomweb"], timeout=params["timeout"]))
    return {"dicomweb": trip.results, "study_uid": trip.uids["study"], "patient_id": trip.patient_id}


def run_echo_out(params):
    """Orthanc's C-ECHO to every modality of outbound_checks, asked through its REST API."""
    return {"echo_out": outbound.run_outbound(params["outbound_checks"], params["dicomweb"], params["timeout"],
                                              params["max_workers"])}


PHASES = {"inbound": run_inbound, "outbound": run_echo_out, "dicomweb": run_dicomweb}


def skip_phase(params, phase, reason):
    """The results of a phase's checks, all reported as skipped with `reason`."""
    if phase == "inbound":
        return {"echo_in": skipped_results(dicom.normalise_echo(params["echo_checks"]), reason),
                "find_in": skipped_results(dicom.normalise_find(params["find_checks"]), reason)}
    if phase == "outbound":
        return {"echo_out": outbound.skipped(params["outbound_checks"], reason)}
    return {"dicomweb": dicomweb.skipped(params["dicomweb"], reason)}


def run_phases(params, runner):
    """runner(params, phase) for every phase in params["phases"] at the same time, each in a
    thread of its own; returns the answers merged, every result key present, with failed_count."""
    phases = list(dict.fromkeys(params["phases"]))
    answer = {key: [] for key in RESULT_KEYS}
    answer.update(study_uid="", patient_id="")
    for part in run_concurrently(phases, len(phases), lambda phase: runner(params, phase)):
        answer.update(part)
    answer["failed_count"] = sum(count_failed(answer[key]) for key in RESULT_KEYS)
    return answer


def argument_errors(params):
    """Why the arguments cannot run (options a listed phase needs), or an empty string."""
    for phase in ("dicomweb", "outbound"):
        if phase in params["phases"] and not params.get("dicomweb"):
            return "phase %s needs the option dicomweb (url, username, password, run_id)" % phase
    return ""


# The options (DOCUMENTATION); the action plugin of the same name validates with them too.
ARGUMENT_SPEC = dict(
    phases=dict(type="list", elements="str", choices=list(PHASES), required=True),
    timeout=dict(type="float", default=3.0),
    max_workers=dict(type="int", default=16),
    echo_checks=dict(type="list", elements="dict", default=[], options=dicom.ECHO_SPEC),
    find_checks=dict(type="list", elements="dict", default=[], options=dicom.FIND_SPEC),
    outbound_checks=dict(type="list", elements="dict", default=[], options=outbound.OUTBOUND_SPEC),
    dicomweb=dict(type="dict", options=dicomweb.DICOMWEB_SPEC),
)

# The library each phase needs: its module_utils (IMPORT_ERROR) and the names in the error.
LIBRARIES = (("inbound", dicom, "pynetdicom and pydicom"),
             ("outbound", outbound, "requests"),
             ("dicomweb", dicomweb, "pydicom, requests and dicomweb-client"))


def missing_library(phases):
    """(names, traceback) of the first library a listed phase needs and cannot import, or None."""
    for phase, lib, names in LIBRARIES:
        if phase in phases and lib.IMPORT_ERROR:
            return names, lib.IMPORT_ERROR
    return None


def answer(params, check_mode):
    """The module's answer for validated params: the results of every phase (changed false),
    or {failed, msg} for arguments a phase cannot run with or a missing library."""
    error = argument_errors(params)
    if error:
        return {"failed": True, "msg": error}
    missing = missing_library(params["phases"])
    if missing:
        return {"failed": True, "msg": missing_required_lib(missing[0]), "exception": missing[1]}
    if check_mode:
        result = run_phases(params, lambda p, phase: skip_phase(p, phase, "check mode: nothing sent"))
    else:
        result = run_phases(params, lambda p, phase: PHASES[phase](p))
    # Test data was written and deleted again: nothing changed on the PACS.
    return dict(result, changed=False)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    result = answer(module.params, module.check_mode)
    if result.get("failed"):
        module.fail_json(**{k: v for k, v in result.items() if k != "failed"})
    module.exit_json(**result)


if __name__ == "__main__":
    main()
