"""The PACS firewall with real traffic between the scenario's hosts (issue 5).

Allowed: the modalities and the XNAT receivers on the DICOM port, the controller
(172.28.30.1, admin and smoke probe) on every PACS port. Blocked: anyone else.
"""

import pytest
from conftest import BLOCKED, MODALITY, PACS, PACS_IP, XNATS, ansible_ping, docker_host


def tcp_open(name, address, port):
    """Whether a TCP connection from container `name` to address:port is accepted."""
    result = docker_host(name).run("timeout 3 bash -c '</dev/tcp/%s/%d'" % (address, port))
    return result.rc == 0


def test_modality_echo_is_answered():
    echo = docker_host(MODALITY).run("echoscu -aet HOSP_CT -aec GH_PACS %s 4242" % PACS_IP)
    assert echo.rc == 0, echo.stdout + echo.stderr


def test_modality_store_is_accepted(stored_study, orthanc):
    """storescu from the modality host (fixture), then the instance is in Orthanc."""
    assert stored_study["store_rc"] == 0, stored_study["store_output"]
    lookup = orthanc.post(orthanc.base + "/tools/lookup", data=stored_study["sop"], timeout=10).json()
    assert [x["Type"] for x in lookup] == ["Instance"]


@pytest.mark.parametrize("port", [4242, 8042])
def test_blocked_host_cannot_connect(port):
    # the probe works from there: the modality host's Orthanc answers it
    assert tcp_open(BLOCKED, "172.28.30.20", port)
    assert not tcp_open(BLOCKED, PACS_IP, port)


@pytest.mark.parametrize("xnat_host", sorted(XNATS.values()))
def test_xnat_receivers_reach_dicom_but_not_http(xnat_host):
    assert tcp_open(xnat_host, PACS_IP, 4242)
    assert not tcp_open(xnat_host, PACS_IP, 8042)


def test_ruleset_survives_nftables_restart():
    pacs = docker_host(PACS)
    pacs.run_expect([0], "systemctl restart nftables")
    assert pacs.run("nft list table inet pacs_provisioner").rc == 0
    assert not tcp_open(BLOCKED, PACS_IP, 4242)
    assert tcp_open(MODALITY, PACS_IP, 4242)


def test_management_still_works():
    code, output = ansible_ping(PACS)
    assert code == 0, output
    assert "SUCCESS" in output and "pong" in output, output
