#!/usr/bin/python
"""Put several small root-owned files in place in one module run, each checked before it replaces the old one."""

from __future__ import annotations

import os
import subprocess

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pacs_firewall_write import write_checked

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
  - With O(nft_table) (the nftables backend), the same run reads that table as it is loaded now,
    before any file is written (RV(live), which the rollback holds), and, when the file named
    C(ruleset) is unchanged, the table as that file loads it, in a network namespace of its own
    where nothing of the host changes (RV(wanted)). A table flushed or edited by hand differs
    from it. Both listings are stateless (C(nft -s)), read in check mode too. That was two
    C(command) tasks (two module runs).
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
  nft_table:
    description: The C(inet) table to read (RV(live), RV(wanted)); none, nothing is read.
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
live:
  description: C(nft -s list table inet) O(nft_table) before anything was written, its C(rc) (non-zero, the table is not loaded) and C(stdout).
  type: dict
  returned: with O(nft_table)
  sample: {rc: 0, stdout: "table inet pacs_provisioner {\n..."}
wanted:
  description: >-
    The same listing of the table as the unchanged C(ruleset) file loads it, in a network namespace
    of its own (C(unshare --net)); C(rc) non-zero where no namespace can be made. Only when that
    file is unchanged.
  type: dict
  returned: with O(nft_table), when the C(ruleset) file is unchanged
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


def diff_of(path: str, current: str | None, content: str) -> dict:
    """One diff in the form Ansible's callbacks show."""
    return {"before_header": path, "after_header": path, "before": current or "", "after": content}


def list_table_argv(table: str) -> list[str]:
    """The stateless listing (no counters) of an inet table as it is loaded now."""
    return ["nft", "-s", "list", "table", "inet", table]


def wanted_table_argv(ruleset: str, table: str) -> list[str]:
    """The listing of table as the ruleset file loads it, in a network namespace of its own."""
    return ["unshare", "--net", "sh", "-c", 'nft -f "$1" && nft -s list table inet "$2"', "sh", ruleset, table]


def listing(argv: list[str], runner=subprocess.run) -> dict:
    """{rc, stdout} of argv, its final line break dropped as the command module does; rc 127 when it cannot run."""
    try:
        proc = runner(argv, capture_output=True, text=True, check=False)
    except OSError as err:
        return {"rc": 127, "stdout": "", "stderr": str(err)}
    return {"rc": proc.returncode, "stdout": proc.stdout.rstrip("\r\n"), "stderr": proc.stderr.strip()}


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
            "nft_table": {"type": "str"},
        },
        supports_check_mode=True,
    )
    written, diffs, tables = [], [], {}
    table = module.params["nft_table"]
    if table:
        argv = list_table_argv(table)
        tables["live"] = listing(argv)
        # rc 1: the table is not loaded. Anything else (nft missing, no permission) is an error,
        # except in check mode, where the package may not be installed yet.
        if tables["live"]["rc"] not in (0, 1) and not module.check_mode:
            module.fail_json(msg="`%s` failed (rc %d): %s" % (" ".join(argv), tables["live"]["rc"],
                                                             tables["live"]["stderr"] or "no output"), **tables)
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
    ruleset = [item["path"] for item in module.params["files"] if item["name"] == "ruleset"]
    if table and ruleset and "ruleset" not in written:
        tables["wanted"] = listing(wanted_table_argv(ruleset[0], table))
    module.exit_json(changed=bool(written), written=written, diff=diffs, **tables)


if __name__ == "__main__":
    main()
