#!/usr/bin/python
"""Commit-confirm's first half in one module run: the rollback script, its timer, then the change."""

from __future__ import annotations

import os
import subprocess

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pacs_firewall_write import write_checked

DOCUMENTATION = r"""
module: pacs_firewall_apply
short_description: Install the rollback script, schedule it, then apply the new firewall rules
description:
  - The first half of the role's commit-confirm, in one module run. A C(template) task did the
    rollback script (one to three round trips over SSH) and a C(command) task with a shell
    program the rest.
  - Writes O(rollback_script) to O(rollback_path) (root, mode 0700, replaced atomically). It holds
    the rules from before the change (the caller renders it).
  - Stops a rollback timer or unit left over from an interrupted run (systemd-run refuses a unit
    name in use; one that does not exist is no error) and removes the mark a rollback leaves
    (C(rolled-back) in O(state_dir)).
  - Schedules the rollback with C(systemd-run --on-active=)O(rollback_timeout) (unit
    C(pacs-firewall-rollback)); only when that worked, runs O(apply). The timer counts from the
    scheduling; the role's confirmation (action plugin C(pacs_firewall_confirm)) stops it.
  - A failing step fails the module naming the command and its output; the steps after it do
    not run (no apply without a scheduled rollback).
  - In check mode nothing is done and a change is reported.
options:
  rollback_script:
    description: The rollback script's text.
    type: str
    required: true
  rollback_path:
    description: Where the rollback script goes.
    type: path
    default: /usr/local/sbin/pacs-firewall-rollback
  rollback_timeout:
    description: Seconds after which the rollback runs unless the run confirms.
    type: int
    required: true
  state_dir:
    description: The role's state folder, where a rollback leaves C(rolled-back).
    type: path
    required: true
  apply:
    description: The command that applies the new rules (argv, no shell).
    type: list
    elements: str
    required: true
author: pacs-provisioner
"""

EXAMPLES = r"""
- name: Schedule the rollback, then apply the new rules
  pacs_firewall_apply:
    rollback_script: "{{ lookup('ansible.builtin.template', 'pacs-firewall-rollback.sh.j2') }}"
    rollback_timeout: 60
    state_dir: /var/lib/pacs-firewall
    apply: [firewall-cmd, --reload]
"""

RETURN = r"""
commands:
  description: The commands run (would be run, in check mode), in order; the first two may fail harmlessly.
  type: list
  elements: list
  returned: always
"""

UNIT = "pacs-firewall-rollback"


def commands(rollback_path: str, rollback_timeout: int, apply: list[str]) -> list[list[str]]:
    """The commands after the script is written: stop leftovers, schedule the rollback, apply."""
    return [["systemctl", "stop", UNIT + ".timer"], ["systemctl", "stop", UNIT + ".service"],
            ["systemd-run", "--quiet", "--unit=" + UNIT, "--collect", "--on-active=%ds" % rollback_timeout,
             rollback_path], list(apply)]


def may_fail(argv: list[str]) -> bool:
    """Whether a failing command is no failure: stopping a rollback timer or unit that does not exist."""
    return argv[:2] == ["systemctl", "stop"]


def run_commands(argv_list: list[list[str]], runner=subprocess.run) -> str | None:
    """Run in order; None, or the message naming the first that fails (may_fail aside): the rest do not run."""
    for argv in argv_list:
        proc = runner(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0 and not may_fail(argv):
            return "`%s` failed (rc %d): %s" % (" ".join(argv), proc.returncode,
                                                (proc.stderr or proc.stdout).strip() or "no output")
    return None


def main():
    """Entry point of the module."""
    module = AnsibleModule(
        argument_spec={
            "rollback_script": {"type": "str", "required": True},
            "rollback_path": {"type": "path", "default": "/usr/local/sbin/pacs-firewall-rollback"},
            "rollback_timeout": {"type": "int", "required": True},
            "state_dir": {"type": "path", "required": True},
            "apply": {"type": "list", "elements": "str", "required": True},
        },
        supports_check_mode=True,
    )
    params = module.params
    steps = commands(params["rollback_path"], params["rollback_timeout"], params["apply"])
    if module.check_mode:
        module.exit_json(changed=True, commands=steps)
    try:
        # The role's writer: root's, replaced atomically, as pacs_firewall_files writes its files.
        write_checked(module, {"path": params["rollback_path"], "content": params["rollback_script"]}, 0o700)
        mark = os.path.join(params["state_dir"], "rolled-back")
        if os.path.lexists(mark):
            os.remove(mark)
    except OSError as err:
        module.fail_json(msg="the rollback script %s could not be put in place: %s" % (params["rollback_path"], err),
                         commands=[])
    failure = run_commands(steps)
    if failure:
        module.fail_json(msg=failure, commands=steps)
    module.exit_json(changed=True, commands=steps)


if __name__ == "__main__":
    main()
