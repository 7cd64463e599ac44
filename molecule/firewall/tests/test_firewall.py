"""Verify the pacs_firewall role inside the ppf- test network (real DICOM, real TCP).

Two PACS hosts: ppf-pacs (nftables) and ppf-fwd (firewalld, picked by the auto backend
because the host runs it). The side effect ran the role over SSH last, so the
controller (172.28.70.1, the network's gateway) is in the SSH sets by the management path.
"""

import json
import os
import shlex
import subprocess
import time

import pytest
import testinfra

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
SSH_KEY = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "ppf_ssh_key")
TABLE = "inet pacs_provisioner"
PROBE_TIMEOUT = 3
PACS = {
    "ppf-pacs": {"ipv4": "172.28.70.10", "ipv6": "fd00:28:70::10"},
    "ppf-fwd": {"ipv4": "172.28.70.11", "ipv6": "fd00:28:70::11"},
}
ALLOWED = {"ipv4": "172.28.70.20", "ipv6": "fd00:28:70::20"}
CONTROLLER = "172.28.70.1"
POLICY_FILE = "/etc/firewalld/policies/pacs-provisioner.xml"
# Orthanc 1.10.1 listens on IPv4 only; this stand-in answers on the PACS ports over IPv6
# (IPV6_V6ONLY, beside Orthanc) so that the IPv6 rules meet real connections.
V6_LISTENER = """
import socket, threading
def serve(port):
    s = socket.socket(socket.AF_INET6)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('::', port))
    s.listen()
    while True:
        c, _ = s.accept()
        c.sendall(b'v6-listener %d\\n' % port)
        c.close()
for port in (4242, 8042):
    threading.Thread(target=serve, args=(port,)).start()
"""
# Connects and prints the first line the server sends (or "connected" when it sends
# nothing within a second); rc 1 when the connection fails.
CONNECT = """
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), %d)
except OSError as e:
    print(e)
    sys.exit(1)
s.settimeout(1)
try:
    print(s.recv(64).decode(errors='replace').strip())
except socket.timeout:
    print('connected')
""" % PROBE_TIMEOUT


def _host(name):
    return testinfra.get_host("ansible://%s?ansible_inventory=%s" % (name, INVENTORY))


@pytest.fixture(scope="module", params=sorted(PACS))
def pacs_name(request):
    return request.param


@pytest.fixture(scope="module")
def pacs(pacs_name):
    return _host(pacs_name)


@pytest.fixture(scope="module")
def nft_pacs():
    return _host("ppf-pacs")


@pytest.fixture(scope="module")
def fwd_pacs():
    return _host("ppf-fwd")


@pytest.fixture(scope="module")
def allowed():
    return _host("ppf-allowed")


@pytest.fixture(scope="module")
def blocked():
    return _host("ppf-blocked")


@pytest.fixture(scope="module")
def v6_listener(pacs):
    pacs.check_output("systemd-run --unit=ppf-v6-listener --collect python3 -c %s" % shlex.quote(V6_LISTENER))
    for _ in range(50):  # loopback is always accepted
        if _connect(pacs, "::1", 8042) == (0, "v6-listener 8042"):
            break
        time.sleep(0.1)
    else:
        pytest.fail("the IPv6 stand-in listener did not start")
    yield
    pacs.run("systemctl stop ppf-v6-listener")


def _connect(probe, address, port):
    """(rc, first line) of a TCP connection from the probe; rc 0 when it was accepted."""
    result = probe.run("python3 -c %s %s %d" % (shlex.quote(CONNECT), address, port))
    return result.rc, result.stdout.strip()


def _instance_count(pacs):
    out = pacs.check_output(
        "python3 -c \"import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:8042/statistics').read().decode())\"")
    return json.loads(out)["CountInstances"]


def _controller_ssh(address):
    return subprocess.run(
        ["ssh", "-i", SSH_KEY, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "ControlMaster=no",
         "-o", "ConnectTimeout=%d" % PROBE_TIMEOUT, "root@%s" % address, "echo", "$SSH_CLIENT"],
        capture_output=True, text=True, timeout=30, check=False)


# --- the rules as loaded ---------------------------------------------------------------

def test_nft_table_holds_the_source_sets(nft_pacs):
    table = nft_pacs.check_output("nft list table %s" % TABLE)
    assert "set dicom_ipv4" in table and "set dicom_ipv6" in table
    dicom_v4 = nft_pacs.check_output("nft list set %s dicom_ipv4" % TABLE)
    assert ALLOWED["ipv4"] in dicom_v4
    assert "127.0.0.1" in dicom_v4  # XNAT receiver "localhost", resolved on the controller
    assert "198.51.100.0/24" in dicom_v4  # two /25 collapsed
    dicom_v6 = nft_pacs.check_output("nft list set %s dicom_ipv6" % TABLE)
    assert "2001:db8:1::/48" in dicom_v6 and "2001:db8:77::7" in dicom_v6
    assert ALLOWED["ipv6"] in dicom_v6
    assert ALLOWED["ipv4"] in nft_pacs.check_output("nft list set %s http_ipv4" % TABLE)
    ssh_v4 = nft_pacs.check_output("nft list set %s ssh_ipv4" % TABLE)
    assert ALLOWED["ipv4"] not in ssh_v4 and CONTROLLER in ssh_v4
    assert ALLOWED["ipv6"] in nft_pacs.check_output("nft list set %s ssh_ipv6" % TABLE)


def test_nft_persistent_file_unit_and_dropin(nft_pacs):
    nft_file = nft_pacs.file("/etc/nftables.d/pacs_provisioner.nft")
    assert nft_file.mode == 0o600
    assert "Ansible managed" in nft_file.content_string
    assert "delete table inet pacs_provisioner" in nft_file.content_string
    assert nft_pacs.service("pacs-firewall").is_enabled
    assert "ExecStartPost=-/usr/sbin/nft -f" in nft_pacs.file(
        "/etc/systemd/system/nftables.service.d/pacs-provisioner.conf").content_string
    # No rollback is pending after a confirmed apply.
    assert not nft_pacs.service("pacs-firewall-rollback.timer").is_running


def test_nft_foreign_table_untouched(nft_pacs):
    assert "192.0.2.1" in nft_pacs.check_output("nft list table ip ppf_foreign")


def test_auto_backend_followed_the_host(nft_pacs, fwd_pacs):
    # ppf-fwd runs firewalld: no table of ours there; ppf-pacs does not: no firewalld.
    assert fwd_pacs.run("nft list table %s" % TABLE).rc != 0
    assert fwd_pacs.file(POLICY_FILE).exists
    assert not nft_pacs.package("firewalld").is_installed


def _policy(host, permanent=False):
    """(settings, rich rules) of our firewalld policy as firewalld reports it."""
    out = host.check_output("firewall-cmd %s--info-policy=pacs-provisioner" % ("--permanent " if permanent else ""))
    lines = [line.strip() for line in out.splitlines()]
    return [l for l in lines if not l.startswith("rule ")], [l for l in lines if l.startswith("rule ")]


def test_firewalld_policy(fwd_pacs):
    settings, rules = _policy(fwd_pacs)
    assert _policy(fwd_pacs, permanent=True)[1] == rules  # the file is what runs
    for line in ["priority: -100", "target: CONTINUE", "ingress-zones: ANY", "egress-zones: HOST"]:
        assert line in settings
    for rule in [
        'rule family="ipv4" source address="%s" port port="4242" protocol="tcp" accept' % ALLOWED["ipv4"],
        'rule family="ipv4" source address="127.0.0.1" port port="4242" protocol="tcp" accept',
        'rule family="ipv4" source address="198.51.100.0/24" port port="4242" protocol="tcp" accept',
        'rule family="ipv6" source address="2001:db8:1::/48" port port="4242" protocol="tcp" accept',
        'rule family="ipv6" source address="%s" port port="22" protocol="tcp" accept' % ALLOWED["ipv6"],
        'rule family="ipv4" source address="%s" port port="22" protocol="tcp" accept' % CONTROLLER,
        'rule priority="32767" port port="4242" protocol="tcp" drop',
        'rule priority="32767" port port="8042" protocol="tcp" drop',
        'rule priority="32767" port port="22" protocol="tcp" drop',
    ]:
        assert rule in rules
    assert not [r for r in rules if ALLOWED["ipv4"] in r and 'port="22"' in r]
    assert "Ansible managed" in fwd_pacs.file(POLICY_FILE).content_string
    assert not fwd_pacs.service("pacs-firewall-rollback.timer").is_running


def test_firewalld_zone_untouched(fwd_pacs):
    # The administrator's zone keeps everything, even the DICOM port opened to all and
    # the ssh service: our policy runs first, so they no longer open the PACS ports.
    for scope in ["", "--permanent "]:
        zone = fwd_pacs.check_output("firewall-cmd %s--zone=public --list-all" % scope)
        assert "9999/tcp" in zone and "4242/tcp" in zone
        assert "ssh" in zone.split("services:")[1].splitlines()[0]
        assert 'rule family="ipv4" source address="192.0.2.7" port port="9998" protocol="tcp" accept' in zone


# --- real traffic over IPv4 --------------------------------------------------------------

def test_echo_from_allowed_modality(allowed, pacs_name):
    result = allowed.run("echoscu -to %d -aet ALLOWED -aec ORTHANC %s 4242" % (PROBE_TIMEOUT, pacs_name))
    assert result.rc == 0, result.stderr


def test_store_from_allowed_modality(allowed, pacs, pacs_name):
    before = _instance_count(pacs)
    result = allowed.run("storescu -to %d -aet ALLOWED -aec ORTHANC %s 4242 /root/CT_small.dcm"
                         % (PROBE_TIMEOUT, pacs_name))
    assert result.rc == 0, result.stderr
    # CT_small may already be stored by an earlier run; the instance must be there now.
    assert _instance_count(pacs) >= max(before, 1)


def test_http_from_allowed_http_client(allowed, pacs_name):
    out = allowed.check_output(
        "timeout %d python3 -c \"import urllib.request;print(urllib.request.urlopen('http://%s:8042/system').read().decode())\""
        % (PROBE_TIMEOUT, pacs_name))
    assert json.loads(out)["DicomAet"] == "ORTHANC"


@pytest.mark.parametrize("port", [4242, 8042, 22])
def test_blocked_host_cannot_reach_pacs_ports(blocked, pacs_name, port):
    # Every one of these ports has a listener (Orthanc, sshd): only the firewall refuses.
    rc, out = _connect(blocked, PACS[pacs_name]["ipv4"], port)
    assert rc != 0, out


def test_blocked_dicom_echo_fails(blocked, pacs_name):
    assert blocked.run("echoscu -to %d -aec ORTHANC %s 4242" % (PROBE_TIMEOUT, pacs_name)).rc != 0


def test_blocked_host_reaches_other_ports(blocked, pacs_name):
    # Port 9999 (an unrelated service, opened by the administrator under firewalld) stays open.
    rc, out = _connect(blocked, PACS[pacs_name]["ipv4"], 9999)
    assert rc == 0, out


def test_ssh_only_from_admin_sources(allowed, blocked, pacs_name):
    # The allowed host is an admin source over IPv6 only: sshd answers there, not over IPv4.
    address = PACS[pacs_name]
    rc, out = _connect(allowed, address["ipv6"], 22)
    assert rc == 0 and out.startswith("SSH-2.0"), out
    assert _connect(allowed, address["ipv4"], 22)[0] != 0
    assert _connect(blocked, address["ipv6"], 22)[0] != 0


# --- real traffic over IPv6 --------------------------------------------------------------

@pytest.mark.usefixtures("v6_listener")
@pytest.mark.parametrize("port", [4242, 8042])
def test_ipv6_pacs_ports(allowed, blocked, pacs_name, port):
    address = PACS[pacs_name]["ipv6"]
    rc, out = _connect(allowed, address, port)
    assert rc == 0 and out == "v6-listener %d" % port, out
    rc, out = _connect(blocked, address, port)
    assert rc != 0, out


# --- management path ----------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PACS))
def test_controller_ssh_still_works(name):
    # A new SSH connection from this machine (not docker exec, which no firewall sees).
    result = _controller_ssh(PACS[name]["ipv4"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == CONTROLLER


# --- the rules survive the firewall service ----------------------------------------------

def test_nft_table_survives_nftables_restart(nft_pacs, allowed, blocked):
    before = nft_pacs.check_output("nft -s list table %s" % TABLE)
    nft_pacs.check_output("systemctl restart nftables")
    assert nft_pacs.check_output("nft -s list table %s" % TABLE) == before
    assert "192.0.2.1" in nft_pacs.check_output("nft list table ip ppf_foreign")
    nft_pacs.check_output("systemctl reload nftables")
    assert nft_pacs.check_output("nft -s list table %s" % TABLE) == before
    # And the firewall still does its job.
    assert allowed.run("echoscu -to %d -aec ORTHANC ppf-pacs 4242" % PROBE_TIMEOUT).rc == 0
    assert _connect(blocked, PACS["ppf-pacs"]["ipv4"], 4242)[0] != 0


@pytest.mark.parametrize("action", ["restart", "reload"])
def test_firewalld_rules_survive(fwd_pacs, allowed, blocked, action):
    before = _policy(fwd_pacs)
    if action == "restart":
        fwd_pacs.check_output("systemctl restart firewalld")
    else:
        fwd_pacs.check_output("firewall-cmd --reload")
    assert _policy(fwd_pacs) == before
    assert allowed.run("echoscu -to %d -aec ORTHANC ppf-fwd 4242" % PROBE_TIMEOUT).rc == 0
    assert _connect(blocked, PACS["ppf-fwd"]["ipv4"], 4242)[0] != 0
