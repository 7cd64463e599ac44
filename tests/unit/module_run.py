"""Run a module file as Ansible does (arguments in a JSON file) and return its JSON answer."""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

# Like AnsiballZ: each module_utils file given is importable as ansible.module_utils.<name>
# before the module runs as __main__ (argv: pairs of name and path, then the module, then its args).
_BOOTSTRAP = ("import importlib.util, runpy, sys\n"
              "args = sys.argv[1:]\n"
              "while args[0] != '--':\n"
              "    name, path, args = args[0], args[1], args[2:]\n"
              "    spec = importlib.util.spec_from_file_location(name, path)\n"
              "    mod = sys.modules[name] = importlib.util.module_from_spec(spec)\n"
              "    spec.loader.exec_module(mod)\n"
              "sys.argv = args[1:]\n"
              "runpy.run_path(sys.argv[0], run_name='__main__')\n")


def run_module_file(module, args, tmp_path=None, check=False, timeout=60, module_utils=None):
    """The module's answer to args (plus check mode), failing the test when it is not JSON.

    module_utils: {name: path} of the role's module_utils files the module imports as
    ``ansible.module_utils.<name>``.
    """
    args = dict(args, _ansible_check_mode=True) if check else dict(args)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(tmp_path or scratch) / "args.json"
        path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}), encoding="utf-8")
        command = [sys.executable, str(module), str(path)]
        if module_utils:
            pairs = [str(p) for name, file in module_utils.items() for p in ("ansible.module_utils." + name, file)]
            command = [sys.executable, "-c", _BOOTSTRAP, *pairs, "--", str(module), str(path)]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise AssertionError("module output is not JSON: %s %s" % (proc.stdout, proc.stderr)) from None


def load_module_file(module, name, module_utils=None):
    """Import a module file as `name` for its functions, each module_utils file given ({name: path})
    importable first as ``ansible.module_utils.<name>`` (as AnsiballZ ships them)."""
    import importlib.util  # pylint: disable=import-outside-toplevel
    for util, path in (module_utils or {}).items():
        spec = importlib.util.spec_from_file_location("ansible.module_utils." + util, path)
        sys.modules[spec.name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[spec.name])
    spec = importlib.util.spec_from_file_location(name, module)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded
