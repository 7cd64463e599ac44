"""Cross-host validation of one hospital inventory.

The roles' preflight filters (orthanc_config_errors, xnat_dqr_errors,
pacs_firewall_errors) look at one host at a time. The rules here need every
Orthanc host of a hospital at once: AE titles, DICOM endpoints, ports on a
shared machine, XNAT receivers and DICOMweb server names. The function is pure:
same input, same output, no I/O.
"""

from __future__ import annotations

import pathlib
import sys
from collections.abc import Mapping
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError

# Shared contract code lives beside the filters in filter_plugins/pacs_model.py (README: "Where code lives").
if str(pathlib.Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from pacs_model import pacs_orthanc_names, pacs_setting  # noqa: E402  pylint: disable=wrong-import-position

DOCUMENTATION = r"""
name: pacs_inventory_errors
short_description: Cross-host rules of one hospital inventory, every problem at once
description:
  - "Takes every Orthanc host of one inventory (host name -> its variables) and returns a list of
    error strings C(<host> <variable>[<item>]: <problem>), empty when the hospital is consistent.
    It never stops at the first problem."
  - "Rules: each Orthanc's own AE title (orthanc_dicom_aet) is unique in the hospital; a modality or
    XNAT receiver that uses an Orthanc's AE title must point at that Orthanc's address and DICOM port;
    one AE title names one DICOM node (same host and port wherever it is listed); one DICOM endpoint
    (host and port) answers one AE title; one XNAT (url) has one DQR receiver and every PACS label in it
    is unique; Orthanc hosts on one machine (same ansible_host) do not share a port, a container name,
    or a package install; the DICOM and HTTP ports are not the SSH port; a DICOMweb server name means
    one URL in the whole hospital."
  - Checks within one host (types, duplicates inside one list) belong to the roles' filters and are not repeated.
positional: _input
options:
  _input:
    description:
      - "A dict: inventory host name -> dict of that host's variables. Keys read: orthanc_dicom_aet,
        orthanc_dicom_port, orthanc_http_port, orthanc_install_method, orthanc_container_name,
        orthanc_modalities, orthanc_dicomweb_servers, xnat_dqr_servers, pacs_firewall_ssh_port,
        ansible_host, orthanc_address (and, with the docker connection, ansible_facts). Missing keys take the roles' defaults."
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Check the rules that span the hospital's hosts
  ansible.builtin.assert:
    that: __errors | length == 0
    fail_msg: "{{ __errors }}"
  vars:
    __errors: >-
      {{ dict(groups['orthanc'] | zip(groups['orthanc'] | map('extract', hostvars)))
         | pacs_inventory_errors }}
  run_once: true
"""

RETURN = r"""
_value:
  description: "Error strings C(<host> <variable>[<item>]: <problem>), empty when valid."
  type: list
  elements: str
"""

def _get(hostvars, key):
    """The host's value, or its role's default (filter_plugins/pacs_model.py reads the roles' defaults)."""
    return pacs_setting(hostvars, key)


def _port(value):
    """The port as an int, or None when it is not one (the roles' filters report that)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _norm_host(value):
    return value.strip().rstrip(".").lower() if isinstance(value, str) else None


def _name(item, index):
    if isinstance(item, Mapping) and isinstance(item.get("name"), str) and item["name"]:
        return item["name"]
    return "#%d" % index


def _list(hostvars, key):
    value = hostvars.get(key)
    return value if isinstance(value, list) else []


def _machine(host, hostvars):
    return _norm_host(hostvars.get("ansible_host")) or _norm_host(host)


def _addresses(host, hostvars):
    """Every name by which other hosts may reach this Orthanc (pacs_model decides the address)."""
    return pacs_orthanc_names(hostvars, host)


def _dicom_nodes(host, hostvars):
    """(variable label, aet, host, port) of every modality and XNAT receiver of one Orthanc."""
    for index, item in enumerate(_list(hostvars, "orthanc_modalities")):
        if isinstance(item, Mapping):
            yield ("orthanc_modalities[%s]" % _name(item, index), item.get("aet"),
                   _norm_host(item.get("host")), _port(item.get("port")))
    for index, item in enumerate(_list(hostvars, "xnat_dqr_servers")):
        receiver = item.get("receiver") if isinstance(item, Mapping) else None
        if isinstance(receiver, Mapping):
            yield ("xnat_dqr_servers[%s].receiver" % _name(item, index), receiver.get("aet"),
                   _norm_host(receiver.get("host")), _port(receiver.get("port")))


def _own_aet_errors(hosts, errors):
    owners = {}
    for host, hostvars in hosts.items():
        aet = _get(hostvars, "orthanc_dicom_aet")
        if not isinstance(aet, str):
            continue
        if aet in owners:
            errors.append("%s orthanc_dicom_aet: %r is also the AE title of Orthanc host %s; AE titles "
                          "must be unique within a hospital" % (host, aet, owners[aet]))
        else:
            owners[aet] = host
    return owners


def _node_errors(hosts, owners, errors):
    by_aet, by_endpoint = {}, {}
    for host, hostvars in hosts.items():
        for label, aet, node_host, node_port in _dicom_nodes(host, hostvars):
            if not isinstance(aet, str) or node_host is None or node_port is None:
                continue  # the roles' filters report missing or malformed fields
            where = "%s %s" % (host, label)
            owner = owners.get(aet)
            if owner is not None:
                owner_vars = hosts[owner]
                owner_port = _port(_get(owner_vars, "orthanc_dicom_port"))
                if owner == host:
                    pass  # the orthanc filter refuses a modality with Orthanc's own AE title
                elif node_host not in _addresses(owner, owner_vars) or node_port != owner_port:
                    errors.append("%s.aet: %r is the AE title of Orthanc host %s, but this entry points at "
                                  "%s:%s, not at %s:%s" % (where, aet, owner, node_host, node_port,
                                                          sorted(_addresses(owner, owner_vars))[0],
                                                          owner_port))
            endpoint = (node_host, node_port)
            known = by_aet.get(aet)
            if known is None:
                by_aet[aet] = (endpoint, where)
            elif known[0] != endpoint:
                errors.append("%s.aet: %r is %s:%s here but %s:%s in %s; one AE title names one DICOM node "
                              "in a hospital" % (where, aet, node_host, node_port, known[0][0], known[0][1],
                                                 known[1]))
            other = by_endpoint.get(endpoint)
            if other is None:
                by_endpoint[endpoint] = (aet, where)
            elif other[0] != aet:
                errors.append("%s.host: %s:%s is also the endpoint of AE %r in %s; these modality hosts "
                              "collide (two AE titles on one host and port)" % (where, node_host, node_port,
                                                                              other[0], other[1]))


def _endpoint_errors(hosts, errors):
    orthancs = {}
    for host, hostvars in hosts.items():
        port = _port(_get(hostvars, "orthanc_dicom_port"))
        for address in _addresses(host, hostvars):
            orthancs.setdefault((address, port), host)
    for host, hostvars in hosts.items():
        for label, aet, node_host, node_port in _dicom_nodes(host, hostvars):
            owner = orthancs.get((node_host, node_port))
            if owner is None or owner == host or not isinstance(aet, str):
                continue
            owner_aet = _get(hosts[owner], "orthanc_dicom_aet")
            if aet != owner_aet:
                errors.append("%s %s.host: %s:%s is the DICOM port of Orthanc host %s (AE %r), not of "
                              "AE %r; these hosts collide" % (host, label, node_host, node_port, owner,
                                                             owner_aet, aet))


def _xnat_errors(hosts, errors):
    receivers, labels = {}, {}
    for host, hostvars in hosts.items():
        for index, item in enumerate(_list(hostvars, "xnat_dqr_servers")):
            if not isinstance(item, Mapping) or not isinstance(item.get("url"), str):
                continue
            url = item["url"].rstrip("/").lower()
            where = "%s xnat_dqr_servers[%s]" % (host, _name(item, index))
            receiver = item.get("receiver")
            if isinstance(receiver, Mapping):
                node = (receiver.get("aet"), _norm_host(receiver.get("host")), _port(receiver.get("port")))
                known = receivers.get(url)
                if None in node:
                    pass  # the xnat_dqr filter reports the missing or malformed field
                elif known is None:
                    receivers[url] = (node, where)
                elif known[0] != node:
                    errors.append("%s.receiver: %s@%s:%s differs from %s@%s:%s in %s for the same XNAT %s; "
                                  "one XNAT has one DQR receiver" % (where, node[0], node[1], node[2],
                                                                     known[0][0], known[0][1], known[0][2],
                                                                     known[1], item["url"]))
            label = item.get("pacs_label") or _get(hostvars, "orthanc_dicom_aet")
            if isinstance(label, str):
                key = (url, label)
                if key in labels and labels[key][0] != host:
                    errors.append("%s.pacs_label: %r is also the PACS label of Orthanc host %s in XNAT %s; "
                                  "the second registration would overwrite the first"
                                  % (where, label, labels[key][0], item["url"]))
                labels.setdefault(key, (host, where))


def _machine_errors(hosts, errors):
    by_machine = {}
    for host, hostvars in hosts.items():
        by_machine.setdefault(_machine(host, hostvars), []).append(host)
    for machine, members in by_machine.items():
        ports, containers, packages = {}, {}, []
        for host in members:
            hostvars = hosts[host]
            ssh = _port(_get(hostvars, "pacs_firewall_ssh_port"))
            for variable in ("orthanc_dicom_port", "orthanc_http_port"):
                port = _port(_get(hostvars, variable))
                if port is None:
                    continue
                if port == ssh:
                    errors.append("%s %s: port %d is the SSH port (pacs_firewall_ssh_port) of machine %s"
                                  % (host, variable, port, machine))
                if port in ports and ports[port][0] != host:
                    errors.append("%s %s: port %d is also %s of Orthanc host %s on the same machine %s; "
                                  "no port clashes on a host" % (host, variable, port, ports[port][1],
                                                                 ports[port][0], machine))
                ports.setdefault(port, (host, variable))
            if _get(hostvars, "orthanc_install_method") == "container":
                name = _get(hostvars, "orthanc_container_name")
                if name in containers:
                    errors.append("%s orthanc_container_name: %r is also the container of Orthanc host %s on "
                                  "the same machine %s" % (host, name, containers[name], machine))
                containers.setdefault(name, host)
            else:
                packages.append(host)
        for host in packages[1:]:
            errors.append("%s orthanc_install_method: package is also used by Orthanc host %s on the same "
                          "machine %s; one machine has one packaged Orthanc service, use "
                          "orthanc_install_method: container for more" % (host, packages[0], machine))


def _dicomweb_errors(hosts, errors):
    seen = {}
    for host, hostvars in hosts.items():
        for index, item in enumerate(_list(hostvars, "orthanc_dicomweb_servers")):
            if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                continue
            key = item["name"].lower()
            url = item.get("url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                continue  # the orthanc filter reports a bad URL
            where = "%s orthanc_dicomweb_servers[%s]" % (host, item["name"])
            if key in seen and seen[key][0] != url and seen[key][1] != host:
                errors.append("%s.name: %r is also the DICOMweb server %s at %r; a DICOMweb server name means "
                              "one server in a hospital" % (where, item["name"], seen[key][2], seen[key][0]))
            seen.setdefault(key, (url, host, where))


def _truthy(value):
    return value is True or (isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "on"))


def _front_doors(hosts):
    """{(name, port): (host, https URL)} of Orthanc's plain HTTP ports behind an HTTPS front door."""
    doors = {}
    for host, hostvars in hosts.items():
        if not _truthy(_get(hostvars, "pacs_https_enabled")):
            continue
        server_name = _get(hostvars, "pacs_https_server_name") or host
        https_port = _port(_get(hostvars, "pacs_https_port"))
        url = "https://%s%s/" % (server_name, "" if https_port in (443, None) else ":%d" % https_port)
        aliases = _get(hostvars, "pacs_https_server_aliases")
        names = set(_addresses(host, hostvars)) | {_norm_host(server_name)}
        names |= {_norm_host(a) for a in aliases if isinstance(a, str)} if isinstance(aliases, list) else set()
        for port in (_port(_get(hostvars, "orthanc_http_port")), _port(_get(hostvars, "pacs_https_http_port"))):
            for name in names - {None}:
                doors[(name, port)] = (host, url)
    return doors


def _url_endpoint(url):
    """(host, port) of a plain http:// URL, or None for any other URL."""
    try:
        parts = urlsplit(url)
        port = parts.port or 80
    except ValueError:
        return None
    if parts.scheme != "http" or not parts.hostname:
        return None
    return _norm_host(parts.hostname), port


def _front_door_errors(hosts, errors):
    """A peer or DICOMweb server given as plain http:// to another Orthanc host that has an HTTPS
    front door: its Orthanc port is closed to other hosts (and the password would travel in clear)."""
    doors = _front_doors(hosts)
    if not doors:
        return
    for host, hostvars in hosts.items():
        for variable in ("orthanc_peers", "orthanc_dicomweb_servers"):
            for index, item in enumerate(_list(hostvars, variable)):
                if not isinstance(item, Mapping) or not isinstance(item.get("url"), str):
                    continue
                door = doors.get(_url_endpoint(item["url"]))
                if door is None or door[0] == host:
                    continue
                suffix = "dicom-web/" if variable == "orthanc_dicomweb_servers" else ""
                errors.append("%s %s[%s].url: %s is Orthanc host %s, which answers only through its HTTPS front "
                              "door (pacs_https_enabled); use %s%s" % (host, variable, _name(item, index),
                                                                      item["url"], door[0], door[1], suffix))


def pacs_inventory_errors(hosts):
    """Every cross-host problem of one hospital, as '<host> <variable>[<item>]: <problem>' strings."""
    if not isinstance(hosts, Mapping):
        raise AnsibleFilterError("pacs_inventory_errors expects a dict of host name -> variables, got %s: %r"
                                 % (type(hosts).__name__, hosts))
    for host, hostvars in hosts.items():
        if not isinstance(hostvars, Mapping):
            raise AnsibleFilterError("pacs_inventory_errors: the variables of host %s must be a dict, got %s: %r"
                                     % (host, type(hostvars).__name__, hostvars))
    hosts = {str(host): hostvars for host, hostvars in sorted(hosts.items(), key=lambda kv: str(kv[0]))}
    errors = []
    owners = _own_aet_errors(hosts, errors)
    _node_errors(hosts, owners, errors)
    _endpoint_errors(hosts, errors)
    _xnat_errors(hosts, errors)
    _machine_errors(hosts, errors)
    _dicomweb_errors(hosts, errors)
    _front_door_errors(hosts, errors)
    return errors


class FilterModule:
    """Map the filter name to its function."""

    def filters(self):
        return {"pacs_inventory_errors": pacs_inventory_errors}
