"""The parts of the inventory contract that more than one role reads, decided in one place.

A variable's default lives in its role's ``defaults/main.yml`` and nowhere else: the
plays of other roles do not see those defaults, so this module reads them from that
file (:data:`DEFAULTS`, :func:`pacs_setting`) instead of restating them. The address Orthanc is
reached at (connection sheet, XNAT's PACS entry, smoke probe, cross-host rules) is
resolved here, once, by :func:`pacs_orthanc_address`; so are the XNAT DQR receivers as
Orthanc modalities (:func:`pacs_dependent_modalities`).

Every function is pure: it reads the mapping it is given (a host's variables, for
example ``hostvars[inventory_hostname]``) and returns a value; nothing is cached
between calls except the defaults file, read once.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping

import yaml

DOCUMENTATION = r"""
name: pacs_orthanc_address
short_description: The address modalities, XNAT and the smoke probe reach an Orthanc host at
description:
  - "C(orthanc_address) when the inventory sets it. Else, with the docker connection (whose
    C(ansible_host) is a container name the controller cannot resolve), the host's own default
    IPv4 address from its facts when they were gathered. Else C(ansible_host), else the
    inventory host name."
  - Companion filters in the same file are C(pacs_address_needs_facts), C(pacs_orthanc_names)
    and C(pacs_dependent_modalities).
positional: _input
options:
  _input:
    description: The host's variables, for example C(hostvars[inventory_hostname]).
    type: dict
    required: true
"""

EXAMPLES = r"""
pacs_smoke_target_host: "{{ hostvars[inventory_hostname] | pacs_orthanc_address }}"
"""

RETURN = r"""
_value:
  description: The address, as a string.
  type: str
"""

_ROOT = pathlib.Path(__file__).resolve().parent.parent

# The connection plugins that reach a host through the Docker engine: their ansible_host
# is a container name, which resolves on the container's networks and not on the controller.
DOCKER_CONNECTIONS = frozenset({"docker", "community.docker.docker", "community.docker.docker_api",
                                "community.general.docker"})


def _load_defaults(path):
    """The plain (untemplated) values of a role's defaults file; templated ones are left out."""
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    return {k: v for k, v in data.items() if not (isinstance(v, str) and "{{" in v)}


# Every role's plain defaults; role variables carry their role's prefix, so names never clash.
DEFAULTS = {name: value
            for path in sorted(_ROOT.glob("roles/*/defaults/main.yml"))
            for name, value in _load_defaults(path).items()}


def _get(hostvars, name):
    """A value of the host's variables, or None when unset; a mapping or Ansible's lazy hostvars
    alike. A value whose template fails raises Ansible's error, which names the variable."""
    return hostvars.get(name)


def _text(value):
    return value.strip() if isinstance(value, str) and value.strip() else None


def pacs_setting(hostvars, name):
    """The host's value of a role variable, or that role's default when the inventory leaves it unset.

    A default that depends on other variables (a template in the role's defaults file, which
    the role's own run evaluates) is computed by :data:`DERIVED` for every other reader; a unit
    test renders both and compares them.
    """
    value = _get(hostvars, name)
    if value is not None:
        return value
    if name in DERIVED:
        return DERIVED[name](hostvars)
    return DEFAULTS.get(name)


def _fact_address(hostvars):
    facts = _get(hostvars, "ansible_facts")
    ipv4 = facts.get("default_ipv4") if isinstance(facts, Mapping) else None
    if not isinstance(ipv4, Mapping):
        ipv4 = _get(hostvars, "ansible_default_ipv4")
    return _text(ipv4.get("address")) if isinstance(ipv4, Mapping) else None


def _docker_connection(hostvars):
    return _get(hostvars, "ansible_connection") in DOCKER_CONNECTIONS


def pacs_orthanc_address(hostvars):
    """The address others reach this Orthanc at (see DOCUMENTATION for the order)."""
    if not isinstance(hostvars, Mapping) and not hasattr(hostvars, "get"):
        raise TypeError("pacs_orthanc_address expects a host's variables, got %s" % type(hostvars).__name__)
    explicit = _text(_get(hostvars, "orthanc_address"))
    if explicit:
        return explicit
    if _docker_connection(hostvars):
        fact = _fact_address(hostvars)
        if fact:
            return fact
    return _text(_get(hostvars, "ansible_host")) or str(_get(hostvars, "inventory_hostname") or "")


def pacs_address_needs_facts(hostvars):
    """True when pacs_orthanc_address would fall back to a container name for want of facts."""
    return (not _text(_get(hostvars, "orthanc_address")) and _docker_connection(hostvars)
            and _fact_address(hostvars) is None)


def _norm_host(value):
    return value.strip().rstrip(".").lower() if isinstance(value, str) and value.strip() else None


def pacs_orthanc_names(hostvars, inventory_hostname=None):
    """Every name by which other hosts may reach this Orthanc, normalised (lower case, no final dot).

    The resolved address, ``ansible_host`` and the inventory host name: a modality or peer
    pointing at any of them points at this Orthanc.
    """
    names = {_norm_host(pacs_orthanc_address(hostvars)), _norm_host(_get(hostvars, "ansible_host")),
             _norm_host(inventory_hostname or _get(hostvars, "inventory_hostname"))}
    names.discard(None)
    return names


def pacs_dependent_modalities(xnat_dqr_servers):
    """The XNAT DQR receivers as Orthanc modalities (orthanc_modalities shape).

    Each receiver may echo, find, move and store: XNAT queries Orthanc (C-FIND), asks it
    to send studies (C-MOVE to the receiver) and Orthanc stores into it. Items without a
    receiver mapping are left out here; the xnat_dqr preflight names them.
    """
    result = []
    for item in xnat_dqr_servers or []:
        receiver = item.get("receiver") if isinstance(item, Mapping) else None
        if not isinstance(receiver, Mapping):
            continue
        result.append({"name": item.get("name"), "aet": receiver.get("aet"), "host": receiver.get("host"),
                       "port": receiver.get("port"), "allow_echo": True, "allow_find": True,
                       "allow_move": True, "allow_store": True})
    return result


def _inventory_name(hostvars):
    return str(_get(hostvars, "inventory_hostname") or "")


def _ansible_host(hostvars):
    return _text(_get(hostvars, "ansible_host")) or _inventory_name(hostvars)


# The defaults that depend on other variables, and the values the roles' validation reads
# besides their public variables. Each role's defaults file names the filter for these.
DERIVED = {
    "orthanc_dependent_modalities": lambda hv: pacs_dependent_modalities(_get(hv, "xnat_dqr_servers")),
    "orthanc_index_dir": lambda hv: pacs_setting(hv, "orthanc_storage_dir"),
    "orthanc_https_native_supported": lambda hv: pacs_setting(hv, "orthanc_install_method") == "container",
    "ansible_host": _ansible_host,
    "pacs_https_server_name": _inventory_name,
    "pacs_https_upstreams": lambda hv: [{"host": "127.0.0.1", "port": pacs_setting(hv, "orthanc_http_port")}],
    "pacs_postgresql_listen_addresses": lambda hv: ["localhost", _ansible_host(hv)],
}


class FilterModule:
    """Map the filter names to their functions."""

    def filters(self):
        return {
            "pacs_orthanc_address": pacs_orthanc_address,
            "pacs_address_needs_facts": pacs_address_needs_facts,
            "pacs_orthanc_names": pacs_orthanc_names,
            "pacs_dependent_modalities": pacs_dependent_modalities,
            "pacs_setting": pacs_setting,
        }
