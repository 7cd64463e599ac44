#!/usr/bin/python
"""Put several small root-owned files in place in one module run, each checked before it replaces the old one."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: pacs_firewall_files
short_description: Put the firewall's folders and small files in place in one module run
description:
  - "What several C(file) and C(template) tasks would do, in one module run (over SSH each of those
    costs one to three round trips): create O(directories), then write each of O(files) whose
    content or mode differs. The content is rendered on the controller (C(lookup('template', ...)))."
  - Folders and files are owned by root:root (as the C(file) and C(template) tasks it replaces had
    them); a folder or file of another owner or mode is given ours.
  - A file is written to a temporary file beside it, checked with its O(files[].validate)
    command when it has one (C(%s) is the temporary file), and only then moved over the old one
    (atomically). A failed check fails the module naming the file and the checker's output; the
    old file stays as it was, and the files after it in the list are not written.
  - In check mode nothing is written; what would change is reported, with its diff.
options:
  directories:
    description: Folders to create first (missing parents too, with the default mode, as the file module does).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the folder.
        type: path
        required: true
      mode:
        description: Its mode, an octal string.
        type: str
        required: true
  files:
    description: Files to write, in order.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: A short name of the file, listed in RV(written) when it changed (the caller's conditions use it).
        type: str
        required: true
      path:
        description: Absolute path of the file.
        type: path
        required: true
      content:
        description: What the file holds.
        type: str
        required: true
      mode:
        description: Its mode, an octal string.
        type: str
        required: true
      validate:
        description: A command that checks the candidate file, C(%s) standing for its path; run without a shell.
        type: str
author: pacs-provisioner
"""

EXAMPLES = r"""
- name: Install the unit and the ruleset
  pacs_firewall_files:
    directories:
      - {path: /etc/nftables.d, mode: "0700"}
    files:
      - name: unit
        path: /etc/systemd/system/pacs-firewall.service
        content: "{{ lookup('ansible.builtin.template', 'pacs-firewall.service.j2') }}"
        mode: "0644"
      - name: ruleset
        path: /etc/nftables.d/pacs_provisioner.nft
        content: "{{ lookup('ansible.builtin.template', 'pacs_provisioner.nft.j2') }}"
        mode: "0600"
        validate: nft -c -f %s
  register: __pacs_firewall_files
"""

RETURN = r"""
written:
  description: The names of the files and the paths of the folders that changed (would change, in check mode), in order.
  type: list
  elements: str
  returned: always
  sample: [/etc/nftables.d, unit, ruleset]
"""


def attributes(path: str) -> tuple[int, int, int]:
    """(mode bits, uid, gid) of path."""
    stat = os.stat(path)
    return stat.st_mode & 0o7777, stat.st_uid, stat.st_gid


def read_file(path: str) -> tuple[str | None, tuple[int, int, int] | None]:
    """The text and attributes() of a file; (None, None) when there is none."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            text = handle.read()
        return text, attributes(path)
    except FileNotFoundError:
        return None, None


def file_changes(current: str | None, current_attributes: tuple | None, content: str, mode: int) -> bool:
    """Whether a file must be written: absent, other content, another mode, or not root's."""
    return current is None or current != content or current_attributes != (mode, 0, 0)


def validate_argv(command: str, path: str) -> list[str]:
    """The argv of a validate command with %s replaced by path (split like a shell would, no shell)."""
    if "%s" not in command:
        raise ValueError("validate command %r has no %%s" % (command,))
    return [part.replace("%s", path) for part in shlex.split(command)]


def diff_of(path: str, current: str | None, content: str) -> dict:
    """One diff in the form Ansible's callbacks show."""
    return {"before_header": path, "after_header": path, "before": current or "", "after": content}


def write_checked(module: AnsibleModule, item: dict, mode: int) -> None:
    """Write item's content beside its path, check it, move it in place; fail the module if the check fails."""
    folder = os.path.dirname(item["path"])
    handle, candidate = tempfile.mkstemp(prefix=".%s." % os.path.basename(item["path"]), dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", errors="surrogateescape") as out:
            out.write(item["content"])
        os.chown(candidate, 0, 0)
        os.chmod(candidate, mode)
        if item.get("validate"):
            argv = validate_argv(item["validate"], candidate)
            proc = subprocess.run(argv, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                module.fail_json(msg="%s: the check `%s` refused the new file (rc %d): %s" % (
                    item["path"], item["validate"], proc.returncode,
                    (proc.stderr or proc.stdout).strip() or "no output"))
        # atomic_move keeps an existing file's mode and owner (and sets SELinux contexts): set ours after it.
        module.atomic_move(candidate, item["path"])
        os.chown(item["path"], 0, 0)
        os.chmod(item["path"], mode)
    finally:
        if os.path.exists(candidate):
            os.remove(candidate)


def main():
    """Entry point of the module."""
    module = AnsibleModule(
        argument_spec={
            "directories": {"type": "list", "elements": "dict", "default": [], "options": {
                "path": {"type": "path", "required": True},
                "mode": {"type": "str", "required": True},
            }},
            "files": {"type": "list", "elements": "dict", "default": [], "options": {
                "name": {"type": "str", "required": True},
                "path": {"type": "path", "required": True},
                "content": {"type": "str", "required": True},
                "mode": {"type": "str", "required": True},
                "validate": {"type": "str"},
            }},
        },
        supports_check_mode=True,
    )
    written, diffs = [], []
    for folder in module.params["directories"]:
        mode = int(folder["mode"], 8)
        exists = os.path.isdir(folder["path"])
        if exists and attributes(folder["path"]) == (mode, 0, 0):
            continue
        written.append(folder["path"])
        if not module.check_mode:
            if not exists:
                os.makedirs(folder["path"], mode)  # missing parents with the default mode, as the file module does
            os.chown(folder["path"], 0, 0)
            os.chmod(folder["path"], mode)
    for item in module.params["files"]:
        mode = int(item["mode"], 8)
        current, current_attributes = read_file(item["path"])
        if not file_changes(current, current_attributes, item["content"], mode):
            continue
        written.append(item["name"])
        if current != item["content"]:
            diffs.append(diff_of(item["path"], current, item["content"]))
        if not module.check_mode:
            write_checked(module, item, mode)
    module.exit_json(changed=bool(written), written=written, diff=diffs)


if __name__ == "__main__":
    main()
