"""Seed of the property tests: chosen once per run, shown in the header and on any failure.

``--hypothesis-seed=N`` (Hypothesis's own option) or ``PP_HYPOTHESIS_SEED=N`` replays a run.
"""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import core

SEED = core.global_force_seed
if SEED is None:
    SEED = int(os.environ.get("PP_HYPOTHESIS_SEED") or random.SystemRandom().randrange(2**32))
    core.global_force_seed = SEED


def pytest_report_header(config):  # pylint: disable=unused-argument
    """Show the seed before any test runs."""
    return "property tests: hypothesis seed %s (replay: pytest --hypothesis-seed=%s tests/property)" % (SEED, SEED)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # pylint: disable=unused-argument
    """Put the seed into the report of every failed property test."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        report.sections.append(("hypothesis seed", "replay with: pytest --hypothesis-seed=%s %s"
                                % (SEED, item.nodeid)))
