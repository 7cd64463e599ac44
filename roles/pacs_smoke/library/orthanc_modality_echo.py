#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: outbound C-ECHO from Orthanc to a list of modalities via its REST API."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: orthanc_modality_echo
short_description: Ask Orthanc to C-ECHO a list of its configured modalities
description:
  - Calls C(POST /modalities/{name}/echo) on Orthanc's REST API for every check,
    concurrently, so the proof is Orthanc's own outbound association (its AE
    title, its network path, its C(DicomModalities) entry).
  - Meant to run on the Orthanc host against 127.0.0.1, so it does not depend on
    the HTTP port being reachable from elsewhere; needs only the Python standard
    library and Ansible's module_utils.
  - A modality with C(expected_offline=true) that does not answer is reported as
    skipped, not failed.
  - The module never fails because a check failed. In check mode every check is
    reported as skipped.
version_added: "1.0.0"
author: pacs-provisioner
options:
  url:
    description: Orthanc's REST API base URL.
    type: str
    default: http://127.0.0.1:8042
  username:
    description: HTTP user (an entry of C(RegisteredUsers)).
    type: str
  password:
    description: Password of O(username).
    type: str
  validate_certs:
    description: Verify the TLS certificate when O(url) is https.
    type: bool
    default: true
  timeout:
    description: Seconds Orthanc waits for each modality; the HTTP request waits this plus 5 s.
    type: float
    default: 3
  max_workers:
    description: How many echoes run at the same time.
    type: int
    default: 8
  checks:
    description: The modalities to echo.
    type: list
    elements: dict
    required: true
    suboptions:
      link:
        description: Name of the link shown in the report (default the modality name).
        type: str
      check:
        description: Name of the check shown in the report.
        type: str
        default: echo_out
      modality:
        description: Symbolic name of the modality in Orthanc's C(DicomModalities).
        type: str
        required: true
      expected_offline:
        description: Report skipped instead of failed when the modality does not answer.
        type: bool
        default: false
"""

EXAMPLES = r"""
- name: Outbound C-ECHO from Orthanc to each modality
  orthanc_modality_echo:
    url: http://127.0.0.1:8042
    username: admin
    password: "{{ vault_orthanc_admin_password }}"
    checks:
      - {modality: CT_ROOM1}
      - {modality: MR_OLD, expected_offline: true}
  no_log: true
  register: outbound
"""

RETURN = r"""
results:
  description: One result per check, in the order given (link, check, status, error, detail, duration).
  returned: always
  type: list
  elements: dict
failed_count:
  description: Number of results with status fail.
  returned: always
  type: int
"""

import json
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pacs_smoke_checks import count_failed, elapsed, new_result, run_concurrently, skipped_result
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import quote
from ansible.module_utils.urls import open_url


def orthanc_error(body):
    """The most useful text of an Orthanc error body (JSON with Details/Message)."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:300]
    if isinstance(data, dict):
        return str(data.get("Details") or data.get("Message") or data)
    return str(data)


def echo_one(params, check):
    """POST /modalities/{name}/echo and map the answer to a result dict."""
    name = check["modality"]
    result = new_result(check.get("link") or name, check.get("check") or "echo_out")
    url = "%s/modalities/%s/echo" % (params["url"].rstrip("/"), quote(name, safe=""))
    start = time.monotonic()
    offline = False
    try:
        response = open_url(
            url, method="POST", data=json.dumps({"Timeout": int(max(1, round(params["timeout"])))}),
            headers={"Content-Type": "application/json"},
            url_username=params["username"], url_password=params["password"],
            force_basic_auth=params["username"] is not None,
            validate_certs=params["validate_certs"], timeout=params["timeout"] + 5)
        response.read()
        result["status"] = "pass"
        result["detail"] = "Orthanc C-ECHO to %s answered" % name
    except HTTPError as exc:
        body = exc.read().decode("utf-8", "replace") if hasattr(exc, "read") else ""
        if exc.code == 401:
            result["error"] = "HTTP 401 from Orthanc's REST API: the smoke credentials are refused"
        elif exc.code == 404:
            result["error"] = "HTTP 404: Orthanc has no modality named %s (%s)" % (name, orthanc_error(body))
        else:
            offline = True
            result["error"] = "HTTP %s: %s" % (exc.code, orthanc_error(body))
    except (URLError, OSError) as exc:
        result["error"] = "Orthanc's REST API at %s is not reachable: %s" % (
            params["url"], getattr(exc, "reason", exc))
    if offline and check.get("expected_offline"):
        result["status"] = "skipped"
        result["error"] = "offline (expected_offline: true): " + result["error"]
    result["duration"] = elapsed(start)
    return result


def run_checks(params):
    """Echo every modality concurrently, keeping the order of the checks."""
    return run_concurrently(params["checks"], params["max_workers"], lambda c: echo_one(params, c))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", default="http://127.0.0.1:8042"),
            username=dict(type="str"),
            password=dict(type="str", no_log=True),
            validate_certs=dict(type="bool", default=True),
            timeout=dict(type="float", default=3.0),
            max_workers=dict(type="int", default=8),
            checks=dict(type="list", elements="dict", required=True, options=dict(
                link=dict(type="str"),
                check=dict(type="str", default="echo_out"),
                modality=dict(type="str", required=True),
                expected_offline=dict(type="bool", default=False),
            )),
        ),
        required_together=[["username", "password"]],
        supports_check_mode=True,
    )
    if module.check_mode:
        results = [skipped_result(c.get("link") or c["modality"], c.get("check") or "echo_out",
                                  "check mode: nothing sent") for c in module.params["checks"]]
    else:
        results = run_checks(module.params)
    module.exit_json(changed=False, results=results, failed_count=count_failed(results))


if __name__ == "__main__":
    main()
