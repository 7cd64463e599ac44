"""Make the project's filter plugins importable by the unit tests."""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
for folder in ("filter_plugins",):
    if str(ROOT / folder) not in sys.path:
        sys.path.insert(0, str(ROOT / folder))
