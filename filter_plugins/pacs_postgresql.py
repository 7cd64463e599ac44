# -*- coding: utf-8 -*-
"""Filters for the pacs_postgresql role: validation, pg_hba sources, Orthanc clients.

All three are pure: they only look at the data they are given.
"""

from __future__ import annotations

import ipaddress
import pathlib
import re
import sys
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

# Shared contract code lives beside the filters in filter_plugins/pacs_model.py (README: "Where code lives").
if str(pathlib.Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from pacs_model import pacs_orthanc_address, pacs_setting  # noqa: E402  pylint: disable=wrong-import-position

DOCUMENTATION = r"""
name: pacs_postgresql_errors
short_description: Validation and pg_hba helpers for the pacs_postgresql role
description:
  - "This file holds three pure filters."
  - "C(pacs_postgresql_errors(settings)) - validates the role's inputs and returns a list of
    error strings C(<variable>[<item>]: <problem>), every problem at once, empty when all is
    well: identifiers, password (set, not well known, at least 12 characters), port,
    listen addresses, clients (IPv4/IPv6 address, CIDR without host bits, or host name)."
  - "C(pacs_postgresql_hba_source(address)) - one pg_hba.conf ADDRESS field: a single IPv4
    address becomes C(/32), IPv6 C(/128), a CIDR is kept, a host name is kept."
  - "C(pacs_postgresql_orthanc_clients(hostnames, hostvars)) - the addresses of the Orthanc
    hosts that use PostgreSQL (C(orthanc_database: postgresql)): C(orthanc_address), else
    C(ansible_host), else the inventory name."
positional: _input
options:
  _input:
    description:
      - "C(pacs_postgresql_errors): a dict with the keys pacs_postgresql_database,
        pacs_postgresql_username, pacs_postgresql_password, pacs_postgresql_port,
        pacs_postgresql_listen_addresses, pacs_postgresql_clients."
      - "C(pacs_postgresql_hba_source): an address, CIDR or host name."
      - "C(pacs_postgresql_orthanc_clients): a list of inventory host names."
    type: raw
    required: true
  hostvars:
    description: "C(pacs_postgresql_orthanc_clients) only: Ansible's C(hostvars)."
    type: dict
"""

EXAMPLES = r"""
- name: Validate
  ansible.builtin.assert:
    that: __errors | length == 0
    fail_msg: "{{ __errors }}"
  vars:
    __errors: "{{ settings | pacs_postgresql_errors }}"

- name: The pg_hba sources of the Orthanc nodes
  ansible.builtin.debug:
    msg: "{{ groups['orthanc'] | pacs_postgresql_orthanc_clients(hostvars) | map('pacs_postgresql_hba_source') }}"
"""

RETURN = r"""
_value:
  description:
    - "C(pacs_postgresql_errors): list of error strings, empty when the input is valid."
    - "C(pacs_postgresql_hba_source): a string for pg_hba.conf's ADDRESS field."
    - "C(pacs_postgresql_orthanc_clients): list of addresses (strings), in inventory order."
  type: raw
"""

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}\Z")
_HOSTNAME = re.compile(r"^(?=.{1,253}\Z)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\Z")
_WELL_KNOWN_PASSWORDS = {"", "postgres", "orthanc", "password", "changeme", "admin", "secret", "123456"}
_MIN_PASSWORD = 12


def _require_mapping(value, what):
    if not isinstance(value, Mapping):
        raise AnsibleFilterError(f"{what} expects a dict, got {value!r} of type {type(value).__name__}")


def _address_problem(value):
    """None when value is an IP address, a CIDR without host bits or a host name."""
    if not isinstance(value, str) or not value:
        return f"{value!r} is not an address, CIDR or host name"
    try:
        if "/" in value:
            ipaddress.ip_network(value, strict=True)
        else:
            ipaddress.ip_address(value)
        return None
    except ValueError as exc:
        if "/" in value or value.replace(".", "").isdigit() or ":" in value:
            return f"{value!r} is not a valid address or CIDR ({exc})"
    return None if _HOSTNAME.match(value) else f"{value!r} is not an address, CIDR or host name"


def pacs_postgresql_errors(settings):
    """Every problem of the role's inputs, as "<variable>[<item>]: <problem>" strings."""
    _require_mapping(settings, "pacs_postgresql_errors")
    errors = []
    for key in ("pacs_postgresql_database", "pacs_postgresql_username"):
        value = settings.get(key)
        if not isinstance(value, str) or not _IDENTIFIER.match(value):
            errors.append(f"{key}[{value}]: must be a lower-case identifier (a-z, 0-9, _), 1-63 characters")
    password = settings.get("pacs_postgresql_password")
    if not isinstance(password, str) or password.lower() in _WELL_KNOWN_PASSWORDS:
        errors.append("pacs_postgresql_password[]: must be set from Ansible Vault and not a well-known password")
    elif len(password) < _MIN_PASSWORD:
        errors.append(f"pacs_postgresql_password[]: must have at least {_MIN_PASSWORD} characters")
    port = settings.get("pacs_postgresql_port")
    try:
        port_ok = 1 <= int(port) <= 65535 and not isinstance(port, bool)
    except (TypeError, ValueError):
        port_ok = False
    if not port_ok:
        errors.append(f"pacs_postgresql_port[{port}]: must be a port number 1-65535")
    listen = settings.get("pacs_postgresql_listen_addresses")
    if not isinstance(listen, list) or not listen:
        errors.append(f"pacs_postgresql_listen_addresses[{listen}]: must be a non-empty list")
    else:
        for item in listen:
            if item != "*" and _address_problem(item):
                errors.append(f"pacs_postgresql_listen_addresses[{item}]: {_address_problem(item)}")
    clients = settings.get("pacs_postgresql_clients")
    if not isinstance(clients, list):
        errors.append(f"pacs_postgresql_clients[{clients}]: must be a list")
    else:
        for item in clients:
            problem = _address_problem(item)
            if problem:
                errors.append(f"pacs_postgresql_clients[{item}]: {problem}")
            elif isinstance(item, str) and "/" in item and ipaddress.ip_network(item).prefixlen == 0:
                errors.append(f"pacs_postgresql_clients[{item}]: opens the database to every address")
    return errors


def pacs_postgresql_hba_source(address):
    """The pg_hba.conf ADDRESS field for one client: /32 or /128 for single addresses."""
    if not isinstance(address, str) or not address:
        raise AnsibleFilterError(
            f"pacs_postgresql_hba_source expects an address, CIDR or host name, got {address!r} "
            f"of type {type(address).__name__}")
    try:
        if "/" in address:
            return str(ipaddress.ip_network(address, strict=True))
        return str(ipaddress.ip_network(address))
    except ValueError as exc:
        if _address_problem(address):
            raise AnsibleFilterError(
                f"pacs_postgresql_hba_source: {address!r} (type str) is not a valid address ({exc})") from exc
        return address


def pacs_postgresql_orthanc_clients(hostnames, hostvars):
    """Addresses of the hosts among hostnames whose orthanc_database is postgresql."""
    if not isinstance(hostnames, (list, tuple)):
        raise AnsibleFilterError(
            f"pacs_postgresql_orthanc_clients expects a list of host names, got {hostnames!r} "
            f"of type {type(hostnames).__name__}")
    clients = []
    for name in hostnames:
        host = hostvars[name]
        if pacs_setting(host, "orthanc_database") != "postgresql":
            continue
        address = pacs_orthanc_address(host) or name
        if address not in clients:
            clients.append(address)
    return clients


class FilterModule:
    """Maps the filter names to the functions above."""

    def filters(self):
        return {
            "pacs_postgresql_errors": pacs_postgresql_errors,
            "pacs_postgresql_hba_source": pacs_postgresql_hba_source,
            "pacs_postgresql_orthanc_clients": pacs_postgresql_orthanc_clients,
        }
