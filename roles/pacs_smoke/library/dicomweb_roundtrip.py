#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: STOW-RS / QIDO-RS / WADO-RS roundtrip of a synthetic instance, then cleanup."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dicomweb_roundtrip
short_description: Prove Orthanc's DICOMweb and HTTP authentication with a synthetic test instance
description:
  - Runs these checks against one Orthanc and returns one result per check
    C({link, check, status, error, detail, duration}).
  - C(http_auth) the REST API refuses a request without credentials (HTTP 401).
  - The DICOMweb transactions use the dicomweb-client library (no retries), on the
    host the module runs on (the role delegates it to the probe host, the controller
    by default).
  - C(stow) a synthetic Secondary Capture instance made with pydicom (PatientName
    O(patient_name), PatientID O(patient_id_prefix)-O(run_id), fresh UIDs, 16x16
    pixels of random bytes) is stored with STOW-RS.
  - C(qido) QIDO-RS finds the study by its StudyInstanceUID.
  - C(wado) WADO-RS returns the instance with byte-identical pixel data.
  - C(stow_remote) for each of O(remote_servers) with C(smoke_stow=true), Orthanc's
    C(POST /dicom-web/servers/{name}/stow) sends the test study there (others are
    skipped). The copy on the remote server is not deleted by this module.
  - C(cleanup) the test study is deleted through Orthanc's REST API (found with
    C(/tools/lookup)), then a final query proves Orthanc holds no study with the
    test PatientName and PatientID prefix; leftovers of runs that started more than 10 minutes
    apart from this one are deleted too (nodes sharing a database run at the same time).
    Cleanup runs even when an earlier step failed.
  - A check that cannot run because an earlier one failed is reported as skipped.
  - The module never fails because a check failed. In check mode nothing is sent
    and every check is reported as skipped.
version_added: "1.0.0"
author: pacs-provisioner
requirements: [pydicom >= 2.0, requests, dicomweb-client >= 0.59]
options:
  url:
    description: Orthanc's HTTP base URL as clients see it (scheme, host, port).
    type: str
    required: true
  dicomweb_root:
    description: Path of the DICOMweb plugin below O(url).
    type: str
    default: /dicom-web/
  username:
    description: HTTP user.
    type: str
    required: true
  password:
    description: Password of O(username).
    type: str
    required: true
  validate_certs:
    description: Verify TLS certificates.
    type: bool
    default: true
  ca_pem:
    description:
      - PEM text of the CA(s) that verify an https O(url) (an HTTPS front door's CA from the
        inventory); without it the probe host's trust store is used.
    type: str
  server_name:
    description:
      - The name users use for an https O(url) whose host is an address: the TLS certificate
        must be valid for this name (sent as SNI too), and requests carry it in their Host
        header, as a client that resolved the name would.
    type: str
  timeout:
    description: Seconds per HTTP request.
    type: float
    default: 3
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
    description: Prefix of the PatientID; the final check looks for this run's study and stale leftovers with it.
    type: str
    default: PPSMOKE
  remote_servers:
    description: Orthanc's C(DicomWeb.Servers) entries to STOW the test study to.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name of the server in Orthanc.
        type: str
        required: true
      smoke_stow:
        description: Only servers with this set are sent the test study; others are skipped.
        type: bool
        default: false
"""

EXAMPLES = r"""
- name: DICOMweb roundtrip
  dicomweb_roundtrip:
    url: http://pacs1.example.org:8042
    username: admin
    password: "{{ vault_orthanc_admin_password }}"
    run_id: "20250101T120000Z"
    remote_servers: "{{ orthanc_dicomweb_servers }}"
  no_log: true
  register: dicomweb
"""

RETURN = r"""
results:
  description: One result per check (link, check, status, error, detail, duration).
  returned: always
  type: list
  elements: dict
failed_count:
  description: Number of results with status fail.
  returned: always
  type: int
study_uid:
  description: StudyInstanceUID of the synthetic study.
  returned: always
  type: str
patient_id:
  description: PatientID of the synthetic study.
  returned: always
  type: str
"""

import contextlib
import datetime
import io
import tempfile
import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.pacs_smoke_checks import (  # noqa: F401  build_instance is part of this module's API
    basic_auth, build_instance, count_failed, elapsed, host_header, make_session, new_result, run_concurrently,
    skipped_result, write_ca_file)

RUN_STAMP = "%Y%m%dT%H%M%SZ"  # how the role stamps run_id (then "-" and a host hash)
LEFTOVER_GRACE = 600  # seconds: test studies of runs this close may still be in use

IMPORT_ERROR = None
try:
    import requests
    from dicomweb_client.api import DICOMwebClient
    from pydicom.filereader import dcmread
except ImportError:  # pragma: no cover - reported through fail_json
    IMPORT_ERROR = traceback.format_exc()


class StepError(Exception):
    """A check failed with a message for the report."""


def http_error(response, what):
    """A StepError describing an unexpected HTTP answer."""
    text = response.text.strip().replace("\n", " ")[:200] if response.content else ""
    hint = {401: " (credentials refused)", 403: " (forbidden)", 404: " (not found)"}.get(response.status_code, "")
    return StepError("%s: HTTP %s%s %s" % (what, response.status_code, hint, text))


@contextlib.contextmanager
def dicomweb_call(what):
    """Turn dicomweb-client's HTTP errors (requests.HTTPError) into a StepError naming `what`."""
    try:
        yield
    except requests.HTTPError as exc:
        if exc.response is None:
            raise StepError("%s: %s" % (what, exc)) from None
        raise http_error(exc.response, what) from None


def study_uids(studies):
    """StudyInstanceUIDs in a QIDO-RS answer (DICOM JSON datasets)."""
    return [uid for study in studies for uid in study.get("0020000D", {}).get("Value", [])]


def make_client(root, session, timeout):
    """A dicomweb-client for Orthanc's DICOMweb root, sharing `session`, without retries.

    Retrying on 503/504 would hide a failing server behind minutes of back-off.
    """
    client = DICOMwebClient(url=root.rstrip("/"), session=session, timeout=timeout)
    client.set_http_retry_params(retry=False)
    return client


class Roundtrip:
    """The steps of the roundtrip, sharing one HTTP session."""

    def __init__(self, params, ca_file=None):
        self.params = params
        self.base = params["url"].rstrip("/")
        self.root = self.base + "/" + params["dicomweb_root"].strip("/") + "/"
        self.session = make_session(params, basic_auth(params["username"], params["password"]), ca_file)
        self.anonymous = make_session(params, None, ca_file)
        self.timeout = params["timeout"]
        self.client = make_client(self.root, self.session, self.timeout)
        self.patient_id = "%s-%s" % (params["patient_id_prefix"], params["run_id"])
        self.payload, self.uids, self.pixels = build_instance(params["patient_name"], self.patient_id)
        self.results = []

    def record(self, link, check, func, skip_reason=None):
        """Run func() as one check, append its result; returns True when it passed."""
        result = self.execute(link, check, func, skip_reason)
        self.results.append(result)
        return result["status"] == "pass"

    @staticmethod
    def execute(link, check, func, skip_reason=None):
        """Run func() as one check and return its result."""
        if skip_reason:
            return skipped_result(link, check, skip_reason)
        result = new_result(link, check)
        start = time.monotonic()
        try:
            detail = func()
            result["status"] = "pass"
            result["detail"] = detail or ""
        except StepError as exc:
            result["error"] = str(exc)
        except requests.RequestException as exc:
            result["error"] = "%s: %s" % (type(exc).__name__, exc)
        except Exception as exc:  # pylint: disable=broad-except
            result["error"] = "%s: %s" % (type(exc).__name__, exc)
        result["duration"] = elapsed(start)
        return result

    def get(self, url, **kwargs):
        return self.session.get(url, timeout=self.timeout, **kwargs)

    def step_http_auth(self):
        response = self.anonymous.get(self.base + "/system", timeout=self.timeout)
        if response.status_code != 401:
            raise StepError("GET /system without credentials answered HTTP %s, expected 401" % response.status_code)
        return "GET /system without credentials: HTTP 401"

    def step_stow(self):
        with dicomweb_call("STOW-RS"):
            answer = self.client.store_instances([dcmread(io.BytesIO(self.payload))])
        failed = answer.get("FailedSOPSequence")
        if failed:
            raise StepError("STOW-RS reported a failed instance: %s" % [
                (str(item.get("ReferencedSOPInstanceUID", "")), item.get("FailureReason")) for item in failed])
        if not answer.get("ReferencedSOPSequence"):
            raise StepError("STOW-RS answer lists no stored instance")
        return "stored study %s" % self.uids["study"]

    def step_qido(self):
        with dicomweb_call("QIDO-RS"):
            studies = self.client.search_for_studies(search_filters={"StudyInstanceUID": self.uids["study"]})
        found = [uid for uid in study_uids(studies) if uid == self.uids["study"]]
        if len(found) != 1:
            raise StepError("QIDO-RS found %d studies with StudyInstanceUID %s" % (len(found), self.uids["study"]))
        return "QIDO-RS found the study"

    def step_wado(self):
        with dicomweb_call("WADO-RS"):
            ds = self.client.retrieve_instance(self.uids["study"], self.uids["series"], self.uids["instance"])
        if ds.SOPInstanceUID != self.uids["instance"]:
            raise StepError("WADO-RS returned instance %s" % ds.SOPInstanceUID)
        if bytes(ds.PixelData) != self.pixels:
            raise StepError("WADO-RS pixel data differ from what was stored (%d bytes vs %d)" % (
                len(ds.PixelData), len(self.pixels)))
        return "WADO-RS pixel data identical (%d bytes)" % len(self.pixels)

    def orthanc_study_ids(self, study_uid):
        response = self.session.post(self.base + "/tools/lookup", data=study_uid, timeout=self.timeout)
        if response.status_code != 200:
            raise http_error(response, "/tools/lookup")
        return [item["ID"] for item in response.json() if item.get("Type") == "Study"]

    def leftover_study_ids(self):
        """Test studies left by earlier runs that crashed, never this run's own.

        Nodes that share one database run their smoke checks at the same time:
        a test study whose run started within LEFTOVER_GRACE of this one may be
        in use by such a run and is left alone; a later run removes it.
        """
        prefix = self.params["patient_id_prefix"] + "-"
        response = self.session.post(self.base + "/tools/find", timeout=self.timeout, json={
            "Level": "Study", "Expand": True,
            "Query": {"PatientName": self.params["patient_name"], "PatientID": prefix + "*"}})
        if response.status_code != 200:
            raise http_error(response, "/tools/find")
        stale = []
        for study in response.json():
            patient_id = (study.get("PatientMainDicomTags") or {}).get("PatientID", "")
            if patient_id != self.patient_id and not self.concurrent_run(patient_id[len(prefix):]):
                stale.append(study["ID"])
        return stale

    def concurrent_run(self, run_id):
        """True when `run_id` (stamp-host) started within LEFTOVER_GRACE of this run."""
        try:
            theirs = datetime.datetime.strptime(run_id.split("-")[0], RUN_STAMP)
            ours = datetime.datetime.strptime(self.params["run_id"].split("-")[0], RUN_STAMP)
        except ValueError:
            return False  # not a stamp this role writes: an old or foreign leftover
        return abs((theirs - ours).total_seconds()) < LEFTOVER_GRACE

    def stow_remote(self, name):
        ids = self.orthanc_study_ids(self.uids["study"])
        if not ids:
            raise StepError("the test study is not in Orthanc")
        response = self.session.post(
            "%s/dicom-web/servers/%s/stow" % (self.base, requests.utils.quote(name, safe="")),
            json={"Resources": ids, "Asynchronous": True}, timeout=self.timeout)
        if response.status_code != 200:
            raise http_error(response, "STOW to DICOMweb server %s" % name)
        job_id = response.json()["ID"]
        # Poll the job (the synchronous call hides the reason of a failure).
        deadline = time.monotonic() + self.timeout + 10
        while True:
            job = self.get(self.base + "/jobs/" + job_id).json()
            if job.get("State") == "Success":
                break
            if job.get("State") == "Failure":
                content = job.get("Content") or {}
                raise StepError("Orthanc's STOW to %s failed: %s" % (name, "; ".join(
                    str(x) for x in (content.get("FunctionErrorDescription") or job.get("ErrorDescription"),
                                     content.get("FunctionErrorDetails") or job.get("ErrorDetails")) if x)))
            if time.monotonic() > deadline:
                raise StepError("Orthanc's STOW job to %s did not finish in time (state %s)" % (name, job.get("State")))
            time.sleep(0.1)
        return "Orthanc sent the test study to %s" % name

    def step_cleanup(self):
        deleted = []
        for study_id in self.orthanc_study_ids(self.uids["study"]) + self.leftover_study_ids():
            if study_id in deleted:
                continue
            response = self.session.delete(self.base + "/studies/" + study_id, timeout=self.timeout)
            if response.status_code not in (200, 404):
                raise http_error(response, "DELETE /studies/%s" % study_id)
            deleted.append(study_id)
        remaining = self.orthanc_study_ids(self.uids["study"]) + self.leftover_study_ids()
        if remaining:
            raise StepError("test data still in Orthanc after cleanup: studies %s" % ", ".join(remaining))
        with dicomweb_call("QIDO-RS after cleanup"):
            left = self.client.search_for_studies(search_filters={"PatientID": self.patient_id})
        if left:
            raise StepError("QIDO-RS still lists test data for PatientID %s: studies %s" % (
                self.patient_id, ", ".join(study_uids(left))))
        return "deleted %d test stud%s; none left" % (len(deleted), "y" if len(deleted) == 1 else "ies")

    def remote_stows(self, why):
        """STOW the test study to every remote server concurrently (each takes ~0.5 s in Orthanc's job engine)."""
        def one(server):
            reason = why if server.get("smoke_stow") else "smoke_stow is false for this server"
            return self.execute(server["name"], "stow_remote", lambda: self.stow_remote(server["name"]), reason)
        return run_concurrently(self.params["remote_servers"], 8, one)

    def run(self):
        link = self.params["link"]
        self.record(link, "http_auth", self.step_http_auth)
        try:
            stored = self.record(link, "stow", self.step_stow)
            why = None if stored else "not run: STOW-RS failed"
            self.record(link, "qido", self.step_qido, why)
            self.record(link, "wado", self.step_wado, why)
            self.results.extend(self.remote_stows(why))
        finally:
            self.record(link, "cleanup", self.step_cleanup)
        return self.results


def skipped(params, reason):
    """Every check reported as skipped (check mode)."""
    checks = [(params["link"], c) for c in ("http_auth", "stow", "qido", "wado")]
    checks += [(s["name"], "stow_remote") for s in params["remote_servers"]]
    checks.append((params["link"], "cleanup"))
    return [skipped_result(link, check, reason) for link, check in checks]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            dicomweb_root=dict(type="str", default="/dicom-web/"),
            username=dict(type="str", required=True),
            password=dict(type="str", required=True, no_log=True),
            validate_certs=dict(type="bool", default=True),
            ca_pem=dict(type="str"),
            server_name=dict(type="str"),
            timeout=dict(type="float", default=3.0),
            run_id=dict(type="str", required=True),
            link=dict(type="str", default="DICOMweb"),
            patient_name=dict(type="str", default="PP^SMOKETEST"),
            patient_id_prefix=dict(type="str", default="PPSMOKE"),
            remote_servers=dict(type="list", elements="dict", default=[], options=dict(
                name=dict(type="str", required=True),
                smoke_stow=dict(type="bool", default=False),
            )),
        ),
        supports_check_mode=True,
    )
    if IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("pydicom, requests and dicomweb-client"), exception=IMPORT_ERROR)
    params = module.params
    if module.check_mode:
        module.exit_json(changed=False, results=skipped(params, "check mode: nothing sent"), failed_count=0,
                         study_uid="", patient_id="")
    with tempfile.TemporaryDirectory(prefix="pp-dicomweb-") as folder:
        trip = Roundtrip(params, write_ca_file(params["ca_pem"], folder) if params.get("ca_pem") else None)
        results = trip.run()
    # Test data was written and deleted again: report changed only if something is left.
    module.exit_json(changed=False, results=results, study_uid=trip.uids["study"], patient_id=trip.patient_id,
                     failed_count=count_failed(results))


if __name__ == "__main__":
    main()
