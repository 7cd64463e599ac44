"""Action plugin pacs_firewall_confirm: its command against a real shell and its retry loop."""

import importlib.util
import os
import subprocess

import pytest
from ansible.errors import AnsibleConnectionFailure

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_SPEC = importlib.util.spec_from_file_location(
    "pacs_firewall_confirm", os.path.join(ROOT, "roles", "pacs_firewall", "action_plugins", "pacs_firewall_confirm.py"))
CONFIRM = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(CONFIRM)


def shell(command, tmp_path):
    """Run the command as the host's /bin/sh would, with a systemctl that stops nothing."""
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    (fake / "systemctl").write_text("#!/bin/sh\nexit 5\n", encoding="ascii")  # no such timer: rc 5
    os.chmod(fake / "systemctl", 0o755)
    env = dict(os.environ, PATH="%s:%s" % (fake, os.environ["PATH"]))
    return subprocess.run(["/bin/sh", "-c", command], env=env, check=False).returncode


def test_the_command_passes_until_the_rollback_left_its_mark(tmp_path):
    state = tmp_path / "state dir"  # a space: quoted
    state.mkdir()
    assert shell(CONFIRM.confirm_command(str(state) + "/"), tmp_path) == 0
    (state / "rolled-back").write_text("", encoding="ascii")
    assert shell(CONFIRM.confirm_command(str(state)), tmp_path) == 1


class Clock:
    """A clock that sleep() moves on."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_attempt_resets_before_every_try_and_returns_the_first_answer():
    clock, calls = Clock(), []

    def execute():
        calls.append("execute")
        if calls.count("execute") < 3:
            raise AnsibleConnectionFailure("Connection timed out during banner exchange")
        return {"rc": 0}

    answer, error = CONFIRM.attempt(lambda: calls.append("reset"), execute, 30, clock=clock, sleep=clock.sleep)
    assert answer == {"rc": 0} and error is None
    assert calls == ["reset", "execute"] * 3 and clock.now == 2


def test_attempt_gives_up_at_the_timeout_with_the_last_error():
    clock = Clock()

    def execute():
        raise AnsibleConnectionFailure("no route to host %d" % clock.now)

    answer, error = CONFIRM.attempt(lambda: None, execute, 5, clock=clock, sleep=clock.sleep)
    assert answer is None and str(error) == "no route to host 5"


def test_attempt_does_not_hide_other_errors():
    def execute():
        raise ValueError("a bug")

    with pytest.raises(ValueError):
        CONFIRM.attempt(lambda: None, execute, 5)
