"""A configuration change that needs a restart rolls through the nodes one at a time.

A poller GETs /system on both nodes every ~100 ms during the run: at every sample
at least one node answers 200. Both nodes must have restarted onto the new Name, so
the test cannot pass without a restart happening.
"""

import json

from conftest import NODES, Poller, assert_nothing_lost, get, orthanc_pid, run_converge

NEW_NAME = "Scale-out PACS (rolled)"


def test_rolling_restart_keeps_one_node_answering(baseline):
    pids = {node: orthanc_pid(node) for node in NODES}
    poller = Poller()
    poller.start()
    try:
        run_converge("-e", json.dumps({"orthanc_name": NEW_NAME}), "--limit", "orthanc", "--skip-tags", "smoke")
    finally:
        poller.stop.set()
        poller.join(10)
    assert len(poller.samples) > 20, "the poller took too few samples to prove anything"
    dark = [(round(t - poller.samples[0][0], 1), s) for t, s in poller.samples if 200 not in s.values()]
    assert not dark, f"no node answered at these moments (s since start, statuses): {dark[:10]}"
    for node in NODES:
        assert get(node, "/system").json()["Name"] == NEW_NAME
        assert orthanc_pid(node) != pids[node], f"{node} was not restarted"
    down = {node: sum(1 for _, s in poller.samples if s[node] != 200) for node in NODES}
    print(f"{len(poller.samples)} samples; samples without an answer per node: {down}")
    assert_nothing_lost(baseline, "a rolling configuration change")
