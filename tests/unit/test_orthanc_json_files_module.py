"""The orthanc_json_files module (roles/orthanc/library), run as Ansible runs it: a
subprocess with an args file, on a folder laid out like /etc/orthanc after Debian's
orthanc and orthanc-dicomweb packages are installed, plus the role's orthanc.json."""

import functools
import grp
import json
import os
import stat

import pytest
from module_run import load_module_file
from module_run import run_module_file as run_any_module_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULE = os.path.join(ROOT, "roles", "orthanc", "library", "orthanc_json_files.py")
UTILS = {name: os.path.join(ROOT, "roles", "orthanc", "module_utils", name + ".py")
         for name in ("orthanc_json_check", "orthanc_files")}
PKG = load_module_file(MODULE, "orthanc_json_files", UTILS)
run_module_file = functools.partial(run_any_module_file, module_utils=UTILS)

# The role's list (roles/orthanc/vars/main.yml __orthanc_package_config_files).
NAMES = ["credentials.json", "dicomweb.json", "worklists.json", "serve-folders.json", "postgresql.json"]
# Shaped like what Debian's packages ship (orthanc 1.10.1: credentials.json holds the
# RegisteredUsers example; orthanc-dicomweb: dicomweb.json).
SHIPPED = {
    "credentials.json": '{\n  // Credentials\n  "RegisteredUsers" : {\n    "alice" : "alicePassword"\n  }\n}\n',
    "dicomweb.json": '{\n  "DicomWeb" : {\n    "Enable" : true,\n    "Root" : "/dicom-web/"\n  }\n}\n',
    "worklists.json": '{\n  "Worklists" : {\n    "Enable": false\n  }\n}\n',
}
GROUP = grp.getgrgid(os.getgid()).gr_name


def run(tmp_path, check=False, **changes):
    args = {"path": str(tmp_path / "etc"), "group": GROUP, "packaged": NAMES}
    args.update(changes)
    return run_module_file(MODULE, args, tmp_path, check=check)


@pytest.fixture
def etc(tmp_path):
    folder = tmp_path / "etc"
    folder.mkdir()
    for name, text in SHIPPED.items():
        (folder / name).write_text(text, encoding="utf-8")
        (folder / name).chmod(0o644)
    (folder / "orthanc.json").write_text('{"Name": "ours"}\n', encoding="utf-8")
    return folder


def test_needs_emptying():
    assert PKG.needs_emptying(SHIPPED["credentials.json"]) is True
    assert PKG.needs_emptying("{}") is True  # without the newline: rewritten once
    assert PKG.needs_emptying("") is True
    assert PKG.needs_emptying("{}\n") is False
    assert PKG.needs_emptying(None) is False  # absent: its package is not installed


def test_to_empty_keeps_the_order_of_names_and_lists_each_once():
    contents = {"b.json": "x", "a.json": "{}\n", "c.json": "y"}
    assert PKG.to_empty(contents, ["c.json", "a.json", "b.json", "c.json", "d.json"]) == ["c.json", "b.json"]
    assert PKG.to_empty({}, NAMES) == []


def test_to_rename_names_what_orthanc_would_read_besides_ours():
    files = ["orthanc.json", "credentials.json", "zz.json", "extra.json", ".hidden.json", "orthanc.json.last-good",
             "old.json.disabled-by-pacs-provisioner", "notes.txt", "upper.JSON"]
    assert PKG.to_rename(files, "orthanc.json", NAMES) == ["extra.json", "zz.json"]


def test_empties_what_the_packages_ship_and_creates_nothing(etc, tmp_path):
    result = run(tmp_path)
    assert result.get("failed") is not True, result
    assert result["changed"] is True
    assert result["emptied"] == ["credentials.json", "dicomweb.json", "worklists.json"]
    assert result["renamed"] == []
    for name in SHIPPED:
        info = (etc / name).stat()
        assert (etc / name).read_text(encoding="utf-8") == "{}\n"
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, os.getgid(), 0o640)
    assert sorted(p.name for p in etc.iterdir()) == sorted(list(SHIPPED) + ["orthanc.json"])
    assert (etc / "orthanc.json").read_text(encoding="utf-8") == '{"Name": "ours"}\n'
    # No secret of the shipped files in the result (the task is not under no_log).
    assert "alicePassword" not in json.dumps(result)


def test_second_run_changes_nothing(etc, tmp_path):
    run(tmp_path)
    before = {name: (etc / name).stat().st_mtime_ns for name in SHIPPED}
    result = run(tmp_path)
    assert result["changed"] is False and result["emptied"] == [] and result["renamed"] == []
    assert {name: (etc / name).stat().st_mtime_ns for name in SHIPPED} == before


def test_an_upgrade_that_restores_one_file_empties_that_one(etc, tmp_path):
    run(tmp_path)
    (etc / "dicomweb.json").write_text(SHIPPED["dicomweb.json"], encoding="utf-8")
    result = run(tmp_path)
    assert result["changed"] is True and result["emptied"] == ["dicomweb.json"]


def test_check_mode_reports_and_writes_nothing(etc, tmp_path):
    result = run(tmp_path, check=True)
    assert result.get("failed") is not True, result
    assert result["changed"] is True
    assert result["emptied"] == ["credentials.json", "dicomweb.json", "worklists.json"]
    assert [d["before_header"] for d in result["diff"]] == [str(etc / n) for n in result["emptied"]]
    for name, text in SHIPPED.items():
        assert (etc / name).read_text(encoding="utf-8") == text
        assert stat.S_IMODE((etc / name).stat().st_mode) == 0o644


def test_check_mode_does_not_need_the_group_yet(etc, tmp_path):
    """On a fresh host in check mode the orthanc group may not exist yet."""
    result = run(tmp_path, check=True, group="pp-no-such-group")
    assert result.get("failed") is not True, result
    assert result["changed"] is True


def test_an_unknown_group_fails_naming_the_folder(etc, tmp_path):
    result = run(tmp_path, group="pp-no-such-group")
    assert result["failed"] is True
    assert str(etc) in result["msg"] and "pp-no-such-group" in result["msg"]
    assert (etc / "credentials.json").read_text(encoding="utf-8") == SHIPPED["credentials.json"]


def test_other_json_files_are_renamed_never_merged(etc, tmp_path):
    (etc / "extra.json").write_text('{"Name": "theirs"}\n', encoding="utf-8")
    (etc / "extra.json.disabled-by-pacs-provisioner").write_text("older\n", encoding="utf-8")
    (etc / ".hidden.json").write_text("{}", encoding="utf-8")
    (etc / "sub.json").mkdir()
    (etc / "link.json").symlink_to(etc / "orthanc.json")
    result = run(tmp_path)
    assert result["renamed"] == ["extra.json"]
    assert not (etc / "extra.json").exists()
    assert (etc / "extra.json.disabled-by-pacs-provisioner").read_text(encoding="utf-8") == '{"Name": "theirs"}\n'
    assert (etc / ".hidden.json").exists() and (etc / "sub.json").is_dir() and (etc / "link.json").is_symlink()
    assert (etc / "orthanc.json").read_text(encoding="utf-8") == '{"Name": "ours"}\n'
    again = run(tmp_path)
    assert again["changed"] is False and again["renamed"] == []


def test_check_mode_reports_renames_and_renames_nothing(etc, tmp_path):
    (etc / "extra.json").write_text("{}\n", encoding="utf-8")
    result = run(tmp_path, check=True)
    assert result["changed"] is True and result["renamed"] == ["extra.json"]
    assert (etc / "extra.json").exists()


def test_without_packages_packaged_files_are_neither_emptied_nor_renamed(etc, tmp_path):
    """The container method: no package owns the folder (empty_packaged false)."""
    (etc / "extra.json").write_text("{}\n", encoding="utf-8")
    result = run(tmp_path, empty_packaged=False)
    assert result["emptied"] == [] and result["renamed"] == ["extra.json"]
    for name, text in SHIPPED.items():
        assert (etc / name).read_text(encoding="utf-8") == text


def test_a_folder_not_created_yet_changes_nothing(tmp_path):
    """Check mode on a fresh host: the configuration folder does not exist yet."""
    result = run(tmp_path, check=True)
    assert result.get("failed") is not True, result
    assert result["changed"] is False and result["emptied"] == [] and result["renamed"] == []


def test_pruned_backups_are_reported_apart_from_what_orthanc_reads(etc, tmp_path):
    """The role restarts Orthanc on emptied or renamed files, not on pruned backups (main.yml)."""
    for index in range(3):
        backup = etc / ("orthanc.json.%d.2026-12-01@10:00:0%d~" % (100 + index, index))
        backup.write_text("{}", encoding="utf-8")
        os.utime(backup, (1000 + index, 1000 + index))
    first = run(tmp_path, keep_backups=1)
    assert first["changed"] is True and first["emptied"] and first["removed"] == [
        "orthanc.json.100.2026-12-01@10:00:00~", "orthanc.json.101.2026-12-01@10:00:01~"]
    (etc / "orthanc.json.103.2026-12-01@10:00:03~").write_text("{}", encoding="utf-8")
    second = run(tmp_path, keep_backups=1)
    assert (second["changed"], second["emptied"], second["renamed"]) == (True, [], [])
    assert second["removed"] == ["orthanc.json.102.2026-12-01@10:00:02~"]
    assert run(tmp_path, keep_backups=1)["changed"] is False


def test_tidy_false_leaves_the_json_files(etc, tmp_path):
    (etc / "extra.json").write_text("{}", encoding="utf-8")
    answer = run(tmp_path, tidy=False)
    assert (answer["changed"], answer["emptied"], answer["renamed"], answer["removed"]) == (False, [], [], [])
    assert (etc / "extra.json").exists() and (etc / "credentials.json").read_text(encoding="utf-8") == SHIPPED[
        "credentials.json"]
