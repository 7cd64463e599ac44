#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: prove the XNAT DQR path with real DICOM (C-STORE into XNAT, DQR query, import)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: xnat_dqr_smoke
short_description: Prove that real DICOM reaches XNAT from Orthanc, and that XNAT's DQR finds and imports it
description:
  - Puts a synthetic test study (PatientName O(patient_name), PatientID
    O(patient_id_prefix)-O(run_id)) into Orthanc through its REST API, runs the checks
    below for every XNAT of O(xnats), then deletes the study from Orthanc again.
  - >-
    C(dqr_query) XNAT is asked to C-FIND Orthanc for the study
    (C(POST /xapi/dqr/query/studies)) and must list it. Read-only: runs for every XNAT.
  - C(xnat_store) Orthanc C-STOREs the study to the XNAT's receiver
    (C(POST /modalities/{name}/store), synchronous, no failed instance), the study must
    appear in XNAT's prearchive (C(GET /data/prearchive/projects?tag=<StudyInstanceUID>)),
    and is deleted there (C(POST /data/services/prearchive/delete), form field C(src)).
    A receiver that accepts the C-STORE but archives nothing fails this check.
  - >-
    C(dqr_import) XNAT imports the study (C(POST /xapi/dqr/import): XNAT asks Orthanc for a
    C-MOVE to its receiver); it must land in the prearchive of O(xnats[].project), and is
    deleted there.
  - C(xnat_store) and C(dqr_import) write into XNAT and run only where O(xnats[].write) is
    true; elsewhere they are reported as skipped.
  - C(cleanup) (link O(link)) the test study is deleted from Orthanc; runs even when a
    check failed.
  - The module never fails because a check failed. In check mode nothing is sent and
    every check is reported as skipped.
version_added: "1.1.0"
author: pacs-provisioner
requirements: [pydicom >= 2.0, requests]
options:
  url:
    description: Orthanc's HTTP base URL as the host running this module reaches it.
    type: str
    required: true
  username:
    description: Orthanc HTTP user.
    type: str
    required: true
  password:
    description: Password of O(username).
    type: str
    required: true
  validate_certs:
    description: Verify Orthanc's TLS certificate.
    type: bool
    default: true
  ca_pem:
    description: >-
      PEM text of the CA that verifies the certificate of Orthanc's HTTPS front door; without
      it the trust store of the host running this module.
    type: str
  server_name:
    description: >-
      The name users reach the front door at: the connection goes to O(url)'s address, the
      certificate is verified for this name, which is sent as SNI and in the Host header.
    type: str
  timeout:
    description: Seconds per plain HTTP request.
    type: float
    default: 3
  wait:
    description: >-
      Seconds to wait for a C-STORE, a query or an import to finish, and for the study to
      appear in (and leave) XNAT's prearchive.
    type: float
    default: 60
  run_id:
    description: Identifies this run; goes into PatientID.
    type: str
    required: true
  patient_name:
    description: PatientName of the synthetic study.
    type: str
    default: PP^SMOKETEST
  patient_id_prefix:
    description: Prefix of the PatientID.
    type: str
    default: PPSMOKE
  link:
    description: Link name of the cleanup result in the report.
    type: str
    default: XNAT DQR
  xnats:
    description: The XNATs to check (the pacs_smoke_xnat_plan filter makes this list).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name of the XNAT; also Orthanc's modality name of its receiver.
        type: str
        required: true
      url:
        description: XNAT base URL.
        type: str
        required: true
      username:
        description: XNAT user (a site administrator).
        type: str
        required: true
      password:
        description: Its password.
        type: str
        required: true
      validate_certs:
        description: Verify XNAT's TLS certificate.
        type: bool
        default: true
      pacs_label:
        description: Label of this Orthanc in XNAT's PACS list.
        type: str
        required: true
      pacs_aet:
        description: AE title of this Orthanc (finds the PACS entry when no label matches).
        type: str
        required: true
      pacs_port:
        description: DICOM port of this Orthanc.
        type: int
        required: true
      receiver_aet:
        description: AE title of the XNAT receiver.
        type: str
        required: true
      receiver_port:
        description: Port of the XNAT receiver.
        type: int
        required: true
      write:
        description: The smoke may write into this XNAT (C-STORE, import, prearchive delete).
        type: bool
        default: false
      project:
        description: XNAT project the import goes to; without it C(dqr_import) is skipped.
        type: str
        default: ""
"""

EXAMPLES = r"""
- name: XNAT DQR with real DICOM
  xnat_dqr_smoke:
    url: http://pacs1.example.org:8042
    username: admin
    password: "{{ vault_orthanc_admin_password }}"
    run_id: "20250101T120000Z-abcdef"
    xnats: "{{ __settings | pacs_smoke_xnat_plan }}"
  no_log: true
  register: xnat_smoke
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
"""

import tempfile
import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.pacs_smoke_checks import (
    StepError, basic_auth, build_instance, count_failed, http_error, make_session, run_concurrently, run_step,
    skipped_result, write_ca_file)

IMPORT_ERROR = None
try:
    import requests
except ImportError:  # pragma: no cover - reported through fail_json
    IMPORT_ERROR = traceback.format_exc()

CHECKS = ("dqr_query", "xnat_store", "dqr_import")
POLL = 0.5  # seconds between two looks at the prearchive


def prearchive_rows(answer):
    """The rows of an XNAT table answer {"ResultSet": {"Result": [...]}}."""
    try:
        rows = answer["ResultSet"]["Result"]
    except (KeyError, TypeError):
        raise StepError("XNAT's prearchive answer is not a ResultSet table: %r" % (answer,)[:200]) from None
    if not isinstance(rows, list):
        raise StepError("XNAT's prearchive ResultSet.Result is not a list")
    return rows


def is_deleting(row):
    """True for a prearchive session queued for or being deleted (QUEUED_DELETING, DELETING, _DELETING)."""
    return "DELETING" in str(row.get("status", ""))


def arrived(rows, study_uid, project=None, ignore=()):
    """The prearchive sessions of study_uid (in project, if given) not deleting and not in ignore."""
    return [r for r in rows if r.get("tag") == study_uid and not is_deleting(r)
            and r.get("url") not in ignore and (project is None or r.get("project") == project)]


def find_pacs(entries, label, aet, port):
    """Id of this Orthanc in XNAT's PACS list: by label, else by AE title and port."""
    by_label = [p for p in entries if label and p.get("label") == label]
    by_aet = [p for p in entries if p.get("aeTitle") == aet and int(p.get("queryRetrievePort") or 0) == int(port)]
    found = by_label or by_aet
    if len(found) != 1:
        raise StepError("XNAT lists %d PACS with label %s or AE %s:%s (expected 1)" % (len(found), label, aet, port))
    return found[0]["id"]


def failing(message):
    """A check function that fails with `message` (when the checks cannot start)."""
    def check():
        raise StepError(message)
    return check


def wait_for(condition, seconds, what):
    """Poll condition() until it returns something true, else StepError after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise StepError("%s within %gs" % (what, seconds))
        time.sleep(POLL)


class Xnat:
    """XNAT's REST API as the checks use it; one requests session (XNAT's JSESSIONID cookie is kept)."""

    def __init__(self, item, timeout, wait):
        self.item = item
        self.base = item["url"].rstrip("/")
        self.session = requests.Session()
        self.session.auth = (item["username"], item["password"])
        self.session.verify = item["validate_certs"]
        self.timeout = timeout
        self.wait = wait

    def call(self, method, path, what, long=False, **kwargs):
        """One request; a non-2xx answer raises StepError naming `what`."""
        response = self.session.request(method, self.base + path, timeout=self.wait if long else self.timeout,
                                        **kwargs)
        if not 200 <= response.status_code < 300:
            raise http_error(response, what)
        return response

    def pacs_id(self):
        entries = self.call("GET", "/xapi/pacs", "GET /xapi/pacs").json()
        return find_pacs(entries, self.item["pacs_label"], self.item["pacs_aet"], self.item["pacs_port"])

    def prearchive(self, study_uid):
        answer = self.call("GET", "/data/prearchive/projects", "GET /data/prearchive/projects",
                           params={"format": "json", "tag": study_uid}).json()
        return prearchive_rows(answer)

    def remove(self, row):
        """Delete one prearchive session and wait until XNAT no longer lists it."""
        self.call("POST", "/data/services/prearchive/delete", "prearchive delete of %s" % row["url"],
                  data={"src": row["url"]})
        wait_for(lambda: row["url"] not in [r.get("url") for r in self.prearchive(row["tag"])], self.wait,
                 "XNAT queued the deletion of %s but still lists it" % row["url"])

    def close(self):
        """End XNAT's web session (best effort) and the HTTP session."""
        try:
            self.session.delete(self.base + "/data/JSESSION", timeout=self.timeout)
        except requests.RequestException:
            pass
        self.session.close()


class XnatSmoke:
    """The test study in Orthanc and the checks of every XNAT."""

    def __init__(self, params, ca_file=None):
        self.params = params
        self.base = params["url"].rstrip("/")
        # Orthanc's REST API, through the HTTPS front door when there is one.
        self.orthanc = make_session(params, basic_auth(params["username"], params["password"]), ca_file)
        patient_id = "%s-%s" % (params["patient_id_prefix"], params["run_id"])
        self.payload, self.uids, _pixels = build_instance(params["patient_name"], patient_id)
        self.study_id = None
        self.setup_error = None

    # One check run: pass, fail or skipped (pacs_smoke_checks.run_step).
    execute = staticmethod(run_step)

    def put_study(self):
        """Upload the synthetic instance through Orthanc's REST API; remembers its Orthanc study id."""
        response = self.orthanc.post(self.base + "/instances", data=self.payload, timeout=self.params["timeout"])
        if response.status_code != 200:
            raise http_error(response, "POST /instances (the test study)")
        self.study_id = response.json()["ParentStudy"]

    def orthanc_store(self, name):
        """Orthanc's synchronous C-STORE of the test study to modality `name`; returns its answer."""
        response = self.orthanc.post(
            "%s/modalities/%s/store" % (self.base, requests.utils.quote(name, safe="")),
            json={"Resources": [self.study_id], "Synchronous": True}, timeout=self.params["wait"])
        if response.status_code != 200:
            raise http_error(response, "Orthanc's C-STORE to %s" % name)
        answer = response.json()
        if int(answer.get("FailedInstancesCount", 0)) != 0 or int(answer.get("InstancesCount", 0)) < 1:
            raise StepError("Orthanc's C-STORE to %s: %s of %s instances failed" % (
                name, answer.get("FailedInstancesCount"), answer.get("InstancesCount")))
        return answer

    def check_query(self, xnat, pacs_id):
        response = xnat.call("POST", "/xapi/dqr/query/studies", "DQR query", long=True,
                             json={"pacsId": pacs_id, "studyInstanceUid": self.uids["study"]})
        if response.status_code == 204:
            raise StepError("XNAT's C-FIND of the PACS (id %s) did not find the test study %s" % (
                pacs_id, self.uids["study"]))
        found = [s for s in response.json() if s.get("studyInstanceUid") == self.uids["study"]]
        if len(found) != 1:
            raise StepError("XNAT's DQR query listed %d studies with the test study's UID" % len(found))
        return "XNAT's C-FIND found the test study"

    def check_store(self, xnat, seen):
        item = xnat.item
        answer = self.orthanc_store(item["name"])
        receiver = "%s:%s" % (item["receiver_aet"], item["receiver_port"])
        rows = wait_for(lambda: arrived(xnat.prearchive(self.uids["study"]), self.uids["study"]), self.params["wait"],
                        "XNAT's receiver %s accepted the C-STORE (%s instance(s), 0 failed) but the study did "
                        "not appear in XNAT's prearchive" % (receiver, answer.get("InstancesCount")))
        for row in rows:
            seen.add(row["url"])
            xnat.remove(row)
        return "C-STORE to %s: in XNAT's prearchive as %s (status %s), deleted again" % (
            receiver, rows[0]["url"], rows[0].get("status"))

    def check_import(self, xnat, pacs_id, seen):
        item = xnat.item
        xnat.call("POST", "/xapi/dqr/import", "DQR import", long=True, json={
            "pacsId": pacs_id, "aeTitle": item["receiver_aet"], "port": item["receiver_port"],
            "projectId": item["project"], "studies": [{"studyInstanceUid": self.uids["study"]}]})
        rows = wait_for(lambda: arrived(xnat.prearchive(self.uids["study"]), self.uids["study"], item["project"], seen),
                        self.params["wait"], "XNAT queued the import but the study did not appear in the "
                        "prearchive of project %s" % item["project"])
        for row in rows:
            xnat.remove(row)
        return "imported into project %s (%s), deleted again" % (item["project"], rows[0]["url"])

    def one_xnat(self, item):
        """The three checks of one XNAT, in order: query, C-STORE, import."""
        name = item["name"]
        read_only = "read-only: the smoke does not write into this XNAT (xnat_dqr_servers[%s].smoke_write)" % name
        if self.setup_error:
            return [self.execute(name, check, failing(self.setup_error)) for check in CHECKS]
        xnat = Xnat(item, self.params["timeout"], self.params["wait"])
        seen = set()
        try:
            pacs = {}

            def query():
                pacs["id"] = xnat.pacs_id()
                return self.check_query(xnat, pacs["id"])

            results = [self.execute(name, "dqr_query", query)]
            results.append(self.execute(name, "xnat_store", lambda: self.check_store(xnat, seen),
                                        None if item["write"] else read_only))
            no_import = None if item["write"] else read_only
            if not no_import and not item["project"]:
                no_import = "no XNAT project to import into (xnat_dqr_servers[%s].smoke_project)" % name
            if not no_import and "id" not in pacs:
                no_import = "not run: this Orthanc was not found in XNAT's PACS list"
            results.append(self.execute(name, "dqr_import", lambda: self.check_import(xnat, pacs["id"], seen),
                                        no_import))
            return results
        finally:
            xnat.close()

    def step_cleanup(self):
        if self.study_id is None:
            return "no test study was stored"
        response = self.orthanc.delete(self.base + "/studies/" + self.study_id, timeout=self.params["timeout"])
        if response.status_code not in (200, 404):
            raise http_error(response, "DELETE /studies/%s" % self.study_id)
        left = self.orthanc.post(self.base + "/tools/lookup", data=self.uids["study"], timeout=self.params["timeout"])
        if left.status_code != 200 or left.json():
            raise StepError("the test study is still in Orthanc after cleanup (lookup: HTTP %s)" % left.status_code)
        return "test study deleted from Orthanc"

    def run(self):
        results = []
        try:
            try:
                self.put_study()
            except (StepError, requests.RequestException) as exc:
                self.setup_error = "could not put the test study into Orthanc: %s" % exc
            for group in run_concurrently(self.params["xnats"], 4, self.one_xnat):
                results.extend(group)
        finally:
            results.append(self.execute(self.params["link"], "cleanup", self.step_cleanup))
        return results


def skipped(params, reason):
    """Every check reported as skipped (check mode)."""
    results = [skipped_result(x["name"], check, reason) for x in params["xnats"] for check in CHECKS]
    return results + [skipped_result(params["link"], "cleanup", reason)]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            username=dict(type="str", required=True),
            password=dict(type="str", required=True, no_log=True),
            validate_certs=dict(type="bool", default=True),
            ca_pem=dict(type="str"),
            server_name=dict(type="str"),
            timeout=dict(type="float", default=3.0),
            wait=dict(type="float", default=60.0),
            run_id=dict(type="str", required=True),
            patient_name=dict(type="str", default="PP^SMOKETEST"),
            patient_id_prefix=dict(type="str", default="PPSMOKE"),
            link=dict(type="str", default="XNAT DQR"),
            xnats=dict(type="list", elements="dict", default=[], options=dict(
                name=dict(type="str", required=True),
                url=dict(type="str", required=True),
                username=dict(type="str", required=True),
                password=dict(type="str", required=True, no_log=True),
                validate_certs=dict(type="bool", default=True),
                pacs_label=dict(type="str", required=True),
                pacs_aet=dict(type="str", required=True),
                pacs_port=dict(type="int", required=True),
                receiver_aet=dict(type="str", required=True),
                receiver_port=dict(type="int", required=True),
                write=dict(type="bool", default=False),
                project=dict(type="str", default=""),
            )),
        ),
        supports_check_mode=True,
    )
    if IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("requests (and pydicom)"), exception=IMPORT_ERROR)
    params = module.params
    if module.check_mode:
        module.exit_json(changed=False, results=skipped(params, "check mode: nothing sent"), failed_count=0,
                         study_uid="")
    with tempfile.TemporaryDirectory(prefix="pp-xnat-smoke-") as folder:
        smoke = XnatSmoke(params, write_ca_file(params["ca_pem"], folder) if params.get("ca_pem") else None)
        results = smoke.run()
    # Test data was written and deleted again: nothing changed.
    module.exit_json(changed=False, results=results, study_uid=smoke.uids["study"], failed_count=count_failed(results))


if __name__ == "__main__":
    main()
