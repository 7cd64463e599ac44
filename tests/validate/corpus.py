"""The bad-inventory corpus: each case overlays host variables on a known-good base."""

from __future__ import annotations

import importlib.util
import pathlib
import re
import shutil

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "bad_inventories"
BASE = CORPUS / "base"
CASES = sorted((CORPUS / "cases").glob("*.yml"))
CONVERGED_HOST = "pp-val-pacs"


def load_validator():
    """scripts/validate.py as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("pp_validate", ROOT / "scripts" / "validate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_case(path):
    case = yaml.safe_load(path.read_text())
    assert set(case) == {"description", "scope", "expect", "host_vars"}, path
    assert case["scope"] in ("host", "hospital"), path
    assert case["expect"] and all(isinstance(e, str) for e in case["expect"]), path
    return case


def build_inventory(case, target):
    """Copy the base inventory to target and overlay the case's host variables."""
    shutil.copytree(BASE, target)
    for host, variables in case["host_vars"].items():
        folder = target / "host_vars" / host
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "zz-case.yml").write_text("---\n" + yaml.safe_dump(variables, sort_keys=False, allow_unicode=True))
    return target


def normalise(text):
    """Compare messages across output formats: no whitespace, quotes or backslashes."""
    return re.sub(r"[\s'\"\\]+", "", text)
