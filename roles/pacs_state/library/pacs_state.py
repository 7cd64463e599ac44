#!/usr/bin/python
"""pacs_state: what the last complete run of site.yml left on this host, and whether it is still there.

A complete run records, in one root-only JSON file, the fingerprint of its inputs (the
inventory's role variables and the project's code, computed on the controller) and a
snapshot of what the roles keep on the host: the content, mode and owner of their files,
and the output of read-only commands (services active and enabled, package versions, the
firewall table as loaded, the container's image). The next run compares, in one module run,
and the roles are skipped on a host whose inputs and snapshot are both unchanged.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: pacs_state
short_description: Record what a complete run left on the host, or compare the host with that record
description:
  - C(action=probe) reads the record and answers C(unchanged) when its fingerprint is the one
    given and every recorded path and command still gives what was recorded; otherwise the
    reasons, and the record is removed (unless C(forget=false)), so a later run that fails
    half-way cannot leave a record of an earlier state behind.
  - C(action=record) snapshots C(paths) and C(commands) and writes the record with the fingerprint
    (mode 0600, replaced atomically). Changed only when the record's content changes.
  - Read-only apart from the record file; the commands must be read-only.
options:
  action:
    description: probe or record.
    type: str
    choices: [probe, record]
    default: probe
  path:
    description: The record file.
    type: path
    required: true
  fingerprint:
    description: The fingerprint of this run's inputs (controller side).
    type: str
    required: true
  paths:
    description: Files and folders (walked) whose content, mode and owner are recorded (record only).
    type: list
    elements: path
    default: []
  commands:
    description: Read-only commands (argument lists) whose exit code and output are recorded (record only).
    type: list
    elements: list
    default: []
  forget:
    description: Whether a probe that finds a difference removes the record.
    type: bool
    default: true
author: pacs-provisioner
"""

RETURN = r"""
unchanged:
  description: Whether the host is as the recorded run left it, for this fingerprint (probe).
  type: bool
reasons:
  description: What differs, one line each (probe).
  type: list
"""

VERSION = 1
MISSING = "missing"


def file_digest(path: str) -> str:
    """The sha256 of a file's content, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def entry(path: str) -> str:
    """One path as recorded: type, mode, owner and (file) content digest or (link) target."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return MISSING
    head = "%o %d:%d" % (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)
    if stat.S_ISLNK(info.st_mode):
        return "link %s -> %s" % (head, os.readlink(path))
    if stat.S_ISDIR(info.st_mode):
        return "dir %s" % head
    if stat.S_ISREG(info.st_mode):
        return "file %s %s" % (head, file_digest(path))
    return "other %s" % head


def walk(path: str) -> dict:
    """Every path under path (itself included), each as entry() records it, in a stable order."""
    found = {path: entry(path)}
    if found[path].startswith("dir "):
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(dirs + files):
                child = os.path.join(root, name)
                found[child] = entry(child)
    return found


def snapshot_paths(paths: list) -> dict:
    """The entries of every given path and what lies under it."""
    found = {}
    for path in paths:
        found.update(walk(os.path.normpath(path)))
    return found


def command_key(argv: list) -> str:
    """How a command is named in the record and in the reasons."""
    return " ".join(str(part) for part in argv)


def command_result(rc: int, out: str) -> str:
    """A command's exit code and the digest of its output, as recorded."""
    return "rc %d %s" % (rc, hashlib.sha256(out.encode("utf-8")).hexdigest())


def ssh_client_address(pid: int, environ_of, depth: int = 12) -> str:
    """The address the run's SSH session comes from (SSH_CLIENT's first field), looked up in the
    environment of this process and its parents (sudo resets it for the module itself); ""
    when no ancestor has one (a local or docker connection). environ_of(pid) -> (environ, ppid).
    The firewall's rules keep a path for that address: a run from elsewhere is a changed input.
    """
    for _ in range(depth):
        if pid <= 1:
            break
        environ, parent = environ_of(pid)
        value = environ.get("SSH_CLIENT", "").split()
        if value:
            return value[0]
        pid = parent
    return ""


def proc_environ(pid: int) -> tuple:
    """(environment, parent pid) of a process, from /proc; ({}, 0) when unreadable."""
    try:
        with open("/proc/%d/environ" % pid, "rb") as handle:
            pairs = handle.read().split(b"\0")
        with open("/proc/%d/stat" % pid, "rb") as handle:
            parent = int(handle.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return {}, 0
    environ = dict(p.decode("utf-8", "replace").split("=", 1) for p in pairs if b"=" in p)
    return environ, parent


def snapshot(paths: list, commands: list, run, session: str = "") -> dict:
    """What the host holds now: the paths' entries, each command's result (run(argv) -> (rc, out))
    and the address the run's SSH session comes from."""
    return {"paths": snapshot_paths(paths),
            "commands": {command_key(argv): command_result(*run(argv)) for argv in commands},
            "session": session}


def differences(recorded: dict, current: dict) -> list:
    """One line per path or command whose entry differs between two snapshots."""
    lines = []
    if recorded.get("session", "") != current.get("session", ""):
        lines.append("the run comes from another address (%s, recorded %s): the firewall keeps a path for it"
                     % (current.get("session") or "none", recorded.get("session") or "none"))
    for kind in ("paths", "commands"):
        before, now = recorded.get(kind, {}), current.get(kind, {})
        for key in sorted(set(before) | set(now)):
            if before.get(key) != now.get(key):
                lines.append("%s %s: %s -> %s" % (kind[:-1], key, _short(before.get(key)), _short(now.get(key))))
    return lines


def _short(value) -> str:
    if value is None:
        return "not recorded"
    return value if len(value) < 40 else value[:36] + "..."


def probe(record: dict | None, fingerprint: str, run, session: str = "") -> list:
    """The reasons the host is not as the recorded run left it; empty when it is."""
    if not fingerprint:
        return ["no fingerprint: a run limited by --tags, or a variable whose template fails on the controller"]
    if record is None:
        return ["no record of a complete run of site.yml"]
    if record.get("version") != VERSION:
        return ["the record was written by another version of pacs_state"]
    if record.get("fingerprint") != fingerprint:
        return ["the inputs changed since the recorded run (inventory, secrets, resolved names or code)"]
    current = snapshot(record.get("paths_given", []), record.get("commands_given", []), run, session)
    return differences(record.get("snapshot", {}), current)


def make_record(fingerprint: str, paths: list, commands: list, run, session: str = "") -> dict:
    """The record of a complete run: its fingerprint, what it snapshots and the snapshot."""
    paths = sorted({os.path.normpath(p) for p in paths})
    commands = [list(c) for c in sorted({tuple(str(a) for a in c) for c in commands})]
    return {"version": VERSION, "fingerprint": fingerprint, "paths_given": paths, "commands_given": commands,
            "snapshot": snapshot(paths, commands, run, session)}


def read_record(path: str) -> dict | None:
    """The record, or None when it is missing or not a JSON object."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_record(path: str, record: dict) -> None:
    """Replace the record atomically, mode 0600, its folder created 0700."""
    folder = os.path.dirname(path)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".pacs-state-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(record, out, indent=1, sort_keys=True)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def main():
    """Probe or record, as the arguments ask."""
    module = AnsibleModule(
        argument_spec={
            "action": {"type": "str", "choices": ["probe", "record"], "default": "probe"},
            "path": {"type": "path", "required": True},
            "fingerprint": {"type": "str", "required": True},
            "paths": {"type": "list", "elements": "path", "default": []},
            "commands": {"type": "list", "elements": "list", "default": []},
            "forget": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    params = module.params
    environ = {"LANG": "C", "LC_ALL": "C"}

    def run(argv):
        argv = [str(a) for a in argv]
        program = argv[0] if os.path.isabs(argv[0]) else module.get_bin_path(argv[0])
        if not program or not os.path.exists(program):
            return 127, ""  # not installed: recorded as such
        rc, out, _ = module.run_command([program] + argv[1:], environ_update=environ)
        return rc, out

    path = params["path"]
    record = read_record(path)
    session = ssh_client_address(os.getpid(), proc_environ)
    if params["action"] == "probe":
        reasons = probe(record, params["fingerprint"], run, session)
        forgotten = bool(reasons) and record is not None and params["forget"] and not module.check_mode
        if forgotten:
            os.unlink(path)
        module.exit_json(changed=False, unchanged=not reasons, reasons=reasons, forgotten=forgotten)
    if not params["fingerprint"]:
        module.fail_json(msg="pacs_state: no fingerprint to record")
    new = make_record(params["fingerprint"], params["paths"], params["commands"], run, session)
    changed = new != record
    if changed and not module.check_mode:
        write_record(path, new)
    module.exit_json(changed=changed, unchanged=True, reasons=[])


if __name__ == "__main__":
    main()
