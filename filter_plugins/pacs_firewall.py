# -*- coding: utf-8 -*-
"""Filters for the pacs_firewall role.

pacs_firewall_errors, pacs_firewall_hostnames and pacs_firewall_sources are pure:
they only look at the data they are given. pacs_firewall_resolve is the one impure
filter: it asks the controller's resolver (getaddrinfo) for addresses.
"""

from __future__ import annotations

import ipaddress
import pathlib
import re
import socket
import sys
from collections.abc import Mapping
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError

# Shared contract code lives beside the filters in filter_plugins/pacs_model.py (README: "Where code lives").
if str(pathlib.Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from pacs_model import pacs_orthanc_address, pacs_orthanc_names, pacs_setting  # noqa: E402  pylint: disable=wrong-import-position


def _type_name(value):
    """The built-in type a value is (Ansible wraps str, dict, ... in tagged subclasses)."""
    return next(t.__name__ for t in type(value).__mro__ if t.__module__ == "builtins")

DOCUMENTATION = r"""
name: pacs_firewall_sources
short_description: Source sets and validation for the pacs_firewall role
description:
  - "This file holds eight filters; all are pure but C(pacs_firewall_resolve), which asks the controller's resolver."
  - "C(pacs_firewall_errors(cfg)) - validates the inputs and returns a list of error strings
    of the form C(<variable>[<item>]: <problem>), every problem at once, empty when all is
    well: ports (1-65535, DICOM/HTTP/SSH distinct), CIDR lists (IPv4/IPv6, no host bits),
    0.0.0.0/0 or ::/0 on the DICOM port only with
    C(pacs_firewall_allow_any_dicom_source_i_know_this_is_unsafe), usable hosts."
  - "C(pacs_firewall_hostnames(cfg)) - the host names (not IP literals) of modalities, XNAT
    receivers and peers, each with the variable and item it came from."
  - "C(pacs_firewall_resolve(hostnames)) - IMPURE: resolves those names with the
    controller's getaddrinfo(); returns C(addresses) (name -> addresses) and C(errors)
    (one string per name that did not resolve, naming the variable and item)."
  - "C(pacs_firewall_sources(cfg, resolved={}, management=[])) - builds the allowed
    sources per port and family. DICOM: modalities, dependent modalities, XNAT receivers,
    peer hosts, pacs_firewall_dicom_cidrs. HTTP: pacs_firewall_http_cidrs, peer hosts,
    pacs_firewall_admin_cidrs, the HTTPS front doors of other hosts (pacs_https_front_doors). SSH: pacs_firewall_admin_cidrs. C(management) (the controller's
    address) is added to all three: it administers the host and runs the smoke probe.
    Duplicates merged, networks normalised, overlaps collapsed; single hosts without /32 or /128."
  - "C(pacs_firewall_notices(cfg, management=[])) - sentences to show the user once: that no user
    network may reach the HTTP (or HTTPS) port (it is open to the controller only, or to nobody), and,
    with the HTTPS front door on, that Orthanc's own HTTP port is closed to every host but loopback."
  - "C(pacs_firewall_front_doors(hostnames, hostvars, inventory_hostname)) - the HTTPS front doors (hosts
    among C(hostnames) with C(pacs_https_enabled)) whose C(pacs_https_upstreams) name this host's Orthanc
    HTTP port, as C([{name, host}]) (host is the front door's address, pacs_orthanc_address): the
    C(pacs_https_front_doors) input of the other filters, which opens Orthanc's HTTP port to them (a
    front door load-balancing several nodes reaches each node's HTTP port). The host itself and
    loopback upstreams are left out."
  - "C(pacs_firewall_os_family(os_release)) - the OS family, as Ansible's C(ansible_facts.os_family) names the
    two the role knows (C(Debian), C(RedHat)), from the text of the host's C(/etc/os-release) (its ID and
    ID_LIKE); any other family is C(other:<ID>), and a text without ID is C(unknown). The role reads the
    file in the probe it runs anyway, instead of gathering facts (one module run less)."
  - "C(pacs_firewall_ports(cfg)) - the TCP ports of each source set (C(dicom), C(http), C(ssh)) and the
    ports C(closed) to every host but loopback. With C(pacs_https_enabled) the C(http) set opens the
    HTTPS port (and the plain-HTTP redirect port when C(pacs_https_http_redirect)) instead of
    Orthanc's HTTP port, which is then closed (refused) to everyone but loopback."
positional: _input
options:
  _input:
    description:
      - "For C(pacs_firewall_errors), C(pacs_firewall_hostnames) and C(pacs_firewall_sources):
        a dict with the keys orthanc_dicom_port, orthanc_http_port, pacs_firewall_ssh_port,
        pacs_firewall_backend, pacs_firewall_admin_cidrs, pacs_firewall_http_cidrs,
        pacs_firewall_dicom_cidrs, pacs_firewall_allow_any_dicom_source_i_know_this_is_unsafe,
        orthanc_modalities, orthanc_dependent_modalities, xnat_dqr_servers, orthanc_peers,
        optionally pacs_https_enabled, pacs_https_port, pacs_https_http_port and
        pacs_https_http_redirect (the HTTPS front door; off when absent), and
        pacs_https_front_doors (what C(pacs_firewall_front_doors) returns; none when absent),
        and for C(pacs_firewall_errors) also pacs_firewall_nft_table and pacs_firewall_firewalld_policy
        (checked only when present)."
      - "For C(pacs_firewall_resolve): the list returned by C(pacs_firewall_hostnames)."
      - "For C(pacs_firewall_os_family): the text of /etc/os-release (a list of its lines is accepted too)."
    type: raw
    required: true
  resolved:
    description: "C(pacs_firewall_sources) only: host name -> list of addresses (C(addresses) of C(pacs_firewall_resolve))."
    type: dict
    default: {}
  management:
    description: "C(pacs_firewall_sources) and C(pacs_firewall_notices): addresses the controller connects from; added to every set."
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Validate
  ansible.builtin.assert:
    that: __errors | length == 0
    fail_msg: "{{ __errors }}"
  vars:
    __errors: "{{ cfg | pacs_firewall_errors }}"

- name: Resolve names on the controller, then build the sets
  ansible.builtin.set_fact:
    sets: "{{ cfg | pacs_firewall_sources(resolved=(cfg | pacs_firewall_hostnames | pacs_firewall_resolve).addresses) }}"
"""

RETURN = r"""
_value:
  description:
    - "C(pacs_firewall_errors): list of error strings, empty when the input is valid."
    - "C(pacs_firewall_hostnames): list of C({variable: 'orthanc_modalities[CT1].host', name: ct1.example.org})."
    - "C(pacs_firewall_resolve): C({addresses: {name: [addr, ...]}, errors: [str, ...]})."
    - "C(pacs_firewall_sources): C({dicom: {ipv4: [...], ipv6: [...]}, http: {...}, ssh: {...}}), sorted networks."
    - "C(pacs_firewall_front_doors): C([{name: pp-lb, host: 10.0.0.5}]), in the order of C(hostnames)."
    - "C(pacs_firewall_os_family): C(Debian), C(RedHat), C(other:<ID>) or C(unknown)."
    - "C(pacs_firewall_ports): C({dicom: [4242], http: [443, 80], ssh: [22], closed: [8042]}) (lists of ints)."
  type: raw
"""

_HOSTNAME_RE = re.compile(r"^(?=.{1,253}\Z)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?\Z")
_CIDR_LISTS = ("pacs_firewall_admin_cidrs", "pacs_firewall_http_cidrs", "pacs_firewall_dicom_cidrs")
_PORTS = ("orthanc_dicom_port", "orthanc_http_port", "pacs_firewall_ssh_port")
_BACKENDS = ("auto", "nftables", "firewalld")
_ANY_FLAG = "pacs_firewall_allow_any_dicom_source_i_know_this_is_unsafe"
# nft reads a table name as one {letter}({letter}|{digit}|[/-_.])* token, and its
# keywords (accept, counter, ip6, ...) are never names: none holds '_' or an
# upper-case letter, so a name with one of them is never a keyword, now or later.
_NFT_TABLE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}\Z")
# firewalld: letters, digits, '_' and '-' (its '/' would make a folder of the file
# name), at most 17 characters (max_policy_name_len: chain names are 28 at most).
_FIREWALLD_POLICY_RE = re.compile(r"^[A-Za-z0-9_-]{1,17}\Z")
# Names firewalld already uses: its zones (a policy may not share one), ANY and
# HOST, and the policies it ships (ours would replace theirs).
_FIREWALLD_RESERVED = {"ANY", "HOST", "block", "dmz", "drop", "external", "home", "internal", "nm-shared",
                       "public", "trusted", "work", "libvirt", "docker", "allow-host-ipv6",
                       "libvirt-routed-in", "libvirt-routed-out", "libvirt-to-host"}


def _require_mapping(data, filter_name):
    if not isinstance(data, Mapping):
        raise AnsibleFilterError(
            "%s expects a dict of variables, got %r (%s)" % (filter_name, data, _type_name(data))
        )


def _list(data, key):
    value = data.get(key)
    return [] if value is None else value


def _is_ip(text):
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _item_name(item, index):
    if isinstance(item, Mapping) and item.get("name"):
        return str(item["name"])
    return str(index)


def _peer_host(url):
    """Host part of a peer URL, or None when the URL has none."""
    if not isinstance(url, str):
        return None
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def _host_entries(data):
    """Yield (service list, variable label, host) for every host in the inventory.

    The host is None when the item has no usable host; the label names the variable
    and item, e.g. ``orthanc_modalities[CT1].host``.
    """
    for key in ("orthanc_modalities", "orthanc_dependent_modalities"):
        items = _list(data, key)
        if not isinstance(items, list):
            continue
        for index, item in enumerate(items):
            label = "%s[%s].host" % (key, _item_name(item, index))
            host = item.get("host") if isinstance(item, Mapping) else None
            yield ("dicom",), label, host
    servers = _list(data, "xnat_dqr_servers")
    if isinstance(servers, list):
        for index, item in enumerate(servers):
            label = "xnat_dqr_servers[%s].receiver.host" % _item_name(item, index)
            receiver = item.get("receiver") if isinstance(item, Mapping) else None
            host = receiver.get("host") if isinstance(receiver, Mapping) else None
            yield ("dicom",), label, host
    peers = _list(data, "orthanc_peers")
    if isinstance(peers, list):
        for index, item in enumerate(peers):
            label = "orthanc_peers[%s].url" % _item_name(item, index)
            url = item.get("url") if isinstance(item, Mapping) else None
            yield ("dicom", "http"), label, _peer_host(url)
    doors = _list(data, "pacs_https_front_doors")
    if isinstance(doors, list):
        for index, item in enumerate(doors):
            label = "pacs_https_front_doors[%s].host" % _item_name(item, index)
            yield ("http",), label, item.get("host") if isinstance(item, Mapping) else None


def _bool_value(value):
    """True for a YAML/Jinja true (bool or its usual spellings), else False."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "on", "1")
    return value is True or (isinstance(value, int) and not isinstance(value, bool) and value == 1)


def https_enabled(data):
    """Whether the HTTPS front door (role pacs_https) stands in front of Orthanc on this host."""
    return _bool_value(data.get("pacs_https_enabled", False))


def _https_port_keys(data):
    """The front door's port variables that the firewall opens, when it is on."""
    if not https_enabled(data):
        return ()
    redirect = data.get("pacs_https_http_redirect", True)
    return ("pacs_https_port", "pacs_https_http_port") if _bool_value(redirect) else ("pacs_https_port",)


def _port_number(value):
    """The TCP port a value names (an int or a string of digits), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        port = value
    elif isinstance(value, str) and value.strip().isdigit():
        port = int(value.strip())
    else:
        return None
    return port if 1 <= port <= 65535 else None


def _port_errors(data):
    errors = []
    seen = {}
    for key in _PORTS + _https_port_keys(data):
        if key not in data or data[key] is None:
            errors.append("%s: is not set" % key)
            continue
        value = data[key]
        port = _port_number(value)
        if port is None:
            errors.append("%s: %r (%s) is not a TCP port (1-65535)" % (key, value, _type_name(value)))
            continue
        if port in seen:
            errors.append("%s: port %d is also %s" % (key, port, seen[port]))
        seen[port] = key
    return errors


def _cidr_errors(data):
    errors = []
    allow_any = data.get(_ANY_FLAG, False)
    if not isinstance(allow_any, bool):
        errors.append("%s: %r (%s) is not a boolean" % (_ANY_FLAG, allow_any, _type_name(allow_any)))
        allow_any = False
    for key in _CIDR_LISTS:
        items = _list(data, key)
        if not isinstance(items, list):
            errors.append("%s: %r (%s) is not a list" % (key, items, _type_name(items)))
            continue
        for index, item in enumerate(items):
            label = "%s[%s]" % (key, index)
            if not isinstance(item, str):
                errors.append("%s: %r (%s) is not a CIDR string" % (label, item, _type_name(item)))
                continue
            try:
                net = ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                errors.append("%s: %r is not an IPv4 or IPv6 address or network" % (label, item))
                continue
            try:
                ipaddress.ip_network(item.strip(), strict=True)
            except ValueError:
                errors.append("%s: %r has host bits set (did you mean %s?)" % (label, item, net))
                continue
            if net.prefixlen == 0 and key == "pacs_firewall_dicom_cidrs" and not allow_any:
                errors.append(
                    "%s: %s opens the DICOM port to any source; set %s: true to allow it" % (label, net, _ANY_FLAG)
                )
    return errors


def _host_errors(data):
    errors = []
    for key in ("orthanc_modalities", "orthanc_dependent_modalities", "xnat_dqr_servers", "orthanc_peers",
                "pacs_https_front_doors"):
        items = _list(data, key)
        if not isinstance(items, list):
            errors.append("%s: %r (%s) is not a list" % (key, items, _type_name(items)))
    for _services, label, host in _host_entries(data):
        if label.startswith("orthanc_peers") and host is None:
            errors.append("%s: has no URL with a host part" % label)
        elif not isinstance(host, str) or not host.strip():
            errors.append("%s: %r (%s) is not a host name or IP address" % (label, host, _type_name(host)))
        elif not _is_ip(host.strip()) and not _HOSTNAME_RE.match(host.strip()):
            errors.append("%s: %r is neither an IP address nor a valid host name" % (label, host))
    return errors


def nft_table_error(value):
    """Return why ``value`` cannot be our nftables table name, or ''.

    It is written unquoted into the ruleset (nft has no quoting for table
    names), so it is a plain identifier that no nft keyword can be.
    """
    if not isinstance(value, str) or not _NFT_TABLE_RE.match(value):
        return ("%r (%s) must be 1-64 letters, digits and '_', starting with a letter; it is written "
                "unquoted into the nftables ruleset" % (value, _type_name(value)))
    if "_" not in value and value == value.lower():
        return ("%r could be an nft keyword (accept, counter, ip6, ...); add a '_' or an upper-case "
                "letter (e.g. %s_fw), which no keyword has" % (value, value))
    return ""


def firewalld_policy_error(value):
    """Return why ``value`` cannot be our firewalld policy name, or ''.

    It names the policy, its file /etc/firewalld/policies/<name>.xml and the
    firewall-cmd argument: firewalld's own rules (letters, digits, '_', '-', at
    most 17 characters) without '/', and no zone or shipped policy name.
    """
    if not isinstance(value, str) or not _FIREWALLD_POLICY_RE.match(value):
        length = " (%d characters)" % len(value) if isinstance(value, str) else ""
        return ("%r (%s)%s must be 1-17 letters, digits, '_' or '-': firewalld refuses longer policy "
                "names and other characters" % (value, _type_name(value), length))
    if value in _FIREWALLD_RESERVED:
        return "%r is a firewalld zone or shipped policy name; choose another" % value
    return ""


def _name_errors(data):
    errors = []
    for key, check in (("pacs_firewall_nft_table", nft_table_error),
                       ("pacs_firewall_firewalld_policy", firewalld_policy_error)):
        if key in data:
            problem = check(data[key])
            if problem:
                errors.append("%s: %s" % (key, problem))
    return errors


# Paths written unquoted into the rollback shell script and the systemd units (run as root).
_PATHS = ("pacs_firewall_nft_file", "pacs_firewall_state_dir")
_PATH_RE = re.compile(r"^(/[A-Za-z0-9._-]+)+\Z")


def _path_errors(data):
    """Each path must be absolute, of plain segments: letters, digits, '.', '_', '-', no '..'."""
    errors = []
    for key in _PATHS:
        if key not in data:
            continue
        value = data[key]
        if not isinstance(value, str) or not _PATH_RE.match(value) or "/../" in value + "/" or "/./" in value + "/":
            errors.append("%s: %r is not an absolute path of plain segments (letters, digits, '.', '_', '-'; "
                          "no '..'): it is written into a shell script and systemd units" % (key, value))
    return errors


def pacs_firewall_errors(data):
    """Return every validation error of the firewall inputs as a list of strings."""
    _require_mapping(data, "pacs_firewall_errors")
    errors = _name_errors(data) + _path_errors(data)
    backend = data.get("pacs_firewall_backend", "auto")
    if backend not in _BACKENDS:
        errors.append("pacs_firewall_backend: %r is not one of %s" % (backend, ", ".join(_BACKENDS)))
    errors.extend(_port_errors(data))
    errors.extend(_cidr_errors(data))
    errors.extend(_host_errors(data))
    errors.extend(_front_door_errors(data))
    return errors


def _front_door_errors(data):
    """Another host's front door cannot reach Orthanc's HTTP port when this host's own front door closes it."""
    doors = _list(data, "pacs_https_front_doors")
    if not https_enabled(data) or not isinstance(doors, list):
        return []
    return ["pacs_https_front_doors[%s]: its HTTPS front door lists this host's Orthanc (HTTP port %s) in "
            "pacs_https_upstreams, but this host's own front door (pacs_https_enabled) closes that port to every "
            "host but loopback; take this host out of its pacs_https_upstreams or turn this host's front door off"
            % (_item_name(item, index), data.get("orthanc_http_port")) for index, item in enumerate(doors)]


def _upstream_name(value):
    """An upstream host of pacs_https_upstreams, normalised like pacs_orthanc_names (no IPv6 brackets)."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().strip("[]").rstrip(".").lower()


def _is_loopback(name):
    """Whether an upstream host is this very host's loopback (localhost, 127.0.0.0/8, ::1)."""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def pacs_firewall_front_doors(hostnames, hostvars, inventory_hostname):
    """The HTTPS front doors among hostnames that load-balance this host's Orthanc: [{name, host}].

    A front door is a host with pacs_https_enabled whose pacs_https_upstreams name this host
    (its address, ansible_host or inventory name) at its Orthanc HTTP port. This host itself
    and loopback upstreams are left out: nginx here reaches Orthanc over loopback.
    """
    if not isinstance(hostnames, (list, tuple)):
        raise AnsibleFilterError("pacs_firewall_front_doors expects a list of host names, got %r (%s)" % (
            hostnames, _type_name(hostnames)))
    this = hostvars[inventory_hostname]
    names = pacs_orthanc_names(this, inventory_hostname)
    port = _port_number(pacs_setting(this, "orthanc_http_port"))
    doors = []
    for name in hostnames:
        if name == inventory_hostname or name in [door["name"] for door in doors]:
            continue
        door = hostvars[name]
        if not _bool_value(pacs_setting(door, "pacs_https_enabled")):
            continue
        upstreams = pacs_setting(door, "pacs_https_upstreams")
        if not isinstance(upstreams, list):
            continue  # the pacs_https preflight names it
        for item in upstreams:
            host = _upstream_name(item.get("host")) if isinstance(item, Mapping) else None
            if host and not _is_loopback(host) and host in names and _port_number(item.get("port")) == port:
                doors.append({"name": str(name), "host": pacs_orthanc_address(door)})
                break
    return doors


def pacs_firewall_hostnames(data):
    """Return the hostnames (not IP literals) that need resolving, with their origin."""
    _require_mapping(data, "pacs_firewall_hostnames")
    result = []
    for _services, label, host in _host_entries(data):
        if isinstance(host, str) and host.strip() and not _is_ip(host.strip()):
            result.append({"variable": label, "name": host.strip().rstrip(".").lower()})
    return result


def pacs_firewall_resolve(entries):
    """IMPURE: resolve hostnames with the controller's resolver (getaddrinfo)."""
    if not isinstance(entries, list):
        raise AnsibleFilterError(
            "pacs_firewall_resolve expects the list from pacs_firewall_hostnames, got %r (%s)"
            % (entries, _type_name(entries))
        )
    addresses = {}
    errors = []
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise AnsibleFilterError(
                "pacs_firewall_resolve: entry %r (%s) has no 'name'" % (entry, _type_name(entry))
            )
        name = entry["name"]
        if name not in addresses:
            try:
                infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
            except (socket.gaierror, UnicodeError) as exc:
                infos = []
                reason = str(exc)
            else:
                reason = "no address"
            found = sorted({info[4][0].split("%")[0] for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)})
            if not found:
                errors.append("%s: host name %r does not resolve on the controller (%s)" % (
                    entry.get("variable", "?"), name, reason))
                continue
            addresses[name] = found
    return {"addresses": addresses, "errors": errors}


def _add(bucket, text, origin):
    try:
        net = ipaddress.ip_network(str(text).strip(), strict=False)
    except ValueError as exc:
        raise AnsibleFilterError("pacs_firewall_sources: %s: %r (%s) is not an address or network" % (
            origin, text, _type_name(text))) from exc
    bucket["ipv%d" % net.version].append(net)


def _finish(bucket):
    result = {}
    for family in ("ipv4", "ipv6"):
        nets = list(ipaddress.collapse_addresses(bucket[family]))
        result[family] = [
            str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)
            for net in sorted(nets)
        ]
    return result


def pacs_firewall_sources(data, resolved=None, management=None):
    """Build {dicom, http, ssh} x {ipv4, ipv6} source lists from the inventory."""
    _require_mapping(data, "pacs_firewall_sources")
    resolved = resolved or {}
    if not isinstance(resolved, Mapping):
        raise AnsibleFilterError("pacs_firewall_sources: resolved=%r (%s) is not a dict" % (
            resolved, _type_name(resolved)))
    management = management or []
    if not isinstance(management, list):
        raise AnsibleFilterError("pacs_firewall_sources: management=%r (%s) is not a list" % (
            management, _type_name(management)))
    buckets = {svc: {"ipv4": [], "ipv6": []} for svc in ("dicom", "http", "ssh")}
    for services, label, host in _host_entries(data):
        if not isinstance(host, str) or not host.strip():
            raise AnsibleFilterError("pacs_firewall_sources: %s: %r (%s) is not a host" % (
                label, host, _type_name(host)))
        host = host.strip()
        if _is_ip(host):
            addrs = [host]
        else:
            key = host.rstrip(".").lower()
            if key not in resolved:
                raise AnsibleFilterError("pacs_firewall_sources: %s: host name %r was not resolved" % (label, host))
            addrs = resolved[key]
        for svc in services:
            for addr in addrs:
                _add(buckets[svc], addr, label)
    for key, services in (
        ("pacs_firewall_dicom_cidrs", ("dicom",)),
        ("pacs_firewall_http_cidrs", ("http",)),
        ("pacs_firewall_admin_cidrs", ("http", "ssh")),
    ):
        for index, cidr in enumerate(_list(data, key)):
            for svc in services:
                _add(buckets[svc], cidr, "%s[%s]" % (key, index))
    # The controller administers the host and runs the smoke probe: it reaches every port.
    for index, addr in enumerate(management):
        for svc in ("dicom", "http", "ssh"):
            _add(buckets[svc], addr, "management[%s]" % index)
    return {svc: _finish(bucket) for svc, bucket in buckets.items()}


def pacs_firewall_ports(data):
    """The TCP ports of each source set and the ports closed to all but loopback.

    Returns {dicom: [port], http: [ports], ssh: [port], closed: [ports]}. Without the
    HTTPS front door the http set opens Orthanc's HTTP port and nothing is closed; with
    it (pacs_https_enabled) the http set opens the HTTPS port, and the plain-HTTP port
    when it redirects, and Orthanc's HTTP port is closed: only loopback (nginx) reaches it.
    """
    _require_mapping(data, "pacs_firewall_ports")
    ports = {}
    for service, key in (("dicom", "orthanc_dicom_port"), ("http", "orthanc_http_port"),
                         ("ssh", "pacs_firewall_ssh_port")):
        port = _port_number(data.get(key))
        if port is None:
            raise AnsibleFilterError("pacs_firewall_ports: %s: %r (%s) is not a TCP port (1-65535)" % (
                key, data.get(key), _type_name(data.get(key))))
        ports[service] = [port]
    ports["closed"] = []
    keys = _https_port_keys(data)
    if keys:
        front = []
        for key in keys:
            port = _port_number(data.get(key))
            if port is None:
                raise AnsibleFilterError("pacs_firewall_ports: %s: %r (%s) is not a TCP port (1-65535)" % (
                    key, data.get(key), _type_name(data.get(key))))
            if port not in front:
                front.append(port)
        ports["closed"] = ports["http"]
        ports["http"] = front
    return ports


def _http_ports_label(data):
    """How the notices name the port(s) of the http set: 'the HTTP port 8042' or 'the HTTPS port 443 ...'."""
    ports = pacs_firewall_ports(data)
    if not ports["closed"]:
        return "the HTTP port %s" % ports["http"][0]
    rest = " (and the plain-HTTP port %s, which redirects to it)" % ports["http"][1] if len(ports["http"]) > 1 else ""
    return "the HTTPS port %s%s" % (ports["http"][0], rest)


def pacs_firewall_notices(data, management=None):
    """What a user should be told about the sets, once per host: a list of sentences.

    Two cases: with the HTTPS front door on, Orthanc's own HTTP port is closed to every
    host but loopback and the HTTPS port takes its place; no user network may reach the
    HTTP (or HTTPS) port (no HTTP or admin CIDR, no peer), so Orthanc Explorer and DICOMweb
    answer the controller only, or nobody.
    """
    _require_mapping(data, "pacs_firewall_notices")
    management = management or []
    notices = []
    ports = pacs_firewall_ports(data)
    if ports["closed"]:
        notices.append("Orthanc's own HTTP port %s is closed to every host but this one (loopback, where the "
                       "HTTPS front door reaches it): the HTTPS port %s takes its place in the firewall, so "
                       "clients, peers and XNAT must use https:// on port %s"
                       % (ports["closed"][0], ports["http"][0], ports["http"][0]))
    # A front door of another host that load-balances this Orthanc serves the hospital's users.
    users = [key for key in ("pacs_firewall_http_cidrs", "pacs_firewall_admin_cidrs", "orthanc_peers",
                             "pacs_https_front_doors") if _list(data, key)]
    if users:
        return notices
    who = ("the controller only (%s)" % ", ".join(str(a) for a in management)) if management else "nobody"
    label = _http_ports_label(data)
    return notices + ["%s is open to %s: Orthanc Explorer and DICOMweb are not reachable from the "
                      "hospital network; list the networks of its users in pacs_firewall_http_cidrs to open it "
                      "to them" % (label, who)]


# os-release IDs (in ID or ID_LIKE) of the two families the role installs packages for,
# as Ansible's distribution facts group them.
_OS_FAMILIES = (("Debian", {"debian", "ubuntu"}),
                ("RedHat", {"rhel", "fedora", "centos", "rocky", "almalinux", "ol", "amzn"}))


def _os_release_value(text):
    """One os-release value without its optional shell quotes."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1]
    return text


def pacs_firewall_os_family(os_release):
    """The OS family (Debian, RedHat, other:<ID>, unknown) from the text of /etc/os-release."""
    lines = os_release.splitlines() if isinstance(os_release, str) else list(os_release or [])
    values = {}
    for line in lines:
        key, sep, value = str(line).partition("=")
        if sep and key.strip() in ("ID", "ID_LIKE"):
            values[key.strip()] = _os_release_value(value).lower()
    ident = values.get("ID", "")
    if not ident:
        return "unknown"
    ids = {ident} | set(values.get("ID_LIKE", "").split())
    for family, members in _OS_FAMILIES:
        if ids & members:
            return family
    return "other:%s" % ident


class FilterModule:
    """Map the filter names to their functions."""

    def filters(self):
        return {
            "pacs_firewall_errors": pacs_firewall_errors,
            "pacs_firewall_hostnames": pacs_firewall_hostnames,
            "pacs_firewall_resolve": pacs_firewall_resolve,
            "pacs_firewall_sources": pacs_firewall_sources,
            "pacs_firewall_notices": pacs_firewall_notices,
            "pacs_firewall_ports": pacs_firewall_ports,
            "pacs_firewall_front_doors": pacs_firewall_front_doors,
            "pacs_firewall_os_family": pacs_firewall_os_family,
        }
