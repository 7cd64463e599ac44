"""Adding a modality while a modality keeps sending: no C-STORE fails, no restart.

The controller sends C-STOREs as SCALE_SND (a configured modality) to both nodes
in a loop while a run adds NEW_CT to orthanc_modalities.
"""

import json

from conftest import NODES, Sender, assert_nothing_lost, get, orthanc_config, orthanc_pid, run_converge, study_uids

MODALITIES = [
    {"name": "SENDER", "aet": "SCALE_SND", "host": "172.28.40.1", "port": 11112, "allow_find": True,
     "expected_offline": True},
    {"name": "NEW_CT", "aet": "NEW_CT1", "host": "172.28.40.1", "port": 11113, "expected_offline": True},
]


def test_modality_added_while_sending(baseline):
    pids = {node: orthanc_pid(node) for node in NODES}
    # The only change of this run is the new modality: keep the Name the nodes run with
    # now (an earlier test may have run with another one).
    change = {"orthanc_modalities": MODALITIES, "orthanc_name": get("pp-scale-a", "/system").json()["Name"]}
    sender = Sender()
    sender.start()
    try:
        run_converge("-e", json.dumps(change), "--limit", "orthanc", "--skip-tags", "smoke")
    finally:
        sender.stop.set()
        sender.join(30)
    assert len(sender.sent) >= 20, f"only {len(sender.sent)} C-STOREs were sent during the run"
    assert not sender.failures, f"{len(sender.failures)} of {len(sender.sent)} C-STOREs failed: {sender.failures[:5]}"
    for node in NODES:
        assert "NEW_CT" in get(node, "/modalities").json(), f"NEW_CT is not live on {node}"
        assert orthanc_config(node)["DicomModalities"]["NEW_CT"]["AET"] == "NEW_CT1", f"not persisted on {node}"
    sent_studies = {uid for _, uid, _ in sender.sent}
    for node in NODES:
        assert not sent_studies - study_uids(node), f"{node} misses studies sent during the run"
    assert_nothing_lost(baseline, "a modality addition")
    restarted = [node for node in NODES if orthanc_pid(node) != pids[node]]
    assert not restarted, f"adding a modality restarted Orthanc on {restarted}"
