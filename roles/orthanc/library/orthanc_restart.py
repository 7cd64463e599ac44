#!/usr/bin/python
"""Restart Orthanc and wait until its HTTP server answers."""

from __future__ import annotations

import ssl
import subprocess
import time
import urllib.error
import urllib.request

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: orthanc_restart
short_description: Restart Orthanc and wait until its HTTP server answers
description:
  - Restarts Orthanc (the systemd unit after C(systemctl reset-failed), or the Docker
    container), then waits until its HTTP server answers O(url) at all; any HTTP status,
    401 included, counts. Whether Orthanc is healthy (its AE title) is the role's next check.
  - >-
    One task does both, so that C(throttle: 1) rolls restarts through a group of nodes: the
    next node is touched only when this one serves again.
  - A failing C(systemctl reset-failed) is ignored (nothing to reset); a failing restart
    fails the module, as does no answer within O(timeout) seconds.
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
author: pacs-provisioner
"""

EXAMPLES = r"""
- name: Restart Orthanc and wait until it answers HTTP (one host at a time)
  orthanc_restart:
    manager: systemd
    name: orthanc
    url: http://127.0.0.1:8042/system
    timeout: 60
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
"""


def restart_commands(manager: str, name: str) -> list[list[str]]:
    """The commands that restart Orthanc; only the last one must succeed."""
    if manager == "docker":
        return [["docker", "restart", name]]
    if manager == "systemd":
        return [["systemctl", "reset-failed", name], ["systemctl", "restart", name]]
    raise ValueError("unknown manager %r (systemd or docker)" % (manager,))


def run_commands(commands: list[list[str]], runner=subprocess.run) -> str | None:
    """Run the commands in order; None, or the message naming the last one when it fails."""
    for index, argv in enumerate(commands):
        proc = runner(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0 and index == len(commands) - 1:
            return "`%s` failed (rc %d): %s" % (" ".join(argv), proc.returncode,
                                                (proc.stderr or proc.stdout).strip() or "no output")
    return None


def answers(url: str, timeout: float = 2.0) -> bool:
    """Whether an HTTP server answers url at all (any status, 401 included; TLS unverified)."""
    context = ssl._create_unverified_context()  # pylint: disable=protected-access  # loopback, any certificate
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context):  # noqa: S310  # nosec
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):  # refused, reset, timed out, TLS handshake cut short
        return False


def wait_message(url: str, timeout: float) -> str:
    """The failure message when Orthanc never answered."""
    return "Orthanc did not answer %s within %s s after the restart" % (url, timeout)


def wait_for_answer(url: str, timeout: float, probe=answers, clock=time.monotonic, sleep=time.sleep) -> float | None:
    """Probe url every half second until it answers: the seconds waited, or None at the deadline."""
    start = clock()
    deadline = start + timeout
    while clock() < deadline:
        if probe(url):
            return round(clock() - start, 1)
        sleep(0.5)
    return None


def main():
    """Entry point of the module."""
    module = AnsibleModule(
        argument_spec={
            "manager": {"type": "str", "choices": ["systemd", "docker"], "required": True},
            "name": {"type": "str", "required": True},
            "url": {"type": "str", "required": True},
            "timeout": {"type": "float", "default": 60},
        },
        supports_check_mode=True,
    )
    params = module.params
    commands = restart_commands(params["manager"], params["name"])
    if module.check_mode:
        module.exit_json(changed=True, commands=commands)
    failure = run_commands(commands)
    if failure:
        module.fail_json(msg=failure, commands=commands)
    waited = wait_for_answer(params["url"], params["timeout"])
    if waited is None:
        module.fail_json(msg=wait_message(params["url"], params["timeout"]), commands=commands)
    module.exit_json(changed=True, commands=commands, waited=waited)


if __name__ == "__main__":
    main()
