"""requirements.yml pins the collections that the bundled `ansible` package ships."""

import pathlib
import re

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]


def installed_version(name):
    import importlib.util
    import json
    namespace, collection = name.split(".")
    spec = importlib.util.find_spec(f"ansible_collections.{namespace}.{collection}")
    manifest = pathlib.Path(spec.submodule_search_locations[0]) / "MANIFEST.json"
    return json.loads(manifest.read_text())["collection_info"]["version"]


def test_every_pinned_collection_is_the_bundled_version():
    pinned = yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]
    for item in pinned:
        assert installed_version(item["name"]) == item["version"], item["name"]


def test_every_collection_used_by_the_code_is_pinned():
    pinned = {c["name"] for c in yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]}
    used = set()
    for path in list(ROOT.glob("roles/**/*.yml")) + list(ROOT.glob("playbooks/*.yml")) + list(ROOT.glob("molecule/**/*.yml")):
        for fqcn in re.findall(r"\b((?:community|ansible)\.[a-z_]+)\.[a-z_]+\b", path.read_text()):
            if fqcn not in ("ansible.builtin", "ansible.module_utils", "ansible.parsing"):
                used.add(fqcn)
    assert used <= pinned, used - pinned
