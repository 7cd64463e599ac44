"""The orthanc role's guards around orthanc.json, in the module that writes it
(roles/orthanc/library/orthanc_json_files.py): the check of a candidate as Orthanc's reader
would read it (roles/orthanc/module_utils/orthanc_json_check.py) before it replaces the old
one, the backup of the old one, the redacted copy whose diff is the one shown, and the pruning
of the backups to the newest few (keep_backups).

The module is run as Ansible runs it; the candidates are shaped like the role's rendered
orthanc.json (a ``//`` header, then JSON).
"""

import functools
import grp
import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st
from module_run import load_module_file
from module_run import run_module_file as run_any_module_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UTILS = {name: os.path.join(ROOT, "roles", "orthanc", "module_utils", name + ".py")
         for name in ("orthanc_json_check", "orthanc_files")}
BACKUPS = os.path.join(ROOT, "roles", "orthanc", "library", "orthanc_json_files.py")
PRUNE = load_module_file(BACKUPS, "orthanc_json_files", UTILS)
CHECK = load_module_file(UTILS["orthanc_json_check"], "orthanc_json_check")
run_module_file = functools.partial(run_any_module_file, module_utils=UTILS)
GROUP = grp.getgrgid(os.getgid()).gr_name


def prune(tmp_path, folder, keep, check=False):
    """The module as the role runs it where the JSON files are left alone (tidy false)."""
    return run_module_file(BACKUPS, {"path": str(folder), "keep_backups": keep, "tidy": False,
                                     "group": GROUP}, tmp_path, check=check)

HEADER = "//\n// Ansible managed\n//\n"
SECRET = "p//w-secret"
GOOD = HEADER + json.dumps({"Name": "PACS", "DicomPort": 4242, "RegisteredUsers": {"admin": SECRET}}, indent=2)
REDACTED = GOOD.replace(SECRET, "********")


def write(tmp_path, content, check=False, **options):
    """The module writing orthanc.json (content) and its redacted copy in tmp_path/etc."""
    (tmp_path / "etc").mkdir(exist_ok=True)
    args = dict({"path": str(tmp_path / "etc"), "group": GROUP, "tidy": False, "content": content,
                 "redacted": REDACTED}, **options)
    return run_module_file(BACKUPS, args, tmp_path, check=check)


def test_the_role_s_rendering_shape_is_written_with_its_redacted_copy(tmp_path):
    answer = write(tmp_path, GOOD)
    assert answer["changed"] and answer["written"] == ["orthanc.json", "orthanc.json.redacted"], answer
    assert (tmp_path / "etc" / "orthanc.json").read_text() == GOOD
    info = os.stat(tmp_path / "etc" / "orthanc.json")
    assert (info.st_uid, info.st_gid, info.st_mode & 0o777) == (0, os.getgid(), 0o640)
    # The diff shown is the redacted copy's; the content is never returned.
    assert [d["after_header"] for d in answer["diff"]] == [str(tmp_path / "etc" / "orthanc.json.redacted")]
    assert SECRET not in json.dumps(answer)
    again = write(tmp_path, GOOD)
    assert (again["changed"], again["written"], again["diff"]) == (False, [], [])


def test_check_mode_reports_the_redacted_diff_and_writes_nothing(tmp_path):
    answer = write(tmp_path, GOOD, check=True)
    assert answer["changed"] and answer["written"] == ["orthanc.json", "orthanc.json.redacted"]
    assert answer["diff"][0]["after"] == REDACTED and not os.listdir(tmp_path / "etc")


def test_the_old_file_is_backed_up_as_the_template_module_names_backups(tmp_path):
    write(tmp_path, GOOD)
    changed = GOOD.replace("4242", "104")
    answer = write(tmp_path, changed, backup=True, keep_backups=1)
    backup = answer["backup_file"]
    assert PRUNE.is_backup(os.path.basename(backup), "orthanc.json") and open(backup).read() == GOOD
    assert (tmp_path / "etc" / "orthanc.json").read_text() == changed and answer["removed"] == []
    assert SECRET not in json.dumps(answer)


def test_another_mode_is_written_again(tmp_path):
    write(tmp_path, GOOD)
    os.chmod(tmp_path / "etc" / "orthanc.json", 0o644)
    answer = write(tmp_path, GOOD)
    assert answer["written"] == ["orthanc.json"] and os.stat(tmp_path / "etc" / "orthanc.json").st_mode & 0o777 == 0o640


@pytest.mark.parametrize("text, reason", [
    (HEADER + '{"Name": "PACS",}', "Expecting property name"),
    (HEADER + '{"HttpTimeout": NaN}', "not JSON: NaN"),
    (HEADER + '{"HttpTimeout": -Infinity}', "not JSON: -Infinity"),
    (HEADER + '["Name"]', "not a JSON object"),
    (HEADER, "Expecting value"),
])
def test_what_orthanc_would_refuse_is_refused_with_the_reason_and_nothing_written(tmp_path, text, reason):
    write(tmp_path, GOOD)
    answer = write(tmp_path, text.replace("PACS", SECRET), backup=True)
    assert answer["failed"] and reason in answer["msg"] and "orthanc.json" in answer["msg"], answer
    assert SECRET not in json.dumps(answer)
    assert sorted(os.listdir(tmp_path / "etc")) == ["orthanc.json", "orthanc.json.redacted"]
    assert (tmp_path / "etc" / "orthanc.json").read_text() == GOOD


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
