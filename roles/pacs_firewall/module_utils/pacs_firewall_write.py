"""Files the pacs_firewall role's modules put in place: one checked, atomic writer for all of them."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile


def validate_argv(command: str, path: str) -> list[str]:
    """The argv of a validate command with %s replaced by path (split like a shell would, no shell)."""
    if "%s" not in command:
        raise ValueError("validate command %r has no %%s" % (command,))
    return [part.replace("%s", path) for part in shlex.split(command)]


def write_checked(module, item: dict, mode: int) -> None:
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
