"""The HTTPS front door in the firewall: filter_plugins/pacs_firewall.py's port sets,
validation and notices with pacs_https_enabled, and the nftables ruleset and firewalld
policy rendered from them (checked by nft -c and parsed as XML)."""

import importlib.util
import pathlib
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
from ansible.errors import AnsibleFilterError

ROOT = pathlib.Path(__file__).resolve().parents[2]
_SPEC = importlib.util.spec_from_file_location("pacs_firewall_https_filters", ROOT / "filter_plugins" / "pacs_firewall.py")
_MOD = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_MOD)
FILTERS = _MOD.FilterModule().filters()
ports = FILTERS["pacs_firewall_ports"]
errors = FILTERS["pacs_firewall_errors"]
notices = FILTERS["pacs_firewall_notices"]
sources = FILTERS["pacs_firewall_sources"]


def base(**overrides):
    data = {
        "orthanc_dicom_port": 4242, "orthanc_http_port": "8042", "pacs_firewall_ssh_port": 22,
        "pacs_firewall_backend": "auto", "pacs_firewall_admin_cidrs": ["192.0.2.0/28"],
        "pacs_firewall_http_cidrs": [], "pacs_firewall_dicom_cidrs": [],
        "pacs_firewall_allow_any_dicom_source_i_know_this_is_unsafe": False,
        "orthanc_modalities": [{"name": "CT1", "aet": "CT1", "host": "198.51.100.11", "port": 104}],
        "orthanc_dependent_modalities": [], "xnat_dqr_servers": [], "orthanc_peers": [],
    }
    data.update(overrides)
    return data


def https(**overrides):
    """As the role's vars/main.yml hands them over: strings from Jinja."""
    return base(**{"pacs_https_enabled": "True", "pacs_https_port": "443", "pacs_https_http_port": "80",
                   "pacs_https_http_redirect": "True", **overrides})


def test_without_the_front_door_nothing_changes():
    assert ports(base()) == {"dicom": [4242], "http": [8042], "ssh": [22], "closed": []}
    # The keys as vars/main.yml passes them with the front door off.
    assert ports(base(pacs_https_enabled="False", pacs_https_port="443")) == ports(base())


def test_the_https_port_takes_the_place_of_the_http_port():
    assert ports(https()) == {"dicom": [4242], "http": [443, 80], "ssh": [22], "closed": [8042]}
    assert ports(https(pacs_https_enabled=True, pacs_https_port=8443, pacs_https_http_port=8080)) == {
        "dicom": [4242], "http": [8443, 8080], "ssh": [22], "closed": [8042]}


def test_without_the_redirect_plain_http_stays_shut():
    assert ports(https(pacs_https_http_redirect="False"))["http"] == [443]
    assert ports(https(pacs_https_http_redirect=False))["closed"] == [8042]


@pytest.mark.parametrize("key, value", [("pacs_https_port", "https"), ("orthanc_http_port", 0)])
def test_ports_refuses_a_bad_port_by_name(key, value):
    with pytest.raises(AnsibleFilterError, match=key):
        ports(https(**{key: value}))


def test_errors_name_a_front_door_port_that_collides():
    assert errors(https()) == []
    assert errors(https(pacs_https_port="4242")) == ["pacs_https_port: port 4242 is also orthanc_dicom_port"]
    assert errors(https(pacs_https_http_port=22)) == ["pacs_https_http_port: port 22 is also pacs_firewall_ssh_port"]
    assert errors(https(pacs_https_port="8042")) == ["pacs_https_port: port 8042 is also orthanc_http_port"]
    # Off, or without the redirect, the unused port is not checked.
    assert errors(base(pacs_https_enabled=False, pacs_https_port="4242")) == []
    assert errors(https(pacs_https_http_redirect=False, pacs_https_http_port=4242)) == []


def test_notices_say_once_that_orthancs_port_is_closed():
    notes = notices(https(pacs_firewall_http_cidrs=["10.1.0.0/16"]))
    assert notes == ["Orthanc's own HTTP port 8042 is closed to every host but this one (loopback, where the "
                     "HTTPS front door reaches it): the HTTPS port 443 takes its place in the firewall, so "
                     "clients, peers and XNAT must use https:// on port 443"]
    assert notices(base(pacs_firewall_http_cidrs=["10.1.0.0/16"])) == []


def test_notices_name_the_https_port_when_no_user_may_reach_it():
    notes = notices(https(pacs_firewall_admin_cidrs=[]), management=["198.51.100.200"])
    assert len(notes) == 2 and "8042 is closed" in notes[0]
    assert notes[1].startswith("the HTTPS port 443 (and the plain-HTTP port 80, which redirects to it) is open to "
                               "the controller only (198.51.100.200)")


# --- the templates, rendered by Ansible's Templar with the project's filters -------------

def _render(template, config, **variables):
    from ansible.parsing.dataloader import DataLoader  # pylint: disable=import-outside-toplevel
    from ansible.plugins.loader import filter_loader  # pylint: disable=import-outside-toplevel
    from ansible.template import Templar, trust_as_template  # pylint: disable=import-outside-toplevel

    filter_loader.add_directory(str(ROOT / "filter_plugins"))
    templar = Templar(loader=DataLoader(), variables={})
    templar.available_variables = {"ansible_managed": "Ansible managed: test", "__pacs_firewall_config": config,
                                   "pacs_firewall_sources": sources(config, management=["172.28.90.1"]),
                                   "pacs_firewall_nft_table": "pacs_provisioner",
                                   "pacs_firewall_firewalld_policy": "pacs-provisioner", **variables}
    return templar.template(trust_as_template((ROOT / "roles" / "pacs_firewall" / "templates" / template).read_text()),
                            escape_backslashes=False)  # as the template action renders a file


def _chain(ruleset):
    return [line.strip() for line in ruleset.split("chain input {", 1)[1].splitlines()
            if line.strip() and not line.strip().startswith("#")]


def test_nftables_ruleset_without_the_front_door_is_unchanged():
    rules = _chain(_render("pacs_provisioner.nft.j2", base()))
    assert "tcp dport 8042 ip saddr @http_ipv4 accept" in rules
    assert not [r for r in rules if "reject" in r]


def test_nftables_ruleset_with_the_front_door():
    ruleset = _render("pacs_provisioner.nft.j2", https())
    rules = _chain(ruleset)
    assert rules.index('iifname "lo" accept') < rules.index("tcp dport 8042 counter reject with tcp reset")
    for rule in ("tcp dport { 443, 80 } ip saddr @http_ipv4 accept", "tcp dport { 443, 80 } ip6 saddr @http_ipv6 accept",
                 "tcp dport { 443, 80 } counter drop", "tcp dport 4242 ip saddr @dicom_ipv4 accept"):
        assert rule in rules
    assert not [r for r in rules if "8042" in r and "reject" not in r]
    nft = shutil.which("nft")
    assert nft is not None, "nft is not installed: scripts/bootstrap.sh installs nftables"
    check = subprocess.run([nft, "-c", "-f", "-"], input=ruleset, text=True, capture_output=True, check=False)
    assert check.returncode == 0, check.stderr


def test_firewalld_policy_with_the_front_door():
    root = ET.fromstring(_render("pacs-provisioner-policy.xml.j2", https()).encode("utf-8"))
    rules = [(r.get("family"), r.find("source").get("address") if r.find("source") is not None else None,
              r.find("port").get("port"), r[-1].tag) for r in root.findall("rule")]
    assert ("ipv4", "172.28.90.1", "443", "accept") in rules and ("ipv4", "172.28.90.1", "80", "accept") in rules
    assert (None, None, "443", "drop") in rules and (None, None, "80", "drop") in rules
    assert [r for r in rules if r[2] == "8042"] == [(None, None, "8042", "reject")]
    assert root.findtext("description").endswith("HTTP 443, 80, SSH 22, closed 8042")
