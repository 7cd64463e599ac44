"""The orthanc role's guards around orthanc.json: the candidate checker it runs on the host
before a new file replaces the old one (roles/orthanc/files/pacs-orthanc-json-check.py), and
the pruning of its backups to the newest few (roles/orthanc/library/orthanc_json_files.py, keep_backups).

The checker is run as the template task runs it (Debian's /usr/bin/python3 on the file);
the candidates are shaped like the role's rendered orthanc.json (a ``//`` header, then JSON).
"""

import grp
import importlib.util
import json
import os
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st
from module_run import run_module_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECKER = os.path.join(ROOT, "roles", "orthanc", "files", "pacs-orthanc-json-check.py")
BACKUPS = os.path.join(ROOT, "roles", "orthanc", "library", "orthanc_json_files.py")


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CHECK = _load("pacs_orthanc_json_check", CHECKER)
PRUNE = _load("orthanc_json_files", BACKUPS)


def prune(tmp_path, folder, keep, check=False):
    """The module as the role runs it where the JSON files are left alone (tidy false)."""
    return run_module_file(BACKUPS, {"path": str(folder), "keep_backups": keep, "tidy": False,
                                     "group": grp.getgrgid(os.getgid()).gr_name}, tmp_path, check=check)

HEADER = "//\n// Ansible managed\n//\n"
GOOD = HEADER + json.dumps({"Name": "PACS", "DicomPort": 4242, "RegisteredUsers": {"admin": "p//w"}}, indent=2)


def run_checker(tmp_path, text, encoding="utf-8"):
    path = tmp_path / "orthanc.json.candidate"
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return subprocess.run(["/usr/bin/python3", CHECKER, str(path)], capture_output=True, text=True,
                          timeout=30, check=False)


def test_the_role_s_rendering_shape_passes(tmp_path):
    proc = run_checker(tmp_path, GOOD)
    assert (proc.returncode, proc.stderr) == (0, "")


@pytest.mark.parametrize("text, reason", [
    (HEADER + '{"Name": "PACS",}', "Expecting property name"),
    (HEADER + '{"HttpTimeout": NaN}', "not JSON: NaN"),
    (HEADER + '{"HttpTimeout": -Infinity}', "not JSON: -Infinity"),
    (HEADER + '["Name"]', "not a JSON object"),
    (HEADER, "Expecting value"),
])
def test_what_orthanc_would_refuse_is_refused_with_the_reason(tmp_path, text, reason):
    proc = run_checker(tmp_path, text)
    assert proc.returncode == 1
    assert reason in proc.stderr and "orthanc.json.candidate" in proc.stderr


def test_bytes_that_are_not_utf8_are_refused(tmp_path):
    proc = run_checker(tmp_path, HEADER.encode() + b'{"Name": "\xff"}')
    assert proc.returncode == 1 and "not UTF-8" in proc.stderr


def test_a_double_slash_inside_a_value_is_not_a_comment():
    assert CHECK.without_comment_lines('{\n  "Url": "http://x//y"\n}\n') == '{\n  "Url": "http://x//y"\n}\n'
    assert CHECK.problem(GOOD) is None


@given(st.dictionaries(st.text(), st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3), max_leaves=10)))
def test_every_json_object_the_role_can_render_passes(value):
    # The role renders with to_nice_json: keys and strings may hold "//", newlines, unicode.
    assert CHECK.problem(HEADER + json.dumps(value, indent=4, ensure_ascii=False)) is None


def test_backup_names_are_the_template_module_s():
    assert PRUNE.is_backup("orthanc.json.1234.2026-11-30@10:00:00~", "orthanc.json")
    assert not PRUNE.is_backup("orthanc.json", "orthanc.json")
    assert not PRUNE.is_backup("orthanc.json.redacted", "orthanc.json")
    assert not PRUNE.is_backup("orthancXjson.1~", "orthanc.json")


@pytest.mark.parametrize("keep, removed", [(0, ["a", "b", "c"]), (1, ["a", "b"]), (3, []), (5, [])])
def test_the_oldest_are_removed_first(keep, removed):
    assert PRUNE.to_remove([("c", 30.0), ("a", 10.0), ("b", 20.0)], keep) == removed


def _backups(folder):
    folder.mkdir()
    (folder / "orthanc.json").write_text("{}")
    (folder / "orthanc.json.redacted").write_text("{}")
    for index in range(4):
        path = folder / ("orthanc.json.%d.2026-11-30@10:00:0%d~" % (100 + index, index))
        path.write_text("{}")
        os.utime(path, (1000 + index, 1000 + index))
    return sorted(p.name for p in folder.iterdir())


def test_the_module_keeps_the_newest_and_nothing_else_is_touched(tmp_path):
    before = _backups(tmp_path / "etc")
    answer = prune(tmp_path, tmp_path / "etc", 1)
    assert answer["changed"] is True
    assert answer["removed"] == ["orthanc.json.%d.2026-11-30@10:00:0%d~" % (100 + i, i) for i in range(3)]
    assert sorted(p.name for p in (tmp_path / "etc").iterdir()) == [
        name for name in before if name not in answer["removed"]]
    again = prune(tmp_path, tmp_path / "etc", 1)
    assert (again["changed"], again["removed"]) == (False, [])


def test_check_mode_reports_and_removes_nothing(tmp_path):
    before = _backups(tmp_path / "etc")
    answer = prune(tmp_path, tmp_path / "etc", 2, check=True)
    assert answer["changed"] is True and len(answer["removed"]) == 2
    assert sorted(p.name for p in (tmp_path / "etc").iterdir()) == before


def test_a_missing_folder_is_nothing_to_prune(tmp_path):
    answer = prune(tmp_path, tmp_path / "nowhere", 0)
    assert (answer["changed"], answer["removed"]) == (False, [])


def test_a_negative_keep_fails_naming_the_file(tmp_path):
    answer = prune(tmp_path, tmp_path, -1)
    assert answer["failed"] is True and str(tmp_path) in answer["msg"] and "keep_backups must be 0 or more" in answer["msg"]
