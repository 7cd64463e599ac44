"""Verify the pacs_firewall role inside the ppf- test network (real DICOM, real TCP)."""

import json
import os

import pytest
import testinfra

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
TABLE = "inet pacs_provisioner"
PROBE_TIMEOUT = 3


def _host(name):
    return testinfra.get_host("ansible://%s?ansible_inventory=%s" % (name, INVENTORY))


@pytest.fixture(scope="module")
def pacs():
    return _host("ppf-pacs")


@pytest.fixture(scope="module")
def allowed():
    return _host("ppf-allowed")


@pytest.fixture(scope="module")
def blocked():
    return _host("ppf-blocked")


def _tcp_connect(host, port):
    """rc 0 when a TCP connection to ppf-pacs:port is accepted, else non-zero."""
    return host.run("timeout %d bash -c 'exec 3<>/dev/tcp/ppf-pacs/%d'" % (PROBE_TIMEOUT, port)).rc


def _instance_count(pacs):
    out = pacs.check_output(
        "python3 -c \"import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:8042/statistics').read().decode())\"")
    return json.loads(out)["CountInstances"]


def test_our_table_is_loaded_with_the_modality(pacs, allowed):
    address = allowed.interface("eth0").addresses[0]
    table = pacs.check_output("nft list table %s" % TABLE)
    assert "set dicom_ipv4" in table and "set dicom_ipv6" in table
    dicom_v4 = pacs.check_output("nft list set %s dicom_ipv4" % TABLE)
    assert address in dicom_v4
    assert "127.0.0.1" in dicom_v4  # XNAT receiver "localhost", resolved on the controller
    assert "198.51.100.0/24" in dicom_v4  # two /25 collapsed
    dicom_v6 = pacs.check_output("nft list set %s dicom_ipv6" % TABLE)
    assert "2001:db8:1::/48" in dicom_v6 and "2001:db8:77::7" in dicom_v6
    assert address in pacs.check_output("nft list set %s http_ipv4" % TABLE)
    assert address not in pacs.check_output("nft list set %s ssh_ipv4" % TABLE)


def test_persistent_file_unit_and_dropin(pacs):
    nft_file = pacs.file("/etc/nftables.d/pacs_provisioner.nft")
    assert nft_file.mode == 0o600
    assert "Ansible managed" in nft_file.content_string
    assert "delete table inet pacs_provisioner" in nft_file.content_string
    assert pacs.service("pacs-firewall").is_enabled
    assert "ExecStartPost=-/usr/sbin/nft -f" in pacs.file(
        "/etc/systemd/system/nftables.service.d/pacs-provisioner.conf").content_string
    # No rollback is pending after a confirmed apply.
    assert not pacs.service("pacs-firewall-rollback.timer").is_running


def test_foreign_table_untouched(pacs):
    foreign = pacs.check_output("nft list table ip ppf_foreign")
    assert "192.0.2.1" in foreign


def test_echo_from_allowed_modality(allowed):
    result = allowed.run("echoscu -to %d -aet ALLOWED -aec ORTHANC ppf-pacs 4242" % PROBE_TIMEOUT)
    assert result.rc == 0, result.stderr


def test_store_from_allowed_modality(allowed, pacs):
    before = _instance_count(pacs)
    result = allowed.run("storescu -to %d -aet ALLOWED -aec ORTHANC ppf-pacs 4242 /root/CT_small.dcm" % PROBE_TIMEOUT)
    assert result.rc == 0, result.stderr
    # CT_small may already be stored by an earlier run; the instance must be there now.
    assert _instance_count(pacs) >= max(before, 1)


def test_http_from_allowed_http_client(allowed):
    out = allowed.check_output(
        "timeout %d python3 -c \"import urllib.request;print(urllib.request.urlopen('http://ppf-pacs:8042/system').read().decode())\""
        % PROBE_TIMEOUT)
    assert json.loads(out)["DicomAet"] == "ORTHANC"


@pytest.mark.parametrize("port", [4242, 8042])
def test_blocked_host_cannot_reach_pacs_ports(blocked, port):
    assert _tcp_connect(blocked, port) != 0


def test_blocked_host_reaches_other_ports(blocked):
    # The role protects the PACS ports only; port 9999 (unrelated service) stays open.
    assert _tcp_connect(blocked, 9999) == 0


def test_blocked_dicom_echo_fails(blocked):
    assert blocked.run("echoscu -to %d -aec ORTHANC ppf-pacs 4242" % PROBE_TIMEOUT).rc != 0


def test_management_access_still_works(pacs):
    assert pacs.ansible("ansible.builtin.ping", check=False)["ping"] == "pong"


def test_table_survives_nftables_restart(pacs, allowed):
    before = pacs.check_output("nft -s list table %s" % TABLE)
    pacs.check_output("systemctl restart nftables")
    assert pacs.check_output("nft -s list table %s" % TABLE) == before
    assert "192.0.2.1" in pacs.check_output("nft list table ip ppf_foreign")
    pacs.check_output("systemctl reload nftables")
    assert pacs.check_output("nft -s list table %s" % TABLE) == before
    # And the firewall still does its job.
    assert allowed.run("echoscu -to %d -aec ORTHANC ppf-pacs 4242" % PROBE_TIMEOUT).rc == 0
