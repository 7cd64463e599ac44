# -*- coding: utf-8 -*-
"""The DICOMweb checks of the pacs_smoke role: HTTP authentication, then a STOW-RS /
QIDO-RS / WADO-RS roundtrip of a synthetic test instance, Orthanc's STOW to its DICOMweb
servers, and the cleanup that leaves no test data (also when a step failed).

Imported by modules as ``from ansible.module_utils.pacs_smoke_dicomweb import ...``.
Options of the roundtrip (DICOMWEB_SPEC) live here with the code that reads them.
requests, dicomweb-client and pydicom are imported here; IMPORT_ERROR says why when they
are missing (the module reports it through fail_json).
"""

from __future__ import annotations

import contextlib
import datetime
import io
import tempfile
import time
import traceback

from ansible.module_utils.pacs_smoke_checks import (
    StepError, basic_auth, build_instance, http_error, make_session, run_concurrently, run_step, skipped_result,
    write_ca_file)

RUN_STAMP = "%Y%m%dT%H%M%SZ"  # how the role stamps run_id (then "-" and a host hash)
LEFTOVER_GRACE = 600  # seconds: test studies of runs this close may still be in use

IMPORT_ERROR = None
try:
    import requests
    from dicomweb_client.api import DICOMwebClient
    from pydicom.filereader import dcmread
except ImportError:  # pragma: no cover - reported through fail_json
    IMPORT_ERROR = traceback.format_exc()


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

    # One check run: pass, fail or skipped (pacs_smoke_checks.run_step).
    execute = staticmethod(run_step)

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
    """Every check of the roundtrip reported as skipped (check mode, or the phase not run)."""
    checks = [(params["link"], c) for c in ("http_auth", "stow", "qido", "wado")]
    checks += [(s["name"], "stow_remote") for s in params["remote_servers"]]
    checks.append((params["link"], "cleanup"))
    return [skipped_result(link, check, reason) for link, check in checks]


def run_roundtrip(params):
    """Run the whole roundtrip with `params` (DICOMWEB_SPEC plus timeout) and return the
    finished Roundtrip (its results, uids and patient_id). An inventory CA given as PEM text
    (ca_pem) is written to a temporary file for requests and removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="pp-dicomweb-") as folder:
        trip = Roundtrip(params, write_ca_file(params["ca_pem"], folder) if params.get("ca_pem") else None)
        trip.run()
    return trip


# The options of the roundtrip (the password is no_log).
DICOMWEB_SPEC = dict(
    url=dict(type="str", required=True),
    dicomweb_root=dict(type="str", default="/dicom-web/"),
    username=dict(type="str", required=True),
    password=dict(type="str", required=True, no_log=True),
    validate_certs=dict(type="bool", default=True),
    ca_pem=dict(type="str"),
    server_name=dict(type="str"),
    run_id=dict(type="str", required=True),
    link=dict(type="str", default="DICOMweb"),
    patient_name=dict(type="str", default="PP^SMOKETEST"),
    patient_id_prefix=dict(type="str", default="PPSMOKE"),
    remote_servers=dict(type="list", elements="dict", default=[], options=dict(
        name=dict(type="str", required=True),
        smoke_stow=dict(type="bool", default=False),
    )),
)
