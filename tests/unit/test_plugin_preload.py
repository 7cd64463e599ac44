"""callback_plugins/pacs_plugin_preload.py: the filter plugins are loaded once, in the
controller process, not again in each forked worker (a real ansible-playbook run)."""

import importlib.util
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
_SPEC = importlib.util.spec_from_file_location("pacs_plugin_preload", ROOT / "callback_plugins" / "pacs_plugin_preload.py")
preload_module = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(preload_module)

# A filter plugin that notes every import (the pid of the process that loads it).
COUNTING_FILTER = '''
import os
with open(os.environ["PP_IMPORTS"], "a") as handle:
    handle.write("%d\\n" % os.getpid())

class FilterModule:
    def filters(self):
        return {"counted": lambda value: value}
'''
PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
""" + "".join("""    - name: Task {0} uses the filter
      ansible.builtin.debug:
        msg: "{{{{ {0} | counted }}}}"
""".format(n) for n in range(3))


def imports(tmp_path, enabled):
    """The pids that imported the counting filter in a run of three tasks that use it."""
    (tmp_path / "filters").mkdir(exist_ok=True)
    (tmp_path / "filters" / "counting.py").write_text(COUNTING_FILTER)
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")  # not the project's: only what is set here
    record = tmp_path / ("imports-%s" % enabled)
    env = dict(os.environ, PP_IMPORTS=str(record), ANSIBLE_FILTER_PLUGINS=str(tmp_path / "filters"),
               ANSIBLE_CALLBACK_PLUGINS=str(ROOT / "callback_plugins"),
               ANSIBLE_CALLBACKS_ENABLED="pacs_plugin_preload" if enabled else "",
               ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"), ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_FORCE_COLOR="0")
    if not enabled:
        env.pop("ANSIBLE_CALLBACKS_ENABLED")
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    proc = subprocess.run([playbook, "-i", "localhost,", "-c", "local", str(tmp_path / "play.yml")],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return record.read_text().split()


def test_without_it_every_worker_loads_the_filters(tmp_path):
    assert len(set(imports(tmp_path, enabled=False))) == 3


def test_with_it_the_controller_loads_them_once(tmp_path):
    assert len(imports(tmp_path, enabled=True)) == 1


def test_preload_counts_and_skips_a_failing_loader():
    class Loader:
        def __init__(self, items):
            self.items = items

        def all(self):
            if isinstance(self.items, Exception):
                raise self.items
            return iter(self.items)
    assert preload_module.preload([Loader([1, 2]), Loader(RuntimeError("broken")), Loader([3])]) == 3
