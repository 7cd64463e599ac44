"""Stored studies survive every kind of run.

The baseline studies (conftest) are stored before test_20; the configuration-change
runs of test_20 (Name, restart) and test_30 (modality, live) already count them.
Here: a plain re-converge, then an upgrade path; both nodes must still list every one.
"""

import pytest
from conftest import NODES, assert_nothing_lost, node_host, run_converge, study_uids

PACKAGES = "orthanc orthanc-dicomweb orthanc-postgresql"


def _reinstall_packages():
    """Stand-in for an upgrade: reinstall Orthanc's packages as apt would upgrade them."""
    for node in NODES:
        run = node_host(node).run(
            "DEBIAN_FRONTEND=noninteractive apt-get install -y --reinstall "
            "-o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef " + PACKAGES)
        assert run.rc == 0, run.stdout[-2000:] + run.stderr[-2000:]


STEPS = [
    ("a plain re-converge", None, []),
    ("an upgrade (packages reinstalled, then orthanc_package_state=latest)", _reinstall_packages,
     ["-e", "orthanc_package_state=latest", "--limit", "orthanc", "--skip-tags", "smoke"]),
]


@pytest.mark.parametrize(("label", "before", "extra"), STEPS, ids=["reconverge", "upgrade"])
def test_no_study_lost(baseline, label, before, extra):
    counts = {node: len(study_uids(node)) for node in NODES}
    if before:
        before()
    run_converge(*extra)
    assert_nothing_lost(baseline, label)
    for node in NODES:
        assert len(study_uids(node)) >= counts[node], f"{node} has fewer studies after {label}"
    print(f"after {label}: " + ", ".join(f"{n}: {len(study_uids(n))} studies" for n in NODES)
          + f" ({len(baseline)} baseline studies all present)")
