"""The site's HTTPS front door (nginx on pp-scale-db) keeps answering while both Orthanc
nodes restart one after the other.

A poller asks through the front door (https://pacs.molecule.test/, verified with the test
CA) every ~50 ms, alternating GET /system and a QIDO-RS GET /dicom-web/studies, while a
configuration change rolls through the nodes (site.yml, as test_20 does). Not one request
may fail; both nodes must have restarted (new process, new Name), so the test cannot pass
without a restart happening behind the front door. nginx's access log (format
pacs_https_upstream: every node tried, in order, with its answer) shows that both nodes
served the poller and that, for each node, a request that met it down was passed on to
the other one.
"""

import json
import os
import pathlib
import re
import socket
import threading
import time
import uuid

import pytest
import requests

from conftest import AUTH, NODES, get, node_host, orthanc_pid, run_converge

FRONT_DOOR_HOST = "pp-scale-db"
FRONT_DOOR_ADDRESS = "172.28.40.5"
NAME = "pacs.molecule.test"
BASE = f"https://{NAME}"
CA_FILE = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "pki" / "ca.crt"
ACCESS_LOG = "/var/log/nginx/pacs-https.access.log"
UPSTREAMS = {node: f"{address}:8042" for node, address in NODES.items()}
NEW_NAME = "Scale-out PACS (behind the front door)"
# The log line of format pacs_https_upstream, from the request on.
LOG_LINE = re.compile(r'"(?P<request>[^"]*)" (?P<status>\d{3}) \S+ "[^"]*" "(?P<agent>[^"]*)" '
                      r'upstream="(?P<upstream>[^"]*)" upstream_status="(?P<upstream_status>[^"]*)"')


@pytest.fixture
def name_resolves(monkeypatch):
    """pacs.molecule.test resolves to the front door in this process, as DNS would make it."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        return real(FRONT_DOOR_ADDRESS if host == NAME else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


class FrontDoorPoller(threading.Thread):
    """A DICOMweb client polling through the front door: (time, path, status or error) per request."""

    PATHS = ("/system", "/dicom-web/studies?limit=5")

    def __init__(self, agent):
        super().__init__(daemon=True)
        self.agent = agent
        self.samples = []
        self.stop = threading.Event()

    def run(self):
        with requests.Session() as session:
            session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the test CA
            session.verify = str(CA_FILE)
            session.auth = AUTH
            session.headers.update({"User-Agent": self.agent, "Accept": "application/json, application/dicom+json"})
            while not self.stop.is_set():
                path = self.PATHS[len(self.samples) % len(self.PATHS)]
                try:
                    answer = session.get(BASE + path, timeout=15)
                    outcome = answer.status_code
                    if outcome == 200:
                        answer.json()  # Orthanc's JSON, not an error page of nginx
                except (requests.RequestException, ValueError) as exc:
                    outcome = f"{type(exc).__name__}: {exc}"
                self.samples.append((time.monotonic(), path, outcome))
                self.stop.wait(0.05)


def front_door_log(agent):
    """The poller's lines of nginx's access log, parsed."""
    text = node_host(FRONT_DOOR_HOST).check_output(f"grep -F {agent} {ACCESS_LOG} || true")
    lines = [LOG_LINE.search(line) for line in text.splitlines()]
    assert all(lines), f"access log lines not in format pacs_https_upstream: {text[:500]}"
    return [m.groupdict() for m in lines]


def test_the_front_door_answers_through_a_rolling_restart(name_resolves):  # pylint: disable=redefined-outer-name,unused-argument
    assert CA_FILE.exists(), f"no test CA at {CA_FILE} (prepare.yml makes it)"
    pids = {node: orthanc_pid(node) for node in NODES}
    agent = f"pp-scaleout-front-door-{uuid.uuid4().hex[:12]}"
    poller = FrontDoorPoller(agent)
    poller.start()
    try:
        time.sleep(2)  # answers before the restarts, so both nodes are seen serving
        run_converge("-e", json.dumps({"orthanc_name": NEW_NAME}), "--limit", "orthanc", "--skip-tags", "smoke")
        time.sleep(2)
    finally:
        poller.stop.set()
        poller.join(30)
    samples = poller.samples
    start = samples[0][0] if samples else 0
    failed = [(round(t - start, 2), path, outcome) for t, path, outcome in samples if outcome != 200]
    assert not failed, f"{len(failed)} of {len(samples)} requests through the front door failed: {failed[:10]}"
    assert len(samples) > 200, f"only {len(samples)} requests: too few to prove anything"
    gaps = [round(b[0] - a[0], 2) for a, b in zip(samples, samples[1:])]
    assert max(gaps) < 6, f"the front door kept a request {max(gaps)} s (longest gap between two answers)"

    # Both nodes really restarted behind the front door, onto the new configuration.
    for node in NODES:
        assert orthanc_pid(node) != pids[node], f"{node} was not restarted"
        assert get(node, "/system").json()["Name"] == NEW_NAME

    # nginx load-balanced: both nodes served the poller; and each node, while it restarted,
    # met a request that nginx passed on to the other node (the passive health check at work).
    lines = front_door_log(agent)
    assert len(lines) == len(samples), f"{len(samples)} requests but {len(lines)} log lines"
    served = {node: sum(1 for line in lines if line["upstream"].split(", ")[-1] == upstream)
              for node, upstream in UPSTREAMS.items()}
    passed_on = {node: [line for line in lines if "," in line["upstream"]
                        and line["upstream"].split(", ")[0] == upstream] for node, upstream in UPSTREAMS.items()}
    print(f"{len(samples)} requests, longest gap {max(gaps)} s; served per node: {served}; "
          f"passed on from each node: { {node: len(found) for node, found in passed_on.items()} }")
    for node in NODES:
        assert served[node] > 10, f"{node} served only {served[node]} of {len(lines)} requests: no load balancing"
        assert passed_on[node], f"no request met {node} down and was passed on: did the restart reach the front door?"
        assert all(line["status"] == "200" for line in passed_on[node])
