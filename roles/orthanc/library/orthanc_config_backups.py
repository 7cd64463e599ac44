#!/usr/bin/python
"""Keep only the newest backups of orthanc.json (they hold the secrets too)."""

from __future__ import annotations

import os
import re

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: orthanc_config_backups
short_description: Keep only the newest backups of a configuration file
description:
  - >-
    The template module's C(backup) writes C(<file>.<pid>.<date>@<time>~) next to the file. Those
    backups hold the same secrets as the file: this module removes all but the newest O(keep) of
    them (newest by modification time, then by name).
  - Only regular files whose name is O(name), a dot, anything, and a final C(~) are considered.
  - In check mode nothing is removed; what would be is reported.
options:
  path:
    description: The folder of the file.
    type: path
    required: true
  name:
    description: The file name whose backups are pruned.
    type: str
    default: orthanc.json
  keep:
    description: How many of the newest backups to keep (0 removes them all).
    type: int
    required: true
author: pacs-provisioner
"""

EXAMPLES = r"""
- name: Keep the three newest backups of orthanc.json
  orthanc_config_backups:
    path: /etc/orthanc
    keep: 3
"""

RETURN = r"""
removed:
  description: The backups removed (in check mode, that would be), oldest first.
  type: list
  elements: str
  returned: always
  sample: [orthanc.json.1234.2026-11-30@10:00:00~]
"""


def is_backup(file_name: str, name: str) -> bool:
    """Whether file_name is a backup of name as the template module names them (<name>.<stamp>~)."""
    return re.fullmatch(re.escape(name) + r"\..+~", file_name) is not None


def to_remove(backups: list[tuple[str, float]], keep: int) -> list[str]:
    """The names to remove, oldest first, from (name, mtime) pairs: all but the newest `keep`."""
    if keep < 0:
        raise ValueError("keep must be 0 or more, got %d" % keep)
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


def run(params: dict, check_mode: bool) -> dict:
    """Remove what needs it (nothing in check mode); the module's result."""
    removed = to_remove(backups_in(params["path"], params["name"]), params["keep"])
    if not check_mode:
        for file_name in removed:
            os.remove(os.path.join(params["path"], file_name))
    return {"changed": bool(removed), "removed": removed}


def main():
    """Entry point of the module."""
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "name": {"type": "str", "default": "orthanc.json"},
            "keep": {"type": "int", "required": True},
        },
        supports_check_mode=True,
    )
    try:
        module.exit_json(**run(module.params, module.check_mode))
    except (ValueError, OSError) as err:
        module.fail_json(msg="cannot prune the backups of %s in %s: %s" % (
            module.params["name"], module.params["path"], err))


if __name__ == "__main__":
    main()
