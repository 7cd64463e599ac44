# -*- coding: utf-8 -*-
"""Action plugin of pacs_smoke_write: on the controller (a local connection, the role's
delegate_to: localhost) the report files are written by the worker itself, without starting the
module in a Python of its own (about 0.45 s per host, measured over SSH on the bench host);
any other connection runs the module. The writing is the module's own write_files."""

from __future__ import annotations

import importlib.util
import pathlib

from ansible.plugins.action import ActionBase

_LIBRARY = pathlib.Path(__file__).resolve().parent.parent / "library" / "pacs_smoke_write.py"
# The module's argument spec (its DOCUMENTATION's options).
ARGUMENT_SPEC = {
    "directory": {"type": "path", "required": True},
    "files": {"type": "dict", "required": True},
    "mode": {"type": "str", "default": "0644"},
    "latest": {"type": "path"},
}


def load_write_files():
    """write_files of the module library/pacs_smoke_write.py (imported by its path)."""
    spec = importlib.util.spec_from_file_location("pacs_smoke_write_module", _LIBRARY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_files


def write_locally(params, check_mode, write_files):
    """The module's answer for params, written with write_files on this machine."""
    try:
        mode = int(params["mode"], 8)
    except ValueError:
        return {"failed": True, "msg": "mode: %r is not an octal mode" % params["mode"]}
    try:
        changed, paths = write_files(params["directory"], params["files"], mode, params["latest"], check_mode)
    except (ValueError, OSError) as exc:
        return {"failed": True, "msg": str(exc)}
    return {"changed": changed, "paths": paths}


class ActionModule(ActionBase):
    """Write the files in the worker when the connection is local, else run the module."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        if self._connection.transport != "local":
            result.update(self._execute_module(module_name="pacs_smoke_write", module_args=self._task.args,
                                               task_vars=task_vars))
            return result
        _, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        result.update(write_locally(params, self._task.check_mode, load_write_files()))
        return result
