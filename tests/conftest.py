"""Shared test set-up: the project's filter plugins and the XNAT double's controller
are importable, and `double` runs the XNAT double on loopback."""

import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
for folder in ("filter_plugins", "tests/xnat_double"):
    if str(ROOT / folder) not in sys.path:
        sys.path.insert(0, str(ROOT / folder))


@pytest.fixture(scope="module")
def double():
    """The XNAT double (tests/xnat_double/xnat_double.py) on loopback, one per test module."""
    import doublectl  # pylint: disable=import-outside-toplevel

    instance = doublectl.Double()
    yield instance
    instance.stop()
