#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: write the smoke report files of one run and point 'latest' at the run."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pacs_smoke_write
short_description: Write the files of one smoke report run in one task
description:
  - Creates O(directory) (and parents), writes every entry of O(files) into it and,
    when O(latest) is given, makes that path a symbolic link to O(directory)
    (relative when both share a parent). One task instead of one per file keeps
    the smoke phase fast.
  - In check mode nothing is written; RV(changed) tells whether something would be.
version_added: "1.0.0"
author: pacs-provisioner
options:
  directory:
    description: Directory of this run.
    type: path
    required: true
  files:
    description: File name (no directory part) to content.
    type: dict
    required: true
  mode:
    description: Mode of the files (the directory gets the matching execute bits).
    type: str
    default: "0644"
  latest:
    description: Path of a symbolic link to point at O(directory).
    type: path
  show:
    description: Lines shown as the task's message once the files are written (the result table).
    type: list
    elements: str
    default: []
  fail_msg:
    description:
      - When not empty, the task fails with these lines as its message once the files are
        written (the verdict of the run, in the same task as its report).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Write the report
  pacs_smoke_write:
    directory: /srv/reports/gh/20250101T120000Z
    latest: /srv/reports/gh/latest
    files:
      pacs1.json: "{{ report | to_nice_json }}"
      pacs1.html: "{{ lookup('ansible.builtin.template', 'report.html.j2') }}"
  delegate_to: localhost
"""

RETURN = r"""
msg:
  description: O(fail_msg) when it is not empty, else O(show).
  returned: when either is not empty
  type: list
  elements: str
paths:
  description: Paths of the files written (or that would be written in check mode).
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule


def write_files(directory, files, mode, latest, check_mode):
    """Write the files, set the link; returns (changed, paths). Raises ValueError on a bad name."""
    changed = False
    paths = []
    for name in files:
        if not name or os.path.basename(name) != name or name in (".", ".."):
            raise ValueError("files: %r is not a plain file name" % (name,))
    if not os.path.isdir(directory):
        changed = True
        if not check_mode:
            os.makedirs(directory, mode=0o755, exist_ok=True)
    for name, content in sorted(files.items()):
        path = os.path.join(directory, name)
        paths.append(path)
        data = content if isinstance(content, str) else str(content)
        if not data.endswith("\n"):
            data += "\n"
        old = None
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                old = handle.read()
        if old != data:
            changed = True
            if not check_mode:
                tmp = path + ".tmp"
                with open(tmp, "w", encoding="utf-8") as handle:
                    handle.write(data)
                os.chmod(tmp, mode)
                os.replace(tmp, path)
    if latest:
        target = directory
        if os.path.dirname(os.path.abspath(latest)) == os.path.dirname(os.path.abspath(directory)):
            target = os.path.basename(os.path.abspath(directory))
        if not (os.path.islink(latest) and os.readlink(latest) == target):
            changed = True
            if not check_mode:
                tmp = "%s.tmp.%d" % (latest, os.getpid())
                if os.path.lexists(tmp):
                    os.unlink(tmp)
                os.symlink(target, tmp)
                os.replace(tmp, latest)
    return changed, paths


# The options (DOCUMENTATION); the action plugin of the same name validates with them too.
ARGUMENT_SPEC = dict(
    directory=dict(type="path", required=True),
    files=dict(type="dict", required=True),
    mode=dict(type="str", default="0644"),
    latest=dict(type="path"),
    show=dict(type="list", elements="str", default=[]),
    fail_msg=dict(type="list", elements="str", default=[]),
)


def answer(params, check_mode, write=write_files):
    """The module's answer for validated params: {changed, paths, msg: show}, or {failed, msg}
    (fail_msg, after the files are written, or what went wrong writing them)."""
    try:
        mode = int(params["mode"], 8)
    except ValueError:
        return {"failed": True, "msg": "mode: %r is not an octal mode" % params["mode"]}
    try:
        changed, paths = write(params["directory"], params["files"], mode, params["latest"], check_mode)
    except (ValueError, OSError) as exc:
        return {"failed": True, "msg": str(exc)}
    result = {"changed": changed, "paths": paths}
    if params.get("fail_msg"):
        result.update(failed=True, msg=params["fail_msg"])
    elif params.get("show"):
        result["msg"] = params["show"]
    return result


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    result = answer(module.params, module.check_mode)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
