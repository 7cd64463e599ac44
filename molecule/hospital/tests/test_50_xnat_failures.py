"""XNAT failures and changes with site.yml --tags xnat_dqr (issue 4, "What must be shown").

Runs last (file name): it stops a double and changes the PACS host, and puts both back.
"""

import pytest
from conftest import PACS_IP, XNATS, docker_host, run_site


def entries(xnat, inv):
    found = xnat.pacs_entries(inv["orthanc_dicom_aet"], inv["orthanc_dicom_port"])
    receivers = xnat.dqr_receivers()
    return found, receivers


def assert_once_each(xnats, inv, host=PACS_IP):
    ids = {}
    for name, xnat in xnats.items():
        found, receivers = entries(xnat, inv)
        assert len(found) == 1, (name, found)
        assert len(xnat.get("/xapi/pacs")) == 1, name
        assert found[0]["host"] == host, (name, found)
        assert [(r["aeTitle"], r["port"]) for r in receivers] == \
            [(xnat.item["receiver"]["aet"], xnat.item["receiver"]["port"])], (name, receivers)
        ids[name] = found[0]["id"]
    return ids


@pytest.fixture
def teach_stopped(xnats):
    """XNAT_TEACH's double is down (its state, kept in memory, is lost with it)."""
    xnat_host = docker_host(XNATS["XNAT_TEACH"])
    xnat_host.run_expect([0], "systemctl stop xnat-double")
    yield
    xnat_host.run_expect([0], "systemctl start xnat-double")
    xnats["XNAT_TEACH"].wait_ready()


def test_failing_xnats_are_named_with_call_and_hint(xnats, teach_stopped):
    """XNAT_RESEARCH answers 500, XNAT_TEACH does not answer: one run reports both."""
    xnats["XNAT_RESEARCH"].test_call("POST", "/test/fault", {
        "status": 500, "count": 1, "method": "GET", "path": "/xapi/pacs", "body": "java.lang.NullPointerException"})
    code, output = run_site("--tags", "xnat_dqr")
    assert code != 0, output
    assert ("XNAT XNAT_RESEARCH (http://172.28.30.30:8080): GET /xapi/pacs failed with HTTP 500: "
            "java.lang.NullPointerException. XNAT failed internally: see its logs") in output, output
    # The first call of a run opens its one XNAT session.
    assert ("XNAT XNAT_TEACH (http://172.28.30.31:8080): POST /data/JSESSION failed with no answer (") in output, output
    assert "XNAT is unreachable: check the url, DNS and any firewall between the controller and XNAT" in output


def test_rerun_after_the_faults_converges_without_duplicates(xnats, inv):
    """The 500 was used up and the double is back (empty): the rerun registers in it again
    and leaves XNAT_RESEARCH as it was."""
    code, output = run_site("--tags", "xnat_dqr")
    assert code == 0, output
    assert "XNAT XNAT_TEACH (http://172.28.30.31:8080): create PACS" in output, output
    assert "XNAT XNAT_RESEARCH (http://172.28.30.30:8080): up to date" in output, output
    assert_once_each(xnats, inv)


def test_changed_pacs_host_updates_the_entry_in_place(xnats, inv):
    ids = assert_once_each(xnats, inv)
    try:
        code, output = run_site("--tags", "xnat_dqr", "-e", "orthanc_address=pp-hosp-pacs")
        assert code == 0, output
        assert "host '172.28.30.10' -> 'pp-hosp-pacs'" in output, output
        assert assert_once_each(xnats, inv, host="pp-hosp-pacs") == ids
        # XNAT reaches Orthanc under the new name (docker's DNS on the scenario network)
        xnat = xnats["XNAT_RESEARCH"]
        status = xnat.get("/xapi/pacs/%d/status" % ids["XNAT_RESEARCH"])
        assert status["successful"] is True, status
    finally:
        code, output = run_site("--tags", "xnat_dqr")
    assert code == 0, output
    assert assert_once_each(xnats, inv) == ids
