"""roles/pacs_firewall/library/pacs_firewall_files.py, run as Ansible runs it (as root here)."""

import functools
import os
import pathlib

import pytest
from module_run import load_module_file
from module_run import run_module_file as run_any_module_file

ROLE = pathlib.Path(__file__).resolve().parents[2] / "roles" / "pacs_firewall"
MODULE = ROLE / "library" / "pacs_firewall_files.py"
UTILS = {"pacs_firewall_write": str(ROLE / "module_utils" / "pacs_firewall_write.py")}
FILES = load_module_file(MODULE, "pacs_firewall_files", UTILS)
WRITE = load_module_file(UTILS["pacs_firewall_write"], "pacs_firewall_write")
run_module_file = functools.partial(run_any_module_file, module_utils=UTILS)


def _args(root, ruleset="table inet t {}\n", validate="grep -q table %s"):
    return {
        "directories": [{"path": str(root / "etc"), "mode": "0700"}, {"path": str(root / "etc" / "d"), "mode": "0755"}],
        "files": [
            {"name": "unit", "path": str(root / "etc" / "d" / "unit.service"), "content": "[Unit]\n", "mode": "0644"},
            {"name": "ruleset", "path": str(root / "etc" / "rules.nft"), "content": ruleset, "mode": "0600",
             "validate": validate},
        ],
    }


def _mode(path):
    return oct(os.stat(path).st_mode & 0o7777)


def test_writes_folders_and_files_then_changes_nothing(tmp_path):
    first = run_module_file(MODULE, _args(tmp_path))
    assert first["changed"] is True, first
    assert first["written"] == [str(tmp_path / "etc"), str(tmp_path / "etc" / "d"), "unit", "ruleset"]
    assert (tmp_path / "etc" / "rules.nft").read_text() == "table inet t {}\n"
    assert _mode(tmp_path / "etc") == "0o700" and _mode(tmp_path / "etc" / "rules.nft") == "0o600"
    assert _mode(tmp_path / "etc" / "d" / "unit.service") == "0o644"
    assert [d["before_header"] for d in first["diff"]] == [str(tmp_path / "etc" / "d" / "unit.service"),
                                                          str(tmp_path / "etc" / "rules.nft")]
    assert sorted(os.listdir(tmp_path / "etc")) == ["d", "rules.nft"]  # no candidate left behind
    again = run_module_file(MODULE, _args(tmp_path))
    assert again["changed"] is False and again["written"] == [] and again["diff"] == []


def test_check_mode_writes_nothing_and_shows_the_diff(tmp_path):
    run_module_file(MODULE, _args(tmp_path))
    result = run_module_file(MODULE, _args(tmp_path, ruleset="table inet t { }\n"), check=True)
    assert result["changed"] is True and result["written"] == ["ruleset"]
    assert result["diff"] == [{"before_header": str(tmp_path / "etc" / "rules.nft"),
                               "after_header": str(tmp_path / "etc" / "rules.nft"),
                               "before": "table inet t {}\n", "after": "table inet t { }\n"}]
    assert (tmp_path / "etc" / "rules.nft").read_text() == "table inet t {}\n"
    fresh = run_module_file(MODULE, _args(tmp_path / "fresh"), check=True)
    assert fresh["changed"] is True and not (tmp_path / "fresh").exists()


def test_a_mode_change_is_written_without_a_content_diff(tmp_path):
    run_module_file(MODULE, _args(tmp_path))
    os.chmod(tmp_path / "etc" / "rules.nft", 0o644)
    os.chmod(tmp_path / "etc", 0o755)
    result = run_module_file(MODULE, _args(tmp_path))
    assert result["written"] == [str(tmp_path / "etc"), "ruleset"] and result["diff"] == []
    assert _mode(tmp_path / "etc" / "rules.nft") == "0o600" and _mode(tmp_path / "etc") == "0o700"


def test_a_refused_file_leaves_the_old_one_and_names_the_file(tmp_path):
    run_module_file(MODULE, _args(tmp_path))
    args = _args(tmp_path, ruleset="garbage\n")
    args["files"].append({"name": "after", "path": str(tmp_path / "etc" / "after"), "content": "x", "mode": "0600"})
    result = run_module_file(MODULE, args)
    assert result["failed"] is True
    assert result["msg"].startswith("%s: the check `grep -q table %%s` refused the new file (rc 1)"
                                    % (tmp_path / "etc" / "rules.nft"))
    assert (tmp_path / "etc" / "rules.nft").read_text() == "table inet t {}\n"
    assert not (tmp_path / "etc" / "after").exists()
    assert sorted(os.listdir(tmp_path / "etc")) == ["d", "rules.nft"]


def test_the_checker_reads_the_candidate_not_the_old_file(tmp_path):
    run_module_file(MODULE, _args(tmp_path))
    result = run_module_file(MODULE, _args(tmp_path, ruleset="table two\n", validate="grep -q two %s"))
    assert result["changed"] is True, result
    assert (tmp_path / "etc" / "rules.nft").read_text() == "table two\n"


def test_validate_argv():
    assert WRITE.validate_argv("nft -c -f %s", "/etc/x y") == ["nft", "-c", "-f", "/etc/x y"]
    assert WRITE.validate_argv("python3 '/usr/local/lib/check it.py' %s", "/t") == [
        "python3", "/usr/local/lib/check it.py", "/t"]
    with pytest.raises(ValueError, match="has no %s"):
        WRITE.validate_argv("nft -c -f", "/t")


@pytest.mark.parametrize("current, attributes, expected", [
    (None, None, True), ("a", (0o600, 0, 0), False), ("b", (0o600, 0, 0), True), ("a", (0o644, 0, 0), True),
    ("a", (0o600, 1000, 0), True), ("a", (0o600, 0, 1000), True)])
def test_file_changes(current, attributes, expected):
    assert FILES.file_changes(current, attributes, "a", 0o600) is expected


def test_files_and_folders_of_another_owner_are_given_to_root(tmp_path):
    """As the file and template tasks it replaces did (owner: root, group: root)."""
    run_module_file(MODULE, _args(tmp_path))
    os.chown(tmp_path / "etc" / "rules.nft", 1000, 1000)
    os.chown(tmp_path / "etc" / "d", 0, 1000)
    result = run_module_file(MODULE, _args(tmp_path))
    assert result["written"] == [str(tmp_path / "etc" / "d"), "ruleset"] and result["diff"] == []
    for path in (tmp_path / "etc" / "rules.nft", tmp_path / "etc" / "d"):
        assert (os.stat(path).st_uid, os.stat(path).st_gid) == (0, 0)
    assert run_module_file(MODULE, _args(tmp_path))["changed"] is False


@pytest.fixture
def fake_nft(tmp_path, monkeypatch):
    """nft and unshare stand-ins on PATH: `nft -s list table` prints the table named in tables/<name>
    (rc 1 when there is none: nft's answer for a table not loaded), `nft -f FILE` loads FILE's text as
    the table, as long as it runs in the namespace unshare makes (NFT_NS set)."""
    bin_dir, tables = tmp_path / "bin", tmp_path / "tables"
    bin_dir.mkdir()
    tables.mkdir()
    (bin_dir / "nft").write_text(
        '#!/bin/sh\n'
        'dir=%s; [ -n "$NFT_NS" ] && dir=$NFT_NS\n'
        'if [ "$1" = -f ]; then cp "$2" "$dir/loaded"; exit 0; fi\n'
        'if [ "$1" = -c ]; then exit 0; fi\n'
        'echo "nft $*" >> %s/nft.log\n'
        'f="$dir/$5"; [ -n "$NFT_NS" ] && f="$dir/loaded"\n'
        '[ -e "$f" ] || { echo "Error: No such file or directory" >&2; exit 1; }\n'
        'cat "$f"\n' % (tables, tmp_path), encoding="ascii")
    (bin_dir / "unshare").write_text(
        '#!/bin/sh\n[ "$1" = --net ] || exit 2\nshift\nNFT_NS=$(mktemp -d) exec "$@"\n', encoding="ascii")
    for name in ("nft", "unshare"):
        os.chmod(bin_dir / name, 0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (bin_dir, os.environ["PATH"]))
    return tables


def test_reads_the_live_table_before_writing_and_the_wanted_one_only_for_an_unchanged_ruleset(tmp_path, fake_nft):
    args = dict(_args(tmp_path, ruleset="table inet t {}\n", validate="nft -c -f %s"), nft_table="t")
    first = run_module_file(MODULE, args)
    assert first["live"] == {"rc": 1, "stdout": "", "stderr": "Error: No such file or directory"}, first
    assert "ruleset" in first["written"] and "wanted" not in first
    (fake_nft / "t").write_text("table inet t {}\n", encoding="ascii")  # loaded as the file says
    same = run_module_file(MODULE, args)
    assert same["written"] == [] and same["live"]["stdout"] == "table inet t {}"
    assert same["wanted"] == {"rc": 0, "stdout": "table inet t {}", "stderr": ""}
    (fake_nft / "t").write_text("table inet t { chain edited-by-hand {} }\n", encoding="ascii")
    edited = run_module_file(MODULE, args, check=True)
    assert edited["live"]["stdout"] != edited["wanted"]["stdout"]  # check mode reads both too


def test_without_nft_table_nothing_is_read(tmp_path, fake_nft):
    result = run_module_file(MODULE, _args(tmp_path))
    assert "live" not in result and "wanted" not in result
    assert not (tmp_path / "nft.log").exists()


def test_a_live_read_that_fails_otherwise_than_no_table_fails_the_run_before_writing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")  # no nft at all
    result = run_module_file(MODULE, dict(_args(tmp_path, validate="true %s"), nft_table="t"))
    assert result["failed"] is True and result["msg"].startswith("`nft -s list table inet t` failed (rc 127)")
    assert not (tmp_path / "etc").exists()
    checked = run_module_file(MODULE, dict(_args(tmp_path, validate="true %s"), nft_table="t"), check=True)
    assert not checked.get("failed") and checked["live"]["rc"] == 127


def test_listing_drops_the_final_line_break_as_the_command_module_does():
    class Done:
        returncode, stdout, stderr = 0, "table inet t {\n}\n", ""
    assert FILES.listing(["nft"], runner=lambda *a, **k: Done()) == {"rc": 0, "stdout": "table inet t {\n}", "stderr": ""}
    assert FILES.wanted_table_argv("/etc/x.nft", "t")[:3] == ["unshare", "--net", "sh"]
