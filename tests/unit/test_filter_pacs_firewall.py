"""Unit tests for filter_plugins/pacs_firewall.py (fetched through FilterModule)."""

import importlib.util
import pathlib
import socket

import pytest
from ansible.errors import AnsibleFilterError

_PATH = pathlib.Path(__file__).resolve().parents[2] / "filter_plugins" / "pacs_firewall.py"
_SPEC = importlib.util.spec_from_file_location("pacs_firewall_filters", _PATH)
_MOD = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_MOD)
FILTERS = _MOD.FilterModule().filters()

errors = FILTERS["pacs_firewall_errors"]
sources = FILTERS["pacs_firewall_sources"]
hostnames = FILTERS["pacs_firewall_hostnames"]
resolve = FILTERS["pacs_firewall_resolve"]
notices = FILTERS["pacs_firewall_notices"]


def base(**overrides):
    data = {
        "orthanc_dicom_port": 4242,
        "orthanc_http_port": 8042,
        "pacs_firewall_ssh_port": 22,
        "pacs_firewall_backend": "auto",
        "pacs_firewall_admin_cidrs": ["192.0.2.0/28"],
        "pacs_firewall_http_cidrs": [],
        "pacs_firewall_dicom_cidrs": [],
        "pacs_firewall_allow_any_dicom_source_i_know_this_is_unsafe": False,
        "orthanc_modalities": [],
        "xnat_dqr_servers": [],
        "orthanc_peers": [],
    }
    data.update(overrides)
    return data


def test_all_filters_registered():
    assert set(FILTERS) == {
        "pacs_firewall_errors", "pacs_firewall_sources", "pacs_firewall_hostnames", "pacs_firewall_resolve",
        "pacs_firewall_notices", "pacs_firewall_ports", "pacs_firewall_front_doors", "pacs_firewall_os_family"}


# The files as the distributions ship them (ID and ID_LIKE are what counts).
_OS_RELEASES = {
    "Debian": ['PRETTY_NAME="Debian GNU/Linux 13 (trixie)"', 'NAME="Debian GNU/Linux"', 'VERSION_ID="13"',
               'VERSION="13 (trixie)"', "VERSION_CODENAME=trixie", "DEBIAN_VERSION_FULL=13.1", "ID=debian"],
    "Ubuntu": ['PRETTY_NAME="Ubuntu 24.04.1 LTS"', 'NAME="Ubuntu"', 'VERSION_ID="24.04"', "ID=ubuntu",
               "ID_LIKE=debian", "UBUNTU_CODENAME=noble"],
    "Mint": ['NAME="Linux Mint"', "ID=linuxmint", "ID_LIKE=\"ubuntu debian\""],
    "Rocky": ['NAME="Rocky Linux"', 'VERSION="9.4 (Blue Onyx)"', 'ID="rocky"', 'ID_LIKE="rhel centos fedora"'],
    "Fedora": ["NAME=\"Fedora Linux\"", "ID=fedora", "VERSION_ID=40"],
    "Alpine": ['NAME="Alpine Linux"', "ID=alpine", "VERSION_ID=3.20.0"],
    "openSUSE": ['NAME="openSUSE Leap"', 'ID="opensuse-leap"', 'ID_LIKE="suse opensuse"'],
}


@pytest.mark.parametrize("name, family", [("Debian", "Debian"), ("Ubuntu", "Debian"), ("Mint", "Debian"),
                                          ("Rocky", "RedHat"), ("Fedora", "RedHat"), ("Alpine", "other:alpine"),
                                          ("openSUSE", "other:opensuse-leap")])
def test_os_family_from_os_release(name, family):
    os_family = FILTERS["pacs_firewall_os_family"]
    assert os_family("\n".join(_OS_RELEASES[name]) + "\n") == family
    assert os_family(_OS_RELEASES[name]) == family  # stdout_lines


def test_os_family_of_this_machine_and_of_nothing():
    os_family = FILTERS["pacs_firewall_os_family"]
    assert os_family(pathlib.Path("/etc/os-release").read_text(encoding="utf-8")) == "Debian"
    assert os_family("") == "unknown"
    assert os_family(["NAME=x", "ID_LIKE=debian"]) == "unknown"


def test_modalities_go_to_dicom_only():
    data = base(orthanc_modalities=[
        {"name": "CT1", "aet": "CT1", "host": "198.51.100.11", "port": 104},
        {"name": "MR1", "aet": "MR1", "host": "198.51.100.12", "port": 104},
    ])
    result = sources(data)
    assert result["dicom"] == {"ipv4": ["198.51.100.11", "198.51.100.12"], "ipv6": []}
    assert result["http"] == {"ipv4": ["192.0.2.0/28"], "ipv6": []}
    assert result["ssh"] == {"ipv4": ["192.0.2.0/28"], "ipv6": []}


def test_xnat_receivers_go_to_dicom():
    data = base(xnat_dqr_servers=[
        {"name": "XNAT_A", "receiver": {"aet": "XNAT_A", "host": "203.0.113.5", "port": 8104}},
    ])
    assert sources(data)["dicom"]["ipv4"] == ["203.0.113.5"]
    assert "203.0.113.5" not in sources(data)["http"]["ipv4"]


def test_peers_go_to_dicom_and_http():
    data = base(orthanc_peers=[{"name": "backup", "url": "https://[2001:db8::7]:8042/"},
                               {"name": "b2", "url": "http://203.0.113.9:8042/"}])
    result = sources(data)
    assert result["dicom"] == {"ipv4": ["203.0.113.9"], "ipv6": ["2001:db8::7"]}
    assert result["http"] == {"ipv4": ["192.0.2.0/28", "203.0.113.9"], "ipv6": ["2001:db8::7"]}
    assert result["ssh"]["ipv6"] == []


def test_extra_cidrs_and_management():
    data = base(pacs_firewall_dicom_cidrs=["10.1.0.0/16"], pacs_firewall_http_cidrs=["2001:db8:1::/48"])
    result = sources(data, management=["198.51.100.200"])
    # The controller administers the host and runs the smoke probe: every port (issue 16).
    assert result["dicom"]["ipv4"] == ["10.1.0.0/16", "198.51.100.200"]
    assert result["http"]["ipv4"] == ["192.0.2.0/28", "198.51.100.200"]
    assert result["http"]["ipv6"] == ["2001:db8:1::/48"]
    assert result["ssh"]["ipv4"] == ["192.0.2.0/28", "198.51.100.200"]


def test_without_management_only_the_inventory_opens_ports():
    result = sources(base(pacs_firewall_dicom_cidrs=["10.1.0.0/16"]), management=[])
    assert result["dicom"]["ipv4"] == ["10.1.0.0/16"]
    assert result["ssh"]["ipv4"] == ["192.0.2.0/28"]


def test_notice_when_the_http_port_is_open_to_the_controller_only():
    data = base(pacs_firewall_admin_cidrs=[])
    notes = notices(data, management=["198.51.100.200"])
    assert len(notes) == 1
    assert "8042 is open to the controller only (198.51.100.200)" in notes[0]
    assert "pacs_firewall_http_cidrs" in notes[0]
    assert "open to nobody" in notices(data)[0]


@pytest.mark.parametrize("opened_by", [
    {"pacs_firewall_http_cidrs": ["10.1.0.0/16"]},
    {"pacs_firewall_admin_cidrs": ["192.0.2.0/28"]},
    {"orthanc_peers": [{"name": "P", "url": "http://10.1.2.3:8042/"}]},
])
def test_no_notice_when_a_user_network_may_reach_the_http_port(opened_by):
    data = base(**{"pacs_firewall_admin_cidrs": [], **opened_by})
    assert notices(data, management=["198.51.100.200"]) == []


def test_duplicates_merged_and_overlaps_collapsed():
    data = base(
        orthanc_modalities=[{"name": "A", "host": "10.1.2.3"}, {"name": "B", "host": "10.1.2.3"}],
        xnat_dqr_servers=[{"name": "X", "receiver": {"host": "10.1.2.3"}}],
        pacs_firewall_dicom_cidrs=["10.1.0.0/17", "10.1.128.0/17", "10.9.0.0/24", "10.9.0.0/25"],
    )
    assert sources(data)["dicom"]["ipv4"] == ["10.1.0.0/16", "10.9.0.0/24"]


def test_ipv6_normalised_and_separate():
    data = base(
        orthanc_modalities=[{"name": "V6", "host": "2001:DB8:0:0::1"}, {"name": "V4", "host": "10.0.0.1"}],
        pacs_firewall_dicom_cidrs=["2001:db8:0:0:0:0:0:1/128", "2001:db8:ff::/64"],
    )
    result = sources(data)["dicom"]
    assert result["ipv6"] == ["2001:db8::1", "2001:db8:ff::/64"]
    assert result["ipv4"] == ["10.0.0.1"]


def test_hostnames_listed_and_resolved_map_used():
    data = base(
        orthanc_modalities=[{"name": "CT1", "host": "CT1.Example.ORG."}, {"name": "IP", "host": "10.0.0.1"}],
        xnat_dqr_servers=[{"name": "XN", "receiver": {"host": "xnat.example.org"}}],
        orthanc_peers=[{"name": "p", "url": "https://pacs2.example.org:8042/"}],
    )
    assert hostnames(data) == [
        {"variable": "orthanc_modalities[CT1].host", "name": "ct1.example.org"},
        {"variable": "xnat_dqr_servers[XN].receiver.host", "name": "xnat.example.org"},
        {"variable": "orthanc_peers[p].url", "name": "pacs2.example.org"},
    ]
    resolved = {"ct1.example.org": ["10.0.0.5"], "xnat.example.org": ["10.0.0.6", "2001:db8::6"],
                "pacs2.example.org": ["10.0.0.7"]}
    result = sources(data, resolved=resolved)
    # 10.0.0.6 and 10.0.0.7 are adjacent: collapsed into one /31.
    assert result["dicom"] == {"ipv4": ["10.0.0.1", "10.0.0.5", "10.0.0.6/31"], "ipv6": ["2001:db8::6"]}
    assert result["http"]["ipv4"] == ["10.0.0.7", "192.0.2.0/28"]


def test_unresolved_hostname_is_an_error_naming_the_item():
    data = base(orthanc_modalities=[{"name": "CT1", "host": "ct1.example.org"}])
    with pytest.raises(AnsibleFilterError, match=r"orthanc_modalities\[CT1\]\.host.*ct1\.example\.org"):
        sources(data)


def test_resolve_localhost_and_failure():
    result = resolve([
        {"variable": "orthanc_modalities[L].host", "name": "localhost"},
        {"variable": "orthanc_modalities[BAD].host", "name": "no-such-host.invalid"},
    ])
    assert "127.0.0.1" in result["addresses"]["localhost"]
    assert "no-such-host.invalid" not in result["addresses"]
    assert len(result["errors"]) == 1
    assert result["errors"][0].startswith("orthanc_modalities[BAD].host: host name 'no-such-host.invalid'")


def test_resolve_uses_getaddrinfo(monkeypatch):
    def fake(name, *args, **kwargs):
        assert name == "pacs.example"
        return [(socket.AF_INET, 1, 6, "", ("10.0.0.9", 0)),
                (socket.AF_INET6, 1, 6, "", ("fe80::1%eth0", 0, 0, 0)),
                (socket.AF_INET, 1, 6, "", ("10.0.0.9", 0))]
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    result = resolve([{"variable": "v", "name": "pacs.example"}])
    assert result == {"addresses": {"pacs.example": ["10.0.0.9", "fe80::1"]}, "errors": []}


def test_valid_input_has_no_errors():
    data = base(
        orthanc_modalities=[{"name": "CT1", "host": "ct1.example.org"}],
        xnat_dqr_servers=[{"name": "X", "receiver": {"host": "2001:db8::1"}}],
        orthanc_peers=[{"name": "p", "url": "https://pacs2.example.org:8042/"}],
        pacs_firewall_dicom_cidrs=["10.0.0.0/8", "2001:db8::/32"],
    )
    assert errors(data) == []


def test_all_errors_reported_at_once():
    data = base(
        orthanc_dicom_port=70000,
        orthanc_http_port="x",
        pacs_firewall_ssh_port=True,
        pacs_firewall_backend="iptables",
        pacs_firewall_admin_cidrs=["10.0.0.1/24", "not-a-net", 5],
        pacs_firewall_http_cidrs="10.0.0.0/8",
        pacs_firewall_dicom_cidrs=["2001:db8::/129"],
        orthanc_modalities=[{"name": "CT1", "host": ""}, {"name": "BAD", "host": "bad_host!"}, "oops"],
        xnat_dqr_servers=[{"name": "X", "receiver": {}}],
        orthanc_peers=[{"name": "p", "url": "not a url"}],
    )
    found = errors(data)
    expected_prefixes = [
        "pacs_firewall_backend: 'iptables'",
        "orthanc_dicom_port: 70000 (int)",
        "orthanc_http_port: 'x' (str)",
        "pacs_firewall_ssh_port: True (bool)",
        "pacs_firewall_admin_cidrs[0]: '10.0.0.1/24' has host bits set (did you mean 10.0.0.0/24?)",
        "pacs_firewall_admin_cidrs[1]: 'not-a-net'",
        "pacs_firewall_admin_cidrs[2]: 5 (int)",
        "pacs_firewall_http_cidrs: '10.0.0.0/8' (str) is not a list",
        "pacs_firewall_dicom_cidrs[0]: '2001:db8::/129'",
        "orthanc_modalities[CT1].host: '' (str)",
        "orthanc_modalities[BAD].host: 'bad_host!'",
        "orthanc_modalities[2].host: None",
        "xnat_dqr_servers[X].receiver.host: None",
        "orthanc_peers[p].url: has no URL with a host part",
    ]
    for prefix in expected_prefixes:
        assert any(e.startswith(prefix) for e in found), (prefix, found)
    assert len(found) == len(expected_prefixes)


def test_port_collision_and_missing():
    found = errors(base(orthanc_http_port=4242, pacs_firewall_ssh_port=None))
    assert found == ["orthanc_http_port: port 4242 is also orthanc_dicom_port", "pacs_firewall_ssh_port: is not set"]


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "::/0"])
def test_any_source_on_dicom_needs_the_flag(cidr):
    data = base(pacs_firewall_dicom_cidrs=[cidr])
    found = errors(data)
    assert len(found) == 1
    assert found[0].startswith("pacs_firewall_dicom_cidrs[0]: %s opens the DICOM port to any source" % cidr)
    data["pacs_firewall_allow_any_dicom_source_i_know_this_is_unsafe"] = True
    assert errors(data) == []
    # Any source on the HTTP port is a choice, not an error.
    assert errors(base(pacs_firewall_http_cidrs=[cidr])) == []


def test_flag_must_be_boolean():
    found = errors(base(pacs_firewall_allow_any_dicom_source_i_know_this_is_unsafe="yes"))
    assert found == ["pacs_firewall_allow_any_dicom_source_i_know_this_is_unsafe: 'yes' (str) is not a boolean"]


@pytest.mark.parametrize("bad", ["a string", 42, None])
def test_non_dict_input_raises_naming_type(bad):
    for name in ("pacs_firewall_errors", "pacs_firewall_sources", "pacs_firewall_hostnames"):
        with pytest.raises(AnsibleFilterError, match=type(bad).__name__):
            FILTERS[name](bad)


def test_sources_rejects_bad_resolved_address():
    data = base(orthanc_modalities=[{"name": "CT1", "host": "ct1.example.org"}])
    with pytest.raises(AnsibleFilterError, match=r"orthanc_modalities\[CT1\]\.host: 'garbage'"):
        sources(data, resolved={"ct1.example.org": ["garbage"]})


# --- Issue 18: names that become syntax in the ruleset and the policy XML ---------------------

@pytest.mark.parametrize("table", ["pacs_provisioner", "PACS", "t1_x", "Fw2", "a" + "_" * 63])
def test_nft_table_names_nft_reads_as_one_identifier_are_kept(table):
    assert errors(base(pacs_firewall_nft_table=table)) == []


@pytest.mark.parametrize("table, problem", [
    ("x; flush ruleset; table inet y", "must be 1-64 letters, digits and '_'"),
    ("x\nflush ruleset", "must be 1-64 letters"), ("a-b", "must be 1-64"), ("a.b", "must be 1-64"),
    ("a/b", "must be 1-64"), ("_x", "starting with a letter"), ("1x", "starting with a letter"),
    ("", "must be 1-64"), ("a" * 65, "must be 1-64"), ("t\u00e4ble", "must be 1-64"), (5, "(int)"),
    ("accept", "could be an nft keyword"), ("counter", "could be an nft keyword"), ("pacs", "could be an nft keyword"),
])
def test_other_nft_table_names_are_refused(table, problem):
    result = errors(base(pacs_firewall_nft_table=table))
    assert len(result) == 1 and result[0].startswith("pacs_firewall_nft_table: ") and problem in result[0], result


@pytest.mark.parametrize("policy", ["pacs-provisioner", "pacs_fw", "P1", "x" * 17])
def test_firewalld_policy_names_firewalld_accepts_are_kept(policy):
    assert errors(base(pacs_firewall_firewalld_policy=policy)) == []


@pytest.mark.parametrize("policy, problem", [
    ("pacs-provisioner-campus-a", "(25 characters) must be 1-17"), ("x" * 18, "(18 characters)"),
    ('p"/><rule><accept/></rule><x a="', "must be 1-17 letters"), ("a/b", "must be 1-17"), ("../x", "must be 1-17"),
    ("a b", "must be 1-17"), ("", "must be 1-17"), ("p\u00f6licy", "must be 1-17"), (None, "(NoneType)"),
    ("public", "is a firewalld zone"), ("HOST", "is a firewalld zone"), ("allow-host-ipv6", "shipped policy"),
])
def test_other_firewalld_policy_names_are_refused(policy, problem):
    result = errors(base(pacs_firewall_firewalld_policy=policy))
    assert len(result) == 1 and result[0].startswith("pacs_firewall_firewalld_policy: ") and problem in result[0]


def test_names_are_only_checked_when_given():
    data = base()
    data.pop("pacs_firewall_nft_table", None)
    data.pop("pacs_firewall_firewalld_policy", None)
    assert errors(data) == []


def test_the_validate_tasks_hand_the_names_to_the_filter():
    text = (_PATH.parents[1] / "roles" / "pacs_firewall" / "tasks" / "validate.yml").read_text()
    assert "pacs_firewall_nft_table: \"{{ pacs_firewall_nft_table }}\"" in text
    assert "pacs_firewall_firewalld_policy: \"{{ pacs_firewall_firewalld_policy }}\"" in text


@pytest.mark.parametrize("key, value", [
    ("pacs_firewall_nft_file", "/etc/nftables.d/x.nft; rm -rf /"),
    ("pacs_firewall_nft_file", "etc/relative.nft"),
    ("pacs_firewall_nft_file", "/etc/../root/x.nft"),
    ("pacs_firewall_state_dir", "/var/lib/pacs dir"),
    ("pacs_firewall_state_dir", "/var/lib/$(id)"),
    ("pacs_firewall_state_dir", "/var/lib/x\nExecStart=/bin/sh"),
    ("pacs_firewall_state_dir", 5),
])
def test_paths_that_reach_the_shell_script_and_units_are_refused(key, value):
    problems = errors(base(**{key: value}))
    assert any(p.startswith("%s: " % key) and "absolute path of plain segments" in p for p in problems), problems


def test_default_paths_pass():
    assert errors(base(pacs_firewall_nft_file="/etc/nftables.d/pacs_provisioner.nft",
                       pacs_firewall_state_dir="/var/lib/pacs_provisioner/firewall")) == []


@pytest.mark.parametrize("key, value", [("pacs_firewall_nft_table", "pacs_provisioner\n"),
                                        ("pacs_firewall_firewalld_policy", "pacs-prov\n"),
                                        ("pacs_firewall_state_dir", "/var/lib/pp\n")])
def test_a_trailing_newline_is_refused(key, value):
    assert any(p.startswith(key) for p in errors(base(**{key: value})))


# --- an HTTPS front door on another host load-balancing this Orthanc (issue 13) ----------

front_doors = FILTERS["pacs_firewall_front_doors"]

SITE = {
    "node-a": {"inventory_hostname": "node-a", "orthanc_address": "10.0.0.10"},
    "node-b": {"inventory_hostname": "node-b", "ansible_host": "node-b.example.org"},
    "lb": {"inventory_hostname": "lb", "ansible_host": "10.0.0.5", "pacs_https_enabled": True,
           "pacs_https_upstreams": [{"host": "10.0.0.10", "port": 8042}, {"host": "NODE-B.example.org.", "port": "8042"},
                                    {"host": "127.0.0.1", "port": 8042}]},
}


def test_a_front_door_that_lists_this_node_is_found():
    assert front_doors(list(SITE), SITE, "node-a") == [{"name": "lb", "host": "10.0.0.5"}]
    # By its ansible_host, written in another case and with a final dot.
    assert front_doors(list(SITE), SITE, "node-b") == [{"name": "lb", "host": "10.0.0.5"}]
    # The front door itself reaches its own Orthanc (if any) over loopback.
    assert front_doors(list(SITE), SITE, "lb") == []


@pytest.mark.parametrize("change", [
    {"pacs_https_enabled": False},                                     # no front door there
    {"pacs_https_upstreams": [{"host": "10.0.0.10", "port": 8043}]},   # another port of the host
    {"pacs_https_upstreams": [{"host": "10.0.0.99", "port": 8042}]},   # another host
    {"pacs_https_upstreams": "not a list"},                             # the pacs_https preflight names it
])
def test_a_front_door_that_does_not_reach_this_orthanc_is_left_out(change):
    site = dict(SITE, lb={**SITE["lb"], **change})
    assert front_doors(list(site), site, "node-a") == []


def test_a_loopback_upstream_never_names_another_host():
    site = {"node": {"inventory_hostname": "node", "orthanc_address": "127.0.0.1"},
            "lb": {"inventory_hostname": "lb", "ansible_host": "10.0.0.5", "pacs_https_enabled": "true",
                   "pacs_https_upstreams": [{"host": "127.0.0.1", "port": 8042}]}}
    assert front_doors(["node", "lb"], site, "node") == []


def test_an_ipv6_upstream_in_brackets_names_the_node():
    site = {"node": {"inventory_hostname": "node", "orthanc_address": "2001:db8::10"},
            "lb": {"inventory_hostname": "lb", "ansible_host": "2001:db8::5", "pacs_https_enabled": True,
                   "pacs_https_upstreams": [{"host": "[2001:db8::10]", "port": 8042}]}}
    assert front_doors(["node", "lb", "lb"], site, "node") == [{"name": "lb", "host": "2001:db8::5"}]


def test_front_doors_open_orthancs_http_port_to_them():
    data = base(pacs_https_front_doors=[{"name": "lb", "host": "10.0.0.5"}, {"name": "lb6", "host": "2001:db8::5"}])
    found = sources(data)
    assert found["http"] == {"ipv4": ["10.0.0.5", "192.0.2.0/28"], "ipv6": ["2001:db8::5"]}
    assert "10.0.0.5" not in found["dicom"]["ipv4"] and "10.0.0.5" not in found["ssh"]["ipv4"]
    assert errors(data) == []
    # Nobody is told that no user reaches the HTTP port: the front door serves them.
    assert notices(base(pacs_firewall_admin_cidrs=[], pacs_https_front_doors=[{"name": "lb", "host": "10.0.0.5"}])) == []


def test_a_front_door_known_by_name_is_resolved_like_a_modality():
    data = base(pacs_https_front_doors=[{"name": "lb", "host": "lb.example.org"}])
    assert hostnames(data) == [{"variable": "pacs_https_front_doors[lb].host", "name": "lb.example.org"}]
    assert sources(data, resolved={"lb.example.org": ["10.0.0.5"]})["http"]["ipv4"] == ["10.0.0.5", "192.0.2.0/28"]
    assert errors(base(pacs_https_front_doors=[{"name": "lb", "host": ""}])) == [
        "pacs_https_front_doors[lb].host: '' (str) is not a host name or IP address"]


def test_a_front_door_cannot_reach_a_node_whose_own_front_door_closes_the_port():
    data = base(pacs_https_enabled=True, pacs_https_port=443, pacs_https_http_port=80,
                pacs_https_front_doors=[{"name": "lb", "host": "10.0.0.5"}])
    assert errors(data) == [
        "pacs_https_front_doors[lb]: its HTTPS front door lists this host's Orthanc (HTTP port 8042) in "
        "pacs_https_upstreams, but this host's own front door (pacs_https_enabled) closes that port to every host "
        "but loopback; take this host out of its pacs_https_upstreams or turn this host's front door off"]


def test_the_role_hands_the_front_doors_to_the_filters(tmp_path):
    """The expression of roles/pacs_firewall/vars/main.yml, templated by Ansible over a real
    inventory (lazy hostvars, group_vars, a templated port): the scale-out site's front door."""
    import yaml  # pylint: disable=import-outside-toplevel
    from ansible.inventory.manager import InventoryManager  # pylint: disable=import-outside-toplevel
    from ansible.parsing.dataloader import DataLoader  # pylint: disable=import-outside-toplevel
    from ansible.plugins.loader import filter_loader  # pylint: disable=import-outside-toplevel
    from ansible.template import Templar, trust_as_template  # pylint: disable=import-outside-toplevel
    from ansible.vars.hostvars import HostVars  # pylint: disable=import-outside-toplevel
    from ansible.vars.manager import VariableManager  # pylint: disable=import-outside-toplevel

    (tmp_path / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": {
        "orthanc": {"hosts": {"node-a": {"orthanc_address": "172.28.40.10"},
                              "node-b": {"orthanc_address": "172.28.40.11"}}},
        "pacs_https": {"hosts": {"lb": {"ansible_host": "172.28.40.5"}}}}}}))
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "pacs_https.yml").write_text(
        "pacs_https_enabled: true\nlb_port: 8042\n"
        "pacs_https_upstreams:\n  - {host: 172.28.40.10, port: \"{{ lb_port }}\"}\n  - {host: 172.28.40.11, port: 8042}\n")
    filter_loader.add_directory(str(_PATH.parent))
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(tmp_path / "hosts.yml")])
    manager = VariableManager(loader=loader, inventory=inventory)
    expression = yaml.safe_load((_PATH.parents[1] / "roles" / "pacs_firewall" / "vars" / "main.yml").read_text())[
        "__pacs_firewall_config"]["pacs_https_front_doors"]
    found = {}
    for host in ("node-a", "node-b", "lb"):
        variables = manager.get_vars(host=inventory.get_host(host))
        variables["hostvars"] = HostVars(inventory=inventory, variable_manager=manager, loader=loader)
        found[host] = Templar(loader=loader, variables=variables).template(trust_as_template(expression))
    assert found == {"node-a": [{"name": "lb", "host": "172.28.40.5"}],
                     "node-b": [{"name": "lb", "host": "172.28.40.5"}], "lb": []}
