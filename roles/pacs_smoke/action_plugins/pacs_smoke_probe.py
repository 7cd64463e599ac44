# -*- coding: utf-8 -*-
"""Action plugin of pacs_smoke_probe: on the controller (a local connection, as the role's default
pacs_smoke_probe_host localhost has) the checks run in the worker itself, without packaging the
module and starting it in a Python of its own (about 0.6 s per host: 0.4 s of controller CPU to
build the module's payload, 0.2 s to start Python and import Ansible's module_utils, measured on
the bench host). Any other connection, or a controller whose Python lacks a library the listed
phases need, runs the module. The checks are the module's own (its answer function)."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import sys

from ansible.plugins.action import ActionBase

_ROLE = pathlib.Path(__file__).resolve().parent.parent
# The module_utils the module imports, in the order they import each other.
UTILS = ("pacs_smoke_checks", "pacs_smoke_dicom", "pacs_smoke_outbound", "pacs_smoke_dicomweb")


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_module():
    """The module library/pacs_smoke_probe.py (imported by its path), its module_utils registered
    under ansible.module_utils.<name> first, as the module's payload carries them. Called in the
    worker only (a process per task), never at the plugin's import: the module_utils import
    pynetdicom, pydicom and requests."""
    for name in UTILS:
        if "ansible.module_utils." + name not in sys.modules:
            _load(_ROLE / "module_utils" / (name + ".py"), "ansible.module_utils." + name)
    return _load(_ROLE / "library" / "pacs_smoke_probe.py", "pacs_smoke_probe_module")


def as_json(answer):
    """The answer as the module's JSON carries it: plain types only. Values such as pydicom's UID
    (a str subclass) would otherwise reach ansible-playbook's process pickled, and unpickling them
    there imports pydicom (about 0.4 s, measured on the bench host)."""
    return json.loads(json.dumps(answer))


class ActionModule(ActionBase):
    """Run the checks in the worker when the connection is local, else run the module."""

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        module = load_module() if self._connection.transport == "local" else None
        if module is None or module.missing_library(self._task.args.get("phases") or []):
            result.update(self._execute_module(module_name="pacs_smoke_probe", module_args=self._task.args,
                                               task_vars=task_vars))
            return result
        _, params = self.validate_argument_spec(argument_spec=module.ARGUMENT_SPEC)
        result.update(as_json(module.answer(params, self._task.check_mode)))
        return result
