"""Every module's and plugin's DOCUMENTATION, EXAMPLES and RETURN is YAML that Ansible reads:
ansible-doc shows each module (a plain scalar holding ': ' used to make ansible-doc fail)."""

import ast
import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCES = sorted([*ROOT.glob("library/*.py"), *ROOT.glob("roles/*/library/*.py"), *ROOT.glob("*_plugins/*.py"), *ROOT.glob("roles/*/*_plugins/*.py")])
MODULES = sorted([*ROOT.glob("library/*.py"), *ROOT.glob("roles/*/library/*.py")])


def doc_strings(path):
    """{name: text} of the DOCUMENTATION, EXAMPLES and RETURN assignments of a Python file."""
    found = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if getattr(target, "id", "") in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
                    found[target.id] = node.value.value
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_doc_strings_are_yaml(path):
    for name, text in doc_strings(path).items():
        yaml.safe_load(text)  # raises, naming the line, when it is not
    if path in MODULES:
        assert "DOCUMENTATION" in doc_strings(path), path


def test_ansible_doc_reads_every_module():
    names = [path.stem for path in MODULES]
    env = dict(os.environ, ANSIBLE_LIBRARY=os.pathsep.join(sorted({str(p.parent) for p in MODULES})),
               ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    ansible_doc = os.path.join(os.path.dirname(sys.executable), "ansible-doc")
    proc = subprocess.run([ansible_doc, "--json", "-t", "module", *names], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr
    assert sorted(json.loads(proc.stdout)) == sorted(names)
