# -*- coding: utf-8 -*-
"""Action plugin pacs_firewall_confirm: the last step of commit-confirm in one round trip.

It proves that the controller still reaches the host through the new rules over a new
connection, and cancels the rollback timer with the command sent over it: what
ansible.builtin.wait_for_connection (a new connection and a ping module run) and a command
task (a second module run) did. The command is sent as a plain command (become applies), with
no Python module to start on the host. Like wait_for_connection, it tries again once a second
until the timeout when the host does not answer, and then fails (the role's rescue rolls back).
"""

from __future__ import annotations

import shlex
import time

from ansible.errors import AnsibleConnectionFailure
from ansible.plugins.action import ActionBase

ARGUMENT_SPEC = {
    "state_dir": {"type": "path", "required": True},
    "timeout": {"type": "int", "default": 30},
}


def confirm_command(state_dir):
    """The shell command that cancels the rollback timer and fails when the rollback fired already.

    The rollback script leaves state_dir/rolled-back when it ran.
    """
    return "systemctl stop pacs-firewall-rollback.timer; test ! -e %s" % shlex.quote(state_dir.rstrip("/") + "/rolled-back")


def attempt(reset, execute, timeout, clock=time.monotonic, sleep=time.sleep):
    """Reset the connection and execute, once a second until timeout: (result, None) or (None, last error)."""
    deadline = clock() + timeout
    while True:
        try:
            reset()
            return execute(), None
        except AnsibleConnectionFailure as err:
            if clock() >= deadline:
                return None, err
            sleep(1)


class ActionModule(ActionBase):
    """A new connection, and the rollback cancelled over it."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        if self._task.check_mode:
            result.update(skipped=True, msg="nothing to confirm in check mode")
            return result

        def reset():
            try:
                self._connection.reset()
            except AttributeError:  # a connection without reset
                pass

        command = confirm_command(params["state_dir"])
        answer, error = attempt(reset, lambda: self._low_level_execute_command(command, sudoable=True),
                                params["timeout"])
        if answer is None:
            result.update(failed=True, msg="the controller does not reach the host any more within %d s of the new "
                                           "rules: %s" % (params["timeout"], error))
            return result
        result.update(changed=False, rc=answer["rc"], stdout=answer.get("stdout", ""),
                      stderr=answer.get("stderr", ""))
        return result
