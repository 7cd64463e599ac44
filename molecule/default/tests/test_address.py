"""A host reached by the docker connection without orthanc_address (issue 16).

Its ansible_host is a container name that does not resolve on the controller, where the
smoke probe runs. The converge's smoke (site.yml) fails on any unanswered check, so a
converge that passed already shows the probe reached it; this reads the report to show
at which address, and that it is the container's own.
"""

import datetime
import json
import pathlib

from conftest import PROJECT

testinfra_hosts = ["pp-default-trixie"]

REPORT = PROJECT / "playbooks" / "reports" / "inventory" / "latest" / "pp-default-trixie.json"


def test_the_probe_reached_the_host_at_its_own_address(host, hostvars):
    assert "orthanc_address" not in hostvars, "this host must rely on the address from its facts"
    report = json.loads(REPORT.read_text())
    run = datetime.datetime.strptime(report["run"], "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    assert datetime.datetime.now(datetime.timezone.utc) - run < datetime.timedelta(hours=2), "a stale report"
    own = host.interface("eth0").addresses[0]
    assert report["orthanc"]["host"] == own
    # the checks the probe sends to the PACS from the controller
    sent = [r for r in report["results"] if r["check"] in ("echo_in", "find_in", "http_auth", "stow", "qido", "wado")]
    assert {r["check"] for r in sent} >= {"echo_in", "http_auth", "stow"}, sent
    assert all(r["status"] == "pass" for r in sent), sent
