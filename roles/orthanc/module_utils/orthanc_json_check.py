"""Check a candidate orthanc.json as Orthanc's reader would, before it replaces the old one.

Orthanc reads its configuration with JsonCpp: ``//`` comment lines (the role's header) are
allowed, NaN and Infinity are not JSON, and the top level must be an object. Used by the
module orthanc_json_files, which writes orthanc.json only when ``problem`` finds none.
"""

from __future__ import annotations

import json


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
