# -*- coding: utf-8 -*-
"""Callback plugin: load the Jinja filter and test plugins once, in the controller process,
before the first task, so that no forked worker loads them again."""

from __future__ import annotations

DOCUMENTATION = r"""
name: pacs_plugin_preload
type: aggregate
short_description: Load the filter and test plugins once in the controller process
description:
  - Ansible forks a worker for each task and host. The first time a worker templates a
    filter or a test it loads every filter (or test) plugin file, the project's
    C(filter_plugins/) and ansible.builtin's, unless the process it was forked from already
    has them. ansible-playbook's own process does not template with filters before it forks,
    so every task that uses one paid for that load. Measured over SSH on the bench host
    (ansible-core 2.19), about 90 ms per such task.
  - At the start of each play this loads both (C(filter_loader.all()), C(test_loader.all()),
    which fill the loaders' caches); the workers forked afterwards inherit them.
  - It changes nothing else. A plugin that fails to load here is left for the task that uses
    it to report, as without this plugin.
version_added: "1.2.0"
author: pacs-provisioner
requirements:
  - enabled in C(callbacks_enabled) (C(CALLBACK_NEEDS_ENABLED)); the folder in C(callback_plugins)
"""

try:
    from ansible.plugins.callback import CallbackBase
    from ansible.plugins.loader import filter_loader, test_loader
except ImportError:  # pragma: no cover - outside Ansible (the unit tests import Ansible)
    CallbackBase = object
    filter_loader = test_loader = None


def preload(loaders) -> int:
    """Load every plugin of each loader (a Jinja2Loader fills its cache); the number loaded.
    A loader that fails is skipped: the task that needs the plugin reports the error."""
    count = 0
    for loader in loaders:
        try:
            count += sum(1 for _ in loader.all())
        except Exception:  # pylint: disable=broad-except  # reported by the task that uses it
            continue
    return count


class CallbackModule(CallbackBase):
    """Preload the Jinja plugins at the start of every play (after its roles are loaded)."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "pacs_plugin_preload"
    CALLBACK_NEEDS_ENABLED = True

    def v2_playbook_on_play_start(self, play):
        loaded = preload((filter_loader, test_loader))
        self._display.vvvv("pacs_plugin_preload: %d filter and test plugins loaded in the controller" % loaded)
