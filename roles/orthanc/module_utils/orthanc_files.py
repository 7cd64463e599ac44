"""Files the orthanc role's modules put in place: one atomic writer for all of them."""

from __future__ import annotations

import os
import tempfile


def write_file(path: str, text: str, gid: int, mode: int) -> None:
    """Replace the file at path with text atomically, owned by root and gid with mode.

    The text goes to a temporary file beside path, flushed to disk before it replaces the old
    file, so a crash leaves the old file or the new one, never a part of either.
    """
    handle, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=os.path.dirname(path))
    try:
        with os.fdopen(handle, "w", encoding="utf-8", errors="surrogateescape") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chown(tmp, 0, gid)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
