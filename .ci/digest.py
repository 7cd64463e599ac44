"""What failed, in the few lines CI shows: the first failed Ansible task and its message,
and the failed pytest tests, from the log of `make test`.

Usage: python .ci/digest.py LOG  (prints at most LIMIT lines of at most WIDTH characters)
"""
import re
import sys

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
TASK = re.compile(r"TASK \[(.+?)\]")
FAILURE = re.compile(r"(fatal: \[|FAILED! =>|failed: \[|^FAILED tests/|^ERROR tests/|^E   )")
LIMIT, WIDTH = 16, 300


def plain(line: str) -> str:
    """The line without colour codes, box-drawing prefixes or surrounding blanks."""
    return ANSI.sub("", line).lstrip(" │").rstrip()


def digest(lines: list, limit: int = LIMIT, width: int = WIDTH) -> list:
    """The failure lines, each after the last task named before it (ignored errors left out),
    at most limit lines."""
    out, task = [], None
    for raw in lines:
        line = plain(raw)
        named = TASK.search(line)
        if line == "...ignoring" and out and FAILURE.search(out[-1]):
            out.pop()  # an error the task ignores (ignore_errors)
            if out and out[-1].startswith("TASK ["):
                out.pop()
        elif named:
            task = named.group(1)
        elif FAILURE.search(line):
            if task and f"TASK [{task}]" not in out:
                out.append(f"TASK [{task}]")
            out.append(line[:width])
        if len(out) >= limit:
            break
    return out[:limit]


if __name__ == "__main__":
    with open(sys.argv[1], errors="replace") as handle:
        print("\n".join(digest(handle.readlines())) or "(no failed task or test in the log)")
