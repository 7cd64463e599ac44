"""Run a module file as Ansible does (arguments in a JSON file) and return its JSON answer."""

import json
import subprocess
import sys


def run_module_file(module, args, tmp_path, check=False, timeout=60):
    """The module's answer to args (plus check mode), failing the test when it is not JSON."""
    args = dict(args, _ansible_check_mode=True) if check else dict(args)
    path = tmp_path / "args.json"
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(module), str(path)], capture_output=True, text=True,
                          timeout=timeout, check=False)
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise AssertionError("module output is not JSON: %s %s" % (proc.stdout, proc.stderr)) from None
