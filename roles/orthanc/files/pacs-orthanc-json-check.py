#!/usr/bin/python3
"""Check a candidate orthanc.json as Orthanc's reader would, before it replaces the old one.

The orthanc role's template task runs it on the Orthanc host (``validate: <this> %s``), with
the host's own python3. Orthanc reads its configuration with JsonCpp: ``//`` comment lines
(the role's header) are allowed, NaN and Infinity are not JSON, and the top level must be an
object. Exit status 0 when the file is fit; else 1 with the reason on standard error.
"""

import json
import sys


def without_comment_lines(text):
    """The text without the lines whose first non-blank characters are ``//``."""
    return "".join(line for line in text.splitlines(keepends=True) if not line.lstrip().startswith("//"))


def _refuse_constant(name):
    raise ValueError("not JSON: " + name)


def problem(text):
    """Why Orthanc would refuse this configuration text, or None when it would read it."""
    try:
        value = json.loads(without_comment_lines(text), parse_constant=_refuse_constant)
    except ValueError as err:
        return str(err)
    if not isinstance(value, dict):
        return "the top level is a %s, not a JSON object" % type(value).__name__
    return None


def main(argv):
    """Entry point: check the file named by the only argument."""
    if len(argv) != 2:
        sys.stderr.write("usage: %s <orthanc.json candidate>\n" % argv[0])
        return 2
    try:
        with open(argv[1], encoding="utf-8") as handle:
            reason = problem(handle.read())
    except UnicodeDecodeError as err:
        reason = "not UTF-8: %s" % err
    if reason:
        sys.stderr.write("%s: %s\n" % (argv[1], reason))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
