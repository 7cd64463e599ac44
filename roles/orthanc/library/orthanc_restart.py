#!/usr/bin/python
"""Restart Orthanc and wait until its HTTP server answers (with its AE title, when given one)."""

from __future__ import annotations

import base64
import grp
import json
import ssl
import subprocess
import time
import urllib.error
import urllib.request

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.orthanc_files import write_file

DOCUMENTATION = r"""
module: orthanc_restart
short_description: Restart Orthanc and wait until its HTTP server answers
description:
  - Restarts Orthanc (the systemd unit after C(systemctl reset-failed), or the Docker
    container), then waits until its HTTP server answers O(url) at all; any HTTP status,
    401 included, counts.
  - With O(aet), it waits until O(url) (Orthanc's C(/system)) answers HTTP 200 with that
    C(DicomAet), asked with O(url_username) and O(url_password), so Orthanc is healthy on the
    configuration just rendered (the role's health check, in the same module run).
  - >-
    One task does both, so that C(throttle: 1) rolls restarts through a group of nodes: the
    next node is touched only when this one serves again.
  - With O(enable), the systemd unit is enabled too (before the restart), so that a first
    install, on which the packages start nothing, needs no other task to enable and start it.
  - A failing C(systemctl reset-failed) is ignored (nothing to reset); any other failing
    command fails the module, as does no answer within O(timeout) seconds.
  - In check mode nothing is restarted and the module reports a change.
options:
  manager:
    description: What runs Orthanc.
    type: str
    choices: [systemd, docker]
    required: true
  name:
    description: The systemd unit or the Docker container.
    type: str
    required: true
  url:
    description: The URL to wait for, e.g. http://127.0.0.1:8042/system (TLS is not verified).
    type: str
    required: true
  timeout:
    description: Seconds to wait for an answer after the restart.
    type: float
    default: 60
  enable:
    description: Enable the systemd unit (C(systemctl enable)) before the restart; ignored with C(docker).
    type: bool
    default: false
  aet:
    description: The AE title C(/system) must answer with (none, any answer will do).
    type: str
  url_username:
    description: The HTTP user O(aet) is asked with (basic authentication).
    type: str
  url_password:
    description: Its password.
    type: str
  keep_good:
    description:
      - Once Orthanc answers (with O(aet), when given), copy the configuration it was restarted on
        (C(src)) to C(dest), owned by root and group C(group), mode 0640, replaced atomically. That
        is the last good configuration, which a later failed restart rolls back to. The role's own
        copy task then has nothing to do (one module run fewer). Not copied when Orthanc never answers.
    type: dict
    suboptions:
      src:
        description: The configuration Orthanc was restarted on.
        type: path
        required: true
      dest:
        description: The last good copy.
        type: path
        required: true
      group:
        description: The group that may read it (Orthanc's).
        type: str
        required: true
author: pacs-provisioner
"""

EXAMPLES = r"""
- name: Restart Orthanc and wait until it answers HTTP (one host at a time)
  orthanc_restart:
    manager: systemd
    name: orthanc
    url: http://127.0.0.1:8042/system
    timeout: 60
    enable: true
    aet: ORTHANC
    url_username: admin
    url_password: "{{ vault_orthanc_admin_password }}"
    keep_good: {src: /etc/orthanc/orthanc.json, dest: /etc/orthanc/orthanc.json.last-good, group: orthanc}
  throttle: 1
"""

RETURN = r"""
commands:
  description: The commands run (would be run, in check mode), in order.
  type: list
  elements: list
  returned: always
  sample: [[systemctl, reset-failed, orthanc], [systemctl, restart, orthanc]]
waited:
  description: Seconds from the end of the restart until the first HTTP answer.
  type: float
  returned: success
kept:
  description: The last good copy written (O(keep_good)'s C(dest)).
  type: str
  returned: success, with O(keep_good)
"""


def restart_commands(manager: str, name: str, enable: bool = False) -> list[list[str]]:
    """The commands that (enable and) restart Orthanc, in order."""
    if manager == "docker":
        return [["docker", "restart", name]]
    if manager == "systemd":
        return ([["systemctl", "reset-failed", name]] + ([["systemctl", "enable", name]] if enable else [])
                + [["systemctl", "restart", name]])
    raise ValueError("unknown manager %r (systemd or docker)" % (manager,))


def may_fail(argv: list[str]) -> bool:
    """Whether a failing command is no failure: `systemctl reset-failed` with nothing to reset."""
    return argv[:2] == ["systemctl", "reset-failed"]


def run_commands(commands: list[list[str]], runner=subprocess.run) -> str | None:
    """Run the commands in order; None, or the message naming the first that fails (may_fail aside)."""
    for argv in commands:
        proc = runner(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0 and not may_fail(argv):
            return "`%s` failed (rc %d): %s" % (" ".join(argv), proc.returncode,
                                                (proc.stderr or proc.stdout).strip() or "no output")
    return None


def ask_aet(url: str, username: str | None = None, password: str | None = None,
            timeout: float = 2.0) -> tuple[int | None, str | None]:
    """(HTTP status, DicomAet of a JSON answer) of GET url; (None, None) when nothing answers."""
    request = urllib.request.Request(url)
    if username is not None:
        token = base64.b64encode(("%s:%s" % (username, password or "")).encode("utf-8")).decode("ascii")
        request.add_header("Authorization", "Basic " + token)
    context = ssl._create_unverified_context()  # pylint: disable=protected-access  # loopback, any certificate
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as answer:  # noqa: S310  # nosec
            body = answer.read()
            status = answer.status
    except urllib.error.HTTPError as err:
        return err.code, None
    except (OSError, ValueError):  # refused, reset, timed out, TLS handshake cut short
        return None, None
    try:
        aet = json.loads(body).get("DicomAet")
    except (ValueError, AttributeError):
        aet = None
    return status, aet if isinstance(aet, str) else None


def answers(url: str, timeout: float = 2.0) -> bool:
    """Whether an HTTP server answers url at all (any status, 401 included; TLS unverified)."""
    return ask_aet(url, timeout=timeout)[0] is not None


def wait_message(url: str, timeout: float, aet: str | None = None, last: tuple | None = None) -> str:
    """The failure message when Orthanc never answered (with aet, when one is expected)."""
    if aet is None:
        return "Orthanc did not answer %s within %s s after the restart" % (url, timeout)
    status, seen = last or (None, None)
    return "Orthanc did not answer %s with AE title %s within %s s after the restart (last answer: %s, AE %s)" % (
        url, aet, timeout, "HTTP %d" % status if status else "none", seen or "none")


def wait_for_answer(url: str, timeout: float, probe=answers, clock=time.monotonic, sleep=time.sleep) -> float | None:
    """Probe url every half second until it answers: the seconds waited, or None at the deadline."""
    start = clock()
    deadline = start + timeout
    while clock() < deadline:
        if probe(url):
            return round(clock() - start, 1)
        sleep(0.5)
    return None


def keep_good(src: str, dest: str, gid: int) -> None:
    """Copy src to dest (root, gid, mode 0640), replaced atomically (the role's write_file)."""
    with open(src, encoding="utf-8", errors="surrogateescape") as handle:
        text = handle.read()
    write_file(dest, text, gid, 0o640)


def main():
    """Entry point of the module."""
    module = AnsibleModule(
        argument_spec={
            "manager": {"type": "str", "choices": ["systemd", "docker"], "required": True},
            "name": {"type": "str", "required": True},
            "url": {"type": "str", "required": True},
            "timeout": {"type": "float", "default": 60},
            "enable": {"type": "bool", "default": False},
            "aet": {"type": "str"},
            "url_username": {"type": "str"},
            "url_password": {"type": "str", "no_log": True},
            "keep_good": {"type": "dict", "options": {
                "src": {"type": "path", "required": True},
                "dest": {"type": "path", "required": True},
                "group": {"type": "str", "required": True},
            }},
        },
        supports_check_mode=True,
    )
    params = module.params
    commands = restart_commands(params["manager"], params["name"], params["enable"])
    if module.check_mode:
        module.exit_json(changed=True, commands=commands)
    failure = run_commands(commands)
    if failure:
        module.fail_json(msg=failure, commands=commands)
    last: list[tuple] = []
    probe = answers
    if params["aet"] is not None:
        def probe(url):
            last[:] = [ask_aet(url, params["url_username"], params["url_password"])]
            return last[0] == (200, params["aet"])
    waited = wait_for_answer(params["url"], params["timeout"], probe=probe)
    if waited is None:
        module.fail_json(msg=wait_message(params["url"], params["timeout"], params["aet"], (last or [None])[0]),
                         commands=commands)
    good = params["keep_good"]
    if good is None:
        module.exit_json(changed=True, commands=commands, waited=waited)
    try:
        keep_good(good["src"], good["dest"], grp.getgrnam(good["group"]).gr_gid)
    except (OSError, KeyError) as err:
        module.fail_json(msg="Orthanc answers, but the last good copy %s could not be written: %s" % (good["dest"], err),
                         commands=commands, waited=waited)
    module.exit_json(changed=True, commands=commands, waited=waited, kept=good["dest"])


if __name__ == "__main__":
    main()
