#!/usr/bin/python
"""Read, back up, restore and hand over Orthanc's SQLite index around an upgrade."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import sqlite3
import urllib.parse

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.orthanc_upgrade_marker import MARKER_FILE as MARKER
from ansible.module_utils.orthanc_upgrade_marker import RUN_ARGUMENT_SPEC, upgrade_needed

DOCUMENTATION = r"""
module: orthanc_upgrade_index
short_description: Read, back up, restore and hand over Orthanc's SQLite index around an upgrade
description:
  - Orthanc's default database is an SQLite file named C(index) in its IndexDirectory (by default
    the storage folder). Its table C(GlobalProperties) holds the schema version under property 1;
    its table C(Resources) one row per patient, study, series and instance (C(resourceType) 1 to 4).
  - C(inspect) reads (read-only) whether the index exists, its schema version, how many resources of
    each level it holds, its size, the owner of the storage folder and the marker file the role wrote
    after the last checked upgrade (C(.pacs-provisioner-orthanc.json) in the storage folder).
  - C(backup) writes a consistent copy of the index (SQLite's online backup, so a write-ahead log is
    folded in) and of the marker to a new dated folder under O(backup_root), which must be outside
    the storage folder. It refuses when the file system of O(backup_root) lacks twice the index size.
  - C(restore) puts the index and marker of the folder O(backup) back into the storage folder
    (removing a stale C(index-wal)/C(index-shm)).
  - C(chown) gives every file and folder under the storage folder to O(owner):O(group).
  - >-
    In check mode nothing is written; what would change is reported. C(backup) then also accepts an
    index that a running Orthanc keeps locked (it would be stopped first): its counts and schema are null.
options:
  action:
    description: What to do.
    type: str
    choices: [inspect, backup, restore, chown]
    default: inspect
  storage:
    description: The storage folder (StorageDirectory).
    type: path
    required: true
  index_dir:
    description: The folder of the C(index) file (IndexDirectory); the storage folder when empty.
    type: path
  backup_root:
    description: The folder that receives the dated backup folder (C(backup)).
    type: path
  label:
    description: A word put into the backup folder's name (C(backup)), e.g. the version being left.
    type: str
    default: index
  backup:
    description: The backup folder to restore from (C(restore)).
    type: path
  owner:
    description: The numeric user id that must own the storage (C(chown)).
    type: int
  group:
    description: The numeric group id that must own the storage (C(chown)).
    type: int
  method:
    description: The install method of this run (C(inspect) answers O(upgrade_needed) for it).
    type: str
    choices: [package, container]
    default: package
  package_version:
    description: The installed orthanc package's Debian version, empty when not installed.
    type: str
    default: ""
  package_candidate:
    description: >-
      The orthanc package version this run installs when none is installed: with a marker naming
      the same version (a disk moved to a twin host) no upgrade is needed.
    type: str
    default: ""
  container_image:
    description: The image of the Orthanc container that exists on the host, empty when none.
    type: str
    default: ""
  image:
    description: The image this run runs (container method).
    type: str
    default: ""
author: pacs-provisioner
"""

EXAMPLES = r"""
- name: Back up the index before another Orthanc opens it
  orthanc_upgrade_index:
    action: backup
    storage: /var/lib/orthanc/db-v6
    backup_root: /var/lib/orthanc
    label: package-1.10.1
"""

RETURN = r"""
exists:
  description: Whether the index file exists (C(inspect)).
  type: bool
  returned: always
schema:
  description: The schema version stored in the index (GlobalProperties property 1), or null.
  type: int
  returned: always
error:
  description: Why the index could not be read (a running Orthanc keeps it locked), or null.
  type: str
  returned: always
counts:
  description: Patients, studies, series and instances in the index, named as GET /statistics names them (null when unreadable).
  type: dict
  returned: always
  sample: {CountPatients: 2, CountStudies: 3, CountSeries: 4, CountInstances: 9}
marker:
  description: The marker the role wrote after the last checked upgrade, or null.
  type: dict
  returned: always
storage_owner:
  description: The numeric uid and gid owning the storage folder, or null (not C(owner), which Ansible fills with a user name when C(path) is returned).
  type: dict
  returned: always
upgrade_needed:
  description: An index exists that the Orthanc of this run (O(method), O(package_version), O(image)) has not run on.
  type: bool
  returned: always
path:
  description: The backup folder written (C(backup)).
  type: str
  returned: when action is backup
"""

INDEX = "index"
SCHEMA_PROPERTY = 1
# Orthanc's ResourceType as stored in the Resources table, named as GET /statistics names them.
LEVELS = {1: "CountPatients", 2: "CountStudies", 3: "CountSeries", 4: "CountInstances"}


def empty_counts() -> dict:
    """The counts of an index that holds nothing."""
    return {name: 0 for name in LEVELS.values()}


def read_index(conn: sqlite3.Connection) -> tuple[int | None, dict]:
    """The schema version and the resource counts per level of an open Orthanc index."""
    row = conn.execute("SELECT value FROM GlobalProperties WHERE property = ?", (SCHEMA_PROPERTY,)).fetchone()
    schema = int(row[0]) if row and str(row[0]).strip().isdigit() else None
    counts = empty_counts()
    for level, number in conn.execute("SELECT resourceType, COUNT(*) FROM Resources GROUP BY resourceType"):
        if level in LEVELS:
            counts[LEVELS[level]] = number
    return schema, counts


def backup_name(label: str, now: datetime.datetime) -> str:
    """The dated backup folder's name: orthanc-index-<label>-<UTC stamp> (label made file-safe)."""
    safe = "".join(c if c.isalnum() or c in ".-_" else "_" for c in label) or "index"
    return "orthanc-index-%s-%s" % (safe, now.strftime("%Y%m%dT%H%M%SZ"))


def inside(path: str, folder: str) -> bool:
    """Whether path is folder or lies under it (both made absolute, symlinks resolved)."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def existing_folder(path: str) -> str:
    """path, or its nearest parent that exists (where a folder about to be created would land)."""
    path = os.path.abspath(path)
    while not os.path.isdir(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def space_problem(needed: int, free: int, where: str) -> str | None:
    """A message when `free` bytes on `where` are fewer than `needed`, else None."""
    if free < needed:
        return "not enough space for the index backup in %s: %d bytes free, %d needed" % (where, free, needed)
    return None


def read_only_uri(index: str) -> str:
    """The SQLite URI that opens the index file read-only and leaves its folder as it is.

    Orthanc keeps its index in WAL mode. Without an index-wal or index-shm beside it (Orthanc
    closed it cleanly), a read-only connection would create both and leave them, owned by the
    reader, where Orthanc's user may then not write them: opened immutable, SQLite takes no
    lock and creates nothing, and the main file holds everything. With either present (Orthanc
    runs, and keeps the file locked, or stopped uncleanly), the write-ahead log holds data too.
    """
    quoted = urllib.parse.quote(os.path.abspath(index))
    if any(os.path.exists(index + suffix) for suffix in ("-wal", "-shm")):
        return "file:%s?mode=ro" % quoted
    return "file:%s?mode=ro&immutable=1" % quoted


def read_marker(storage: str) -> dict | None:
    """The marker file's content, or None when it is missing or not a JSON object."""
    try:
        with open(os.path.join(storage, MARKER), encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def inspect(storage: str, index_dir: str, busy_timeout: float = 5.0) -> dict:
    """What the storage holds: index, schema, counts, size, marker, owner (read-only).

    A running Orthanc holds its index locked (exclusive locking mode): SQLite then waits
    busy_timeout seconds before it gives up. The plain inspection of every run passes 0: it
    needs the marker and whether an index exists, not the counts of a locked index.
    """
    index = os.path.join(index_dir, INDEX)
    answer = {"exists": os.path.isfile(index), "schema": None, "counts": empty_counts(), "size": 0,
              "marker": read_marker(storage), "storage_owner": None, "error": None}
    if os.path.isdir(storage):
        st = os.stat(storage)
        answer["storage_owner"] = {"uid": st.st_uid, "gid": st.st_gid}
    if answer["exists"]:
        answer["size"] = sum(os.path.getsize(index + s) for s in ("", "-wal") if os.path.isfile(index + s))
        try:
            conn = sqlite3.connect(read_only_uri(index), uri=True, timeout=busy_timeout)
            try:
                answer["schema"], answer["counts"] = read_index(conn)
            finally:
                conn.close()
        except sqlite3.Error as exc:
            # A running Orthanc holds its index locked: stop it first to count.
            answer["counts"], answer["error"] = None, str(exc)
    return answer


def copy_index(source: str, target: str) -> None:
    """A consistent copy of the SQLite file source at target (SQLite's online backup)."""
    src = sqlite3.connect(read_only_uri(source), uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def chown_tree(root: str, uid: int, gid: int, check: bool) -> int:
    """Give root and everything under it to uid:gid; the number of entries that changed (or would)."""
    changed = 0
    for folder, dirs, files in os.walk(root):
        for path in [folder] + [os.path.join(folder, n) for n in files]:
            st = os.lstat(path)
            if (st.st_uid, st.st_gid) != (uid, gid):
                changed += 1
                if not check:
                    os.lchown(path, uid, gid)
    return changed


def do_backup(module, storage, index_dir, answer):
    """Write the dated backup folder; fail when it would land inside the storage or lacks space."""
    root = module.params["backup_root"]
    if not root:
        module.fail_json(msg="backup_root is required for action backup", **answer)
    if inside(root, storage) or inside(root, index_dir):
        module.fail_json(msg="backup_root %s lies inside the storage %s: Orthanc's folders must not hold "
                             "the backup" % (root, storage), **answer)
    # In check mode the old Orthanc was not stopped: it may keep its index locked.
    if not answer["exists"] or (answer["error"] and not module.check_mode):
        module.fail_json(msg="no readable index in %s to back up (is Orthanc still running?): %s"
                             % (index_dir, answer["error"]), **answer)
    probe = existing_folder(root)
    problem = space_problem(2 * answer["size"] + 1024 * 1024, shutil.disk_usage(probe).free, probe)
    if problem:
        module.fail_json(msg=problem, **answer)
    path = os.path.join(root, backup_name(module.params["label"], datetime.datetime.now(datetime.timezone.utc)))
    if not module.check_mode:
        os.makedirs(path, mode=0o700)
        copy_index(os.path.join(index_dir, INDEX), os.path.join(path, INDEX))
        if os.path.isfile(os.path.join(storage, MARKER)):
            shutil.copy2(os.path.join(storage, MARKER), os.path.join(path, MARKER))
    module.exit_json(changed=True, path=path, **answer)


def do_restore(module, storage, index_dir, answer):
    """Put the backup's index and marker back (the marker removed when the backup had none)."""
    backup = module.params["backup"]
    if not backup or not os.path.isfile(os.path.join(backup, INDEX)):
        module.fail_json(msg="no index backup in %s" % backup, **answer)
    if not module.check_mode:
        for suffix in ("-wal", "-shm", "-journal"):
            if os.path.exists(os.path.join(index_dir, INDEX + suffix)):
                os.remove(os.path.join(index_dir, INDEX + suffix))
        shutil.copy2(os.path.join(backup, INDEX), os.path.join(index_dir, INDEX))
        if os.path.isfile(os.path.join(backup, MARKER)):
            shutil.copy2(os.path.join(backup, MARKER), os.path.join(storage, MARKER))
        elif os.path.isfile(os.path.join(storage, MARKER)):
            os.remove(os.path.join(storage, MARKER))
        answer = inspect(storage, index_dir)
    module.exit_json(changed=True, path=backup, **answer)


def main():
    """Run the action the arguments ask for."""
    module = AnsibleModule(
        argument_spec={
            "action": {"type": "str", "choices": ["inspect", "backup", "restore", "chown"], "default": "inspect"},
            "storage": {"type": "path", "required": True},
            "index_dir": {"type": "path"},
            "backup_root": {"type": "path"},
            "label": {"type": "str", "default": "index"},
            "backup": {"type": "path"},
            "owner": {"type": "int"},
            "group": {"type": "int"},
            **RUN_ARGUMENT_SPEC,
        },
        supports_check_mode=True,
    )
    storage = module.params["storage"]
    index_dir = module.params["index_dir"] or storage
    action = module.params["action"]
    answer = inspect(storage, index_dir, busy_timeout=0 if action == "inspect" else 5.0)
    answer["upgrade_needed"] = upgrade_needed(answer["exists"], answer["marker"], module.params)
    if action == "backup":
        do_backup(module, storage, index_dir, answer)
    elif action == "restore":
        do_restore(module, storage, index_dir, answer)
    elif action == "chown":
        if module.params["owner"] is None or module.params["group"] is None:
            module.fail_json(msg="owner and group are required for action chown", **answer)
        changed = chown_tree(storage, module.params["owner"], module.params["group"], module.check_mode) \
            if os.path.isdir(storage) else 0
        module.exit_json(changed=changed > 0, entries=changed, **answer)
    module.exit_json(changed=False, **answer)


if __name__ == "__main__":
    main()
