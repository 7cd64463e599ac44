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


def load_module():
    """The module library/pacs_smoke_write.py (imported by its path): its ARGUMENT_SPEC,
    answer and write_files."""
    spec = importlib.util.spec_from_file_location("pacs_smoke_write_module", _LIBRARY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_write_files():
    """write_files of the module."""
    return load_module().write_files


def write_locally(params, check_mode, write_files):
    """The module's answer for params, written with write_files on this machine."""
    return load_module().answer(params, check_mode, write_files)


class ActionModule(ActionBase):
    """Write the files in the worker when the connection is local, else run the module; show its message."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(load_module().ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        if self._connection.transport != "local":
            result.update(self._execute_module(module_name="pacs_smoke_write", module_args=self._task.args,
                                               task_vars=task_vars))
        else:
            module = load_module()
            _, params = self.validate_argument_spec(argument_spec=module.ARGUMENT_SPEC)
            result.update(module.answer(params, self._task.check_mode))
        # Shown without -v, as debug and assert results are: the table, or the failed checks.
        if "msg" in result:
            result["_ansible_verbose_always"] = True
        return result
