"""The orthanc_upgrade_index module (roles/orthanc/library): its functions, and the module as
Ansible runs it on an index written by a real Orthanc 1.10.1 (local/orthanc:1.10.1, container
names start with pp-unit-upgrade-) holding a real DICOM file sent through its REST API."""

import datetime
import functools
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest
from module_run import load_module_file
from module_run import run_module_file as run_any_module_file
from pydicom.data import get_testdata_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULE = os.path.join(ROOT, "roles", "orthanc", "library", "orthanc_upgrade_index.py")
UTILS = os.path.join(ROOT, "roles", "orthanc", "module_utils", "orthanc_upgrade_marker.py")
# The module imports the role's module_utils as Ansible ships it (ansible.module_utils.<name>).
UPGRADE = load_module_file(MODULE, "orthanc_upgrade_index", {"orthanc_upgrade_marker": UTILS})
MARKER = sys.modules["ansible.module_utils.orthanc_upgrade_marker"]
run_module_file = functools.partial(run_any_module_file, module_utils={"orthanc_upgrade_marker": UTILS})
IMAGE = "local/orthanc:1.10.1"


def test_backup_name_is_dated_and_file_safe():
    now = datetime.datetime(2026, 12, 1, 4, 5, 6, tzinfo=datetime.timezone.utc)
    assert UPGRADE.backup_name("package 1.10.1/x", now) == "orthanc-index-package_1.10.1_x-20261201T040506Z"
    assert UPGRADE.backup_name("", now) == "orthanc-index-index-20261201T040506Z"


def test_inside_resolves_paths():
    assert UPGRADE.inside("/var/lib/orthanc/db-v6/backup", "/var/lib/orthanc/db-v6")
    assert UPGRADE.inside("/var/lib/orthanc/db-v6", "/var/lib/orthanc/db-v6/")
    assert not UPGRADE.inside("/var/lib/orthanc/db-v6-backups", "/var/lib/orthanc/db-v6")


def test_space_problem_names_place_and_sizes():
    assert UPGRADE.space_problem(10, 10, "/srv") is None
    assert UPGRADE.space_problem(11, 10, "/srv") == \
        "not enough space for the index backup in /srv: 10 bytes free, 11 needed"


def test_missing_storage_inspects_as_empty(tmp_path):
    answer = UPGRADE.inspect(str(tmp_path / "none"), str(tmp_path / "none"))
    assert answer["exists"] is False and answer["counts"] == UPGRADE.empty_counts() and answer["storage_owner"] is None


def test_marker_that_is_not_an_object_is_ignored(tmp_path):
    (tmp_path / UPGRADE.MARKER).write_text("[1]", encoding="utf-8")
    assert UPGRADE.read_marker(str(tmp_path)) is None
    (tmp_path / UPGRADE.MARKER).write_text('{"method": "package"}', encoding="utf-8")
    assert UPGRADE.read_marker(str(tmp_path)) == {"method": "package"}


def docker(*args):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout.strip()


def request(url, data=None):
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as answer:
        return json.loads(answer.read())


@pytest.fixture(scope="module")
def real_index(tmp_path_factory):
    """A storage folder written by a real Orthanc 1.10.1 holding CT_small.dcm, Orthanc stopped."""
    if shutil.which("docker") is None:
        pytest.skip("docker is not available")
    base = tmp_path_factory.mktemp("upgrade")
    (base / "db").mkdir()
    (base / "etc").mkdir()
    (base / "etc" / "orthanc.json").write_text(json.dumps(
        {"StorageDirectory": "/var/lib/orthanc/db", "RemoteAccessAllowed": True,
         "AuthenticationEnabled": False}), encoding="utf-8")
    name = "pp-unit-upgrade-%s" % uuid.uuid4().hex[:6]
    docker("run", "-d", "--name", name, "-v", "%s:/var/lib/orthanc/db" % (base / "db"),
           "-v", "%s:/etc/orthanc:ro" % (base / "etc"), IMAGE)
    try:
        address = docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name)
        url = "http://%s:8042" % address
        for _ in range(60):
            try:
                request(url + "/system")
                break
            except OSError:
                time.sleep(0.5)
        with open(get_testdata_file("CT_small.dcm"), "rb") as handle:
            request(url + "/instances", handle.read())
        statistics = request(url + "/statistics")
        running = UPGRADE.inspect(str(base / "db"), str(base / "db"))
        start = time.perf_counter()
        running["quick"] = UPGRADE.inspect(str(base / "db"), str(base / "db"), busy_timeout=0)
        running["quick_seconds"] = time.perf_counter() - start
        docker("stop", name)
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True, check=False)
    return base, statistics, running


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_running_orthanc_keeps_its_index_locked(real_index):
    _, _, running = real_index
    assert running["exists"] is True and running["counts"] is None and "locked" in running["error"]


def test_the_inspection_of_every_run_does_not_wait_for_the_lock(real_index):
    """Every run inspects the index of a running Orthanc: SQLite's 5 s busy wait cost each no-op 5 s."""
    _, _, running = real_index
    quick = running["quick"]
    assert quick["exists"] is True and quick["counts"] is None and "locked" in quick["error"]
    assert quick["marker"] == running["marker"]
    assert running["quick_seconds"] < 1.0


def test_inspect_counts_what_orthanc_counts(real_index, tmp_path):
    base, statistics, _ = real_index
    answer = run_module_file(MODULE, {"storage": str(base / "db")}, tmp_path)
    assert answer["changed"] is False and answer["schema"] == 6 and answer["error"] is None
    assert answer["counts"] == {k: statistics[k] for k in UPGRADE.LEVELS.values()} == \
        {"CountPatients": 1, "CountStudies": 1, "CountSeries": 1, "CountInstances": 1}


def test_backup_inside_the_storage_is_refused(real_index, tmp_path):
    base, _, _ = real_index
    answer = run_module_file(MODULE, {"action": "backup", "storage": str(base / "db"),
                                      "backup_root": str(base / "db" / "backups")}, tmp_path)
    assert answer["failed"] is True and "lies inside the storage" in answer["msg"]
    assert not (base / "db" / "backups").exists()


def test_backup_then_restore_gives_back_the_same_index(real_index, tmp_path):
    base, _, _ = real_index
    storage = tmp_path / "db"
    shutil.copytree(base / "db", storage)
    (storage / UPGRADE.MARKER).write_text('{"method": "package", "version": "1.10.1"}', encoding="utf-8")
    before = run_module_file(MODULE, {"storage": str(storage)}, tmp_path)
    check = run_module_file(MODULE, {"action": "backup", "storage": str(storage), "backup_root": str(tmp_path),
                                     "label": "package-1.10.1"}, tmp_path, check=True)
    assert check["changed"] is True and not os.path.exists(check["path"])
    backup = run_module_file(MODULE, {"action": "backup", "storage": str(storage), "backup_root": str(tmp_path),
                                      "label": "package-1.10.1"}, tmp_path)
    assert backup["changed"] is True and os.path.basename(backup["path"]).startswith("orthanc-index-package-1.10.1-")
    # Ansible fills `owner` with a user name when `path` is returned: the numeric owner has its own key.
    assert backup["storage_owner"] == {"uid": os.stat(storage).st_uid, "gid": os.stat(storage).st_gid}
    copied = run_module_file(MODULE, {"storage": backup["path"]}, tmp_path)
    assert copied["counts"] == before["counts"] and copied["schema"] == 6
    assert copied["marker"] == {"method": "package", "version": "1.10.1"}
    # What a failed new version may leave behind: another index and marker.
    (storage / "index").write_bytes(b"broken")
    (storage / UPGRADE.MARKER).write_text('{"method": "container"}', encoding="utf-8")
    restored = run_module_file(MODULE, {"action": "restore", "storage": str(storage),
                                        "backup": backup["path"]}, tmp_path)
    assert restored["changed"] is True and restored["counts"] == before["counts"]
    assert restored["marker"] == {"method": "package", "version": "1.10.1"}
    assert sha256(storage / "index") == sha256(tmp_path / os.path.basename(backup["path"]) / "index")


def test_backup_refuses_without_an_index(tmp_path):
    (tmp_path / "db").mkdir()
    answer = run_module_file(MODULE, {"action": "backup", "storage": str(tmp_path / "db"),
                                      "backup_root": str(tmp_path)}, tmp_path)
    assert answer["failed"] is True and "no readable index" in answer["msg"]


def test_chown_reports_and_changes_owners(real_index, tmp_path):
    base, _, _ = real_index
    storage = tmp_path / "db"
    shutil.copytree(base / "db", storage)
    if os.geteuid() != 0:
        pytest.skip("chown needs root")
    args = {"action": "chown", "storage": str(storage), "owner": 999, "group": 999}
    check = run_module_file(MODULE, args, tmp_path, check=True)
    assert check["changed"] is True and check["entries"] > 2 and os.stat(storage / "index").st_uid == 0
    done = run_module_file(MODULE, args, tmp_path)
    assert done["entries"] == check["entries"]
    assert {(os.stat(os.path.join(d, n)).st_uid, os.stat(os.path.join(d, n)).st_gid)
            for d, _, files in os.walk(storage) for n in files} == {(999, 999)}
    assert run_module_file(MODULE, args, tmp_path)["changed"] is False


@pytest.mark.parametrize("debian, upstream", [("1.10.1+dfsg-2", "1.10.1"), ("1:1.12.7+dfsg-1~bpo12+1", "1.12.7"),
                                              ("1.12.7-1", "1.12.7"), ("", "")])
def test_upstream_version(debian, upstream):
    assert MARKER.upstream_version(debian) == upstream


IMAGE_REF = "orthancteam/orthanc:26.8.1"


@pytest.mark.parametrize("marker, method, package, running, expected", [
    # No marker: the package installed already, or the container running this image already.
    (None, "package", "1.10.1+dfsg-2", "", True),
    (None, "package", "", "", False),                      # a new host on an old disk
    (None, "container", "", IMAGE_REF, True),
    (None, "container", "", "orthancteam/orthanc:24.12.1", False),
    (None, "container", "1.10.1+dfsg-2", "", False),       # package to container
    # A marker: the same method and upstream version (a Debian point release is no upgrade).
    ({"method": "package", "version": "1.12.7"}, "package", "1.12.7+dfsg-1+deb13u1", "", True),
    ({"method": "package", "version": "1.10.1"}, "package", "1.12.7+dfsg-1", "", False),
    ({"method": "package", "version": "1.12.7"}, "package", "", "", False),
    ({"method": "package", "version": "1.12.7"}, "container", "1.12.7+dfsg-1", IMAGE_REF, False),
    ({"method": "container", "image": IMAGE_REF}, "container", "", IMAGE_REF, True),
    ({"method": "container", "image": IMAGE_REF}, "package", "1.12.7+dfsg-1", "", False),
])
def test_ran_here(marker, method, package, running, expected):
    assert MARKER.ran_here(marker, method, package, running, IMAGE_REF) is expected


def test_inspect_answers_whether_an_upgrade_is_needed(real_index, tmp_path):
    base, _, _ = real_index
    storage = str(base / "db")
    fresh = run_module_file(MODULE, {"storage": str(tmp_path / "none"), "method": "package"}, tmp_path)
    assert fresh["upgrade_needed"] is False
    new_host = run_module_file(MODULE, {"storage": storage, "method": "package"}, tmp_path)
    assert new_host["upgrade_needed"] is True
    same = run_module_file(MODULE, {"storage": storage, "package_version": "1.10.1+dfsg-2"}, tmp_path)
    assert same["upgrade_needed"] is False


def test_existing_folder_climbs_to_what_exists(tmp_path):
    assert UPGRADE.existing_folder(str(tmp_path)) == str(tmp_path)
    assert UPGRADE.existing_folder(str(tmp_path / "a" / "b")) == str(tmp_path)
    assert UPGRADE.existing_folder("relative/none") == os.getcwd()


def test_read_only_uri_is_immutable_only_without_a_write_ahead_log(tmp_path):
    index = tmp_path / "a folder#1" / "index"
    index.parent.mkdir()
    index.write_bytes(b"")
    assert UPGRADE.read_only_uri(str(index)) == \
        "file:%s/a%%20folder%%231/index?mode=ro&immutable=1" % tmp_path
    (index.parent / "index-wal").write_bytes(b"")
    assert UPGRADE.read_only_uri(str(index)) == "file:%s/a%%20folder%%231/index?mode=ro" % tmp_path


def folder_state(folder):
    """Names, sizes, mtimes and owners of a folder and what it holds."""
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns, p.stat().st_uid) for p in [folder, *folder.iterdir()]}


def test_inspect_and_backup_leave_the_storage_as_they_found_it(real_index, tmp_path):
    base, _, _ = real_index
    storage = tmp_path / "db"
    shutil.copytree(base / "db", storage)
    before = folder_state(storage)
    assert run_module_file(MODULE, {"storage": str(storage)}, tmp_path)["schema"] == 6
    backup = run_module_file(MODULE, {"action": "backup", "storage": str(storage),
                                      "backup_root": str(tmp_path / "backups")}, tmp_path)
    assert backup["changed"] is True and os.path.isfile(os.path.join(backup["path"], "index"))
    # A read-only SQLite connection to a WAL index would leave index-wal and index-shm here.
    assert folder_state(storage) == before


def test_backup_of_a_locked_index_is_reported_in_check_mode_and_refused_for_real(real_index, tmp_path):
    base, _, _ = real_index
    storage = tmp_path / "db"
    shutil.copytree(base / "db", storage)
    # What a running Orthanc does with its index (SQLiteDatabaseWrapper): WAL, exclusive locking.
    holder = sqlite3.connect(str(storage / "index"))
    try:
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("PRAGMA journal_mode=WAL")
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("UPDATE GlobalProperties SET value = value WHERE property = 1")
        args = {"action": "backup", "storage": str(storage), "backup_root": str(tmp_path / "backups")}
        check = run_module_file(MODULE, args, tmp_path, check=True)
        assert check["changed"] is True and check["counts"] is None and check["schema"] is None
        assert "locked" in check["error"] and not (tmp_path / "backups").exists()
        real = run_module_file(MODULE, args, tmp_path)
        assert real["failed"] is True and "no readable index" in real["msg"] and "locked" in real["msg"]
        assert not (tmp_path / "backups").exists()
    finally:
        holder.close()
