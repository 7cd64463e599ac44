#!/usr/bin/python
"""Write orthanc.json (checked first) and its redacted copy, make it the only JSON file Orthanc
reads in its configuration directory, and keep only the newest backups of it (they hold the
secrets too): one module run."""

from __future__ import annotations

import fnmatch
import grp
import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.orthanc_files import write_file
from ansible.module_utils.orthanc_json_check import problem

DOCUMENTATION = r"""
module: orthanc_json_files
short_description: Write orthanc.json, make it the only JSON file Orthanc reads, and prune its backups
description:
  - "With O(content), O(keep) is written first: checked as Orthanc's reader would (C(//) comment
    lines allowed, no NaN or Infinity, an object at the top level) and refused naming the
    problem, its old content backed up with O(backup) (as the template module names backups),
    then replaced atomically, owned by root and O(group), mode O(mode). O(redacted) is written
    to C(<keep>.redacted) the same way: its diff is the one shown (C(--diff)); the content
    itself is never shown or returned. One module run for what three template and copy tasks did."
  - Orthanc reads every C(*.json) in its configuration directory and a top-level key defined
    twice is fatal. The role owns O(keep) (C(orthanc.json)).
  - The files Debian's packages ship there (O(packaged)) stay in place, because dpkg keeps a
    changed configuration file on upgrade and the maintainer scripts expect them (orthanc's
    postinst chowns C(credentials.json)). With O(empty_packaged) each of them that exists and
    does not hold exactly C({}) and a newline is rewritten so, owned by root and O(group),
    mode 0640. One that does not exist (its package is not installed) is never created.
  - Any other regular, not hidden C(*.json) file directly in O(path) is renamed to
    C(<name>.disabled-by-pacs-provisioner) (replacing an earlier one of that name), never merged.
  - With O(keep_backups), the backups of O(keep) that the template module's C(backup) writes
    (C(<keep>.<pid>.<date>@<time>~), regular files) are pruned to the newest O(keep_backups) (newest by
    modification time, then by name), because they hold the same secrets as the file. Pruning is no change
    Orthanc reads, so it is reported in RV(removed), apart from RV(emptied) and RV(renamed).
  - With O(tidy=false) the JSON files are left as they are (only the backups are pruned).
  - In check mode nothing is written, renamed or removed; what would be is reported.
options:
  path:
    description: The configuration directory.
    type: path
    required: true
  group:
    description: The group that owns an emptied file (the one Orthanc runs as).
    type: str
    required: true
  keep:
    description: The file the role renders, left alone.
    type: str
    default: orthanc.json
  packaged:
    description: File names in O(path) shipped by the packages; never renamed.
    type: list
    elements: str
    default: []
  empty_packaged:
    description: Rewrite the O(packaged) files that exist as C({}) (false where no package owns the folder).
    type: bool
    default: true
  tidy:
    description: Empty and rename the JSON files as above (false leaves them; the backups are still pruned).
    type: bool
    default: true
  keep_backups:
    description: How many of the newest backups of O(keep) to keep (0 removes them all); none leaves them.
    type: int
  content:
    description: The text of O(keep) to write (it holds the secrets; never logged); none leaves O(keep) as it is.
    type: str
  redacted:
    description: The text of C(<keep>.redacted), the configuration without its secrets (written with O(content) only).
    type: str
  mode:
    description: The mode of O(keep) and its redacted copy.
    type: str
    default: "0640"
  backup:
    description: Keep the old O(keep) as a backup before it is replaced.
    type: bool
    default: false
author: pacs-provisioner
"""

EXAMPLES = r"""
- name: Make orthanc.json the only JSON file Orthanc reads
  orthanc_json_files:
    path: /etc/orthanc
    group: orthanc
    packaged: [credentials.json, dicomweb.json, worklists.json]
    keep_backups: 3
"""

RETURN = r"""
written:
  description: Which of O(keep) and its redacted copy were (in check mode, would be) written.
  type: list
  elements: str
  returned: always
  sample: [orthanc.json, orthanc.json.redacted]
backup_file:
  description: The backup of the old O(keep).
  type: str
  returned: when O(backup) and O(keep) was replaced
emptied:
  description: The packaged files that were (in check mode, would be) emptied, in the order of O(packaged).
  type: list
  elements: str
  returned: always
  sample: [credentials.json]
renamed:
  description: The other JSON files that were (would be) renamed, sorted.
  type: list
  elements: str
  returned: always
  sample: [extra.json]
removed:
  description: The backups removed (in check mode, that would be), oldest first.
  type: list
  elements: str
  returned: always
  sample: [orthanc.json.1234.2026-11-30@10:00:00~]
"""

EMPTY = "{}\n"
MODE = 0o640
SUFFIX = ".disabled-by-pacs-provisioner"


def needs_emptying(current: str | None) -> bool:
    """Whether a file with this content must be rewritten; None means it does not exist."""
    return current is not None and current != EMPTY


def to_empty(contents: dict[str, str | None], packaged: list[str]) -> list[str]:
    """The packaged names, in order and each once, whose content (None: absent) is not EMPTY."""
    seen: set[str] = set()
    wanted = []
    for name in packaged:
        if name not in seen and needs_emptying(contents.get(name)):
            wanted.append(name)
        seen.add(name)
    return wanted


def to_rename(regular_files: list[str], keep: str, packaged: list[str]) -> list[str]:
    """The names, sorted, of the regular files Orthanc would read besides keep and the packaged ones."""
    return sorted(name for name in regular_files
                  if fnmatch.fnmatchcase(name, "*.json") and not name.startswith(".")
                  and name != keep and name not in packaged)


def regular_files(folder: str) -> list[str]:
    """The names of the regular files (not links, not folders) directly in folder; none
    when the folder does not exist yet (check mode on a fresh host)."""
    try:
        with os.scandir(folder) as entries:
            return [entry.name for entry in entries if entry.is_file(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def read(path: str) -> str | None:
    """The text of the file at path, or None when there is no such file."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            return handle.read()
    except (FileNotFoundError, NotADirectoryError):
        return None


def is_backup(file_name: str, name: str) -> bool:
    """Whether file_name is a backup of name as the template module names them (<name>.<stamp>~)."""
    return re.fullmatch(re.escape(name) + r"\..+~", file_name) is not None


def to_remove(backups: list[tuple[str, float]], keep: int) -> list[str]:
    """The names to remove, oldest first, from (name, mtime) pairs: all but the newest `keep`."""
    if keep < 0:
        raise ValueError("keep_backups must be 0 or more, got %d" % keep)
    ordered = sorted(backups, key=lambda pair: (pair[1], pair[0]))
    return [name for name, _ in ordered[:max(len(ordered) - keep, 0)]]


def backups_in(folder: str, name: str) -> list[tuple[str, float]]:
    """(name, mtime) of the regular files in folder that are backups of name; none without the folder."""
    try:
        with os.scandir(folder) as entries:
            return [(entry.name, entry.stat(follow_symlinks=False).st_mtime) for entry in entries
                    if entry.is_file(follow_symlinks=False) and is_backup(entry.name, name)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def group_id(group: str) -> int:
    """The gid of a group name, or of a number given as text (a container's gid, maybe nameless here)."""
    return int(group) if group.isdigit() else grp.getgrnam(group).gr_gid


def write_config(params: dict, check_mode: bool, backup) -> dict:
    """Write keep (checked first) and its redacted copy where they differ (nothing in check mode).

    backup(path) keeps a copy of the old file and returns its path. Returns {written, diff,
    backup_file}; raises ValueError naming the problem of a content Orthanc would refuse.
    """
    folder, keep = params["path"], params["keep"]
    reason = problem(params["content"])
    if reason:
        raise ValueError("%s: Orthanc would refuse it: %s" % (keep, reason))
    mode, result = int(params["mode"], 8), {"written": [], "diff": []}
    for name, text in ((keep, params["content"]), (keep + ".redacted", params["redacted"])):
        if text is None:
            continue
        path = os.path.join(folder, name)
        old = read(path)
        if old == text and _owned(path, params["group"], mode):
            continue
        # Another owner or mode is written again too (a change, as the template module reports it).
        result["written"].append(name)
        if name != keep and old != text:
            result["diff"].append({"before_header": path, "after_header": path, "before": old or "", "after": text})
        if not check_mode:
            if name == keep and old is not None and old != text and params["backup"]:
                result["backup_file"] = backup(path)
            write_file(path, text, group_id(params["group"]), mode)
    return result


def _owned(path: str, group: str, mode: int) -> bool:
    """Whether the file at path is owned by root and group with mode (else it is written again)."""
    try:
        info = os.stat(path)
        return (info.st_uid, info.st_gid, info.st_mode & 0o7777) == (0, group_id(group), mode)
    except KeyError:  # a group this host does not know yet (check mode on a fresh host)
        return False


def run(params: dict, check_mode: bool, backup=None) -> dict:
    """Write orthanc.json when given, then empty, rename and prune what needs it (nothing in
    check mode); the module's result."""
    written = (write_config(params, check_mode, backup) if params.get("content") is not None
               else {"written": [], "diff": []})
    folder, packaged = params["path"], params["packaged"]
    emptied = (to_empty({name: read(os.path.join(folder, name)) for name in packaged}, packaged)
               if params["empty_packaged"] and params["tidy"] else [])
    renamed = to_rename(regular_files(folder), params["keep"], packaged) if params["tidy"] else []
    removed = ([] if params["keep_backups"] is None
               else to_remove(backups_in(folder, params["keep"]), params["keep_backups"]))
    if not check_mode:
        for name in removed:
            os.remove(os.path.join(folder, name))
        if emptied:
            gid = grp.getgrnam(params["group"]).gr_gid
            for name in emptied:
                write_file(os.path.join(folder, name), EMPTY, gid, MODE)
        for name in renamed:
            os.replace(os.path.join(folder, name), os.path.join(folder, name + SUFFIX))
    diff = ([{"before_header": os.path.join(folder, name), "after_header": os.path.join(folder, name),
              "before": "(content of a package's configuration file)\n", "after": EMPTY} for name in emptied]
            + [{"before_header": os.path.join(folder, name), "after_header": os.path.join(folder, name + SUFFIX),
                "before": "", "after": ""} for name in renamed])
    result = {"changed": bool(written["written"] or emptied or renamed or removed), "emptied": emptied,
              "renamed": renamed, "removed": removed, "diff": written["diff"] + diff, "written": written["written"]}
    if "backup_file" in written:
        result["backup_file"] = written["backup_file"]
    return result


def main():
    """Entry point of the module."""
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "group": {"type": "str", "required": True},
            "keep": {"type": "str", "default": "orthanc.json"},
            "packaged": {"type": "list", "elements": "str", "default": []},
            "empty_packaged": {"type": "bool", "default": True},
            "tidy": {"type": "bool", "default": True},
            "keep_backups": {"type": "int"},
            "content": {"type": "str", "no_log": True},
            "redacted": {"type": "str"},
            "mode": {"type": "str", "default": "0640"},
            "backup": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    try:
        module.exit_json(**run(module.params, module.check_mode, module.backup_local))
    except (KeyError, OSError, ValueError) as err:
        # The messages name files and problems, never the content (it holds the secrets).
        module.fail_json(msg="cannot write orthanc.json or make it the only JSON file in %s: %s"
                         % (module.params["path"], err))


if __name__ == "__main__":
    main()
