"""The inventory contract's model: what more than one role reads, decided in one place.

The preflight play builds one model per host, once per run, with :func:`pacs_host_model`
(every role's settings with the defaults filled in, the modalities with the XNAT DQR
receivers and their item defaults, the address Orthanc is reached at) and stores it as
the fact ``__pacs_model``; every role reads other roles' settings from it, and the
validation (filter_plugins/pacs_preflight.py) is a pure function of it.

A variable's default lives in its role's ``defaults/main.yml`` and nowhere else: the
plays of other roles do not see those defaults, so this module reads them from that
file (:data:`DEFAULTS`, :func:`pacs_setting`) instead of restating them. The address Orthanc is
reached at (connection sheet, XNAT's PACS entry, smoke probe, cross-host rules) is
resolved here, once, by :func:`pacs_orthanc_address`; so are the XNAT DQR receivers as
Orthanc modalities (:func:`pacs_dependent_modalities`).

Every function is pure: it reads the mapping it is given (a host's variables, for
example ``hostvars[inventory_hostname]``, or its model) and returns a value; nothing is
cached between calls except the roles' defaults and argument specs, read once.
"""

from __future__ import annotations

import functools
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
  - Companion filters in the same file are C(pacs_host_model) (the host's model, built once by the
    preflight play), C(pacs_model_address) and C(pacs_model_needs_facts) (the address from the model
    and the host's facts) and C(pacs_dependent_modalities).
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


@functools.lru_cache(maxsize=None)
def _yaml(path):
    """A YAML file of the project, parsed once."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}


def _spec(role, entry="main"):
    """The options of one entry point of a role's argument spec (the main one when it has no such entry)."""
    specs = _yaml(_ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]
    return (specs.get(entry) or specs["main"]).get("options") or {}


def item_defaults(role, variable):
    """The defaults of the items of a list variable, as its role's argument spec declares them."""
    options = _spec(role)[variable].get("options") or {}
    return {key: option["default"] for key, option in options.items() if "default" in option}


# A modality's keys the inventory may leave out, with their defaults: the orthanc role's
# argument spec is the one place they are written (orthanc_modalities' options).
MODALITY_DEFAULTS = item_defaults("orthanc", "orthanc_modalities")


def pacs_modality(item):
    """One orthanc_modalities item with every default filled in (the item wins)."""
    return dict(MODALITY_DEFAULTS, **item)


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


def _settings_keys(role, name):
    """The keys of the settings mapping a role hands to its own checks (roles/<role>/vars/main.yml)."""
    return tuple(_yaml(_ROOT / "roles" / role / "vars" / "main.yml")[name])


# The roles with checks of their own: role -> (argument-spec entry point of its checks,
# name of its settings mapping in vars/main.yml).
ROLES = {
    "orthanc": ("preflight", "__orthanc_settings"),
    "xnat_dqr": ("preflight", None),
    "pacs_firewall": ("validate", "__pacs_firewall_config"),
    "pacs_https": ("preflight", "__pacs_https_settings"),
    "pacs_state": ("main", None),
}
SPECS = {role: _spec(role, entry) for role, (entry, _) in ROLES.items()}
SETTINGS = {role: _settings_keys(role, name) for role, (_, name) in ROLES.items() if name}
# Read by the checks beyond the settings mapping (they are in the role's preflight task).
EXTRA_KEYS = {
    "orthanc": ("orthanc_webhook_headers", "orthanc_address", "ansible_host"),
    "pacs_firewall": ("pacs_firewall_nft_table", "pacs_firewall_firewalld_policy", "pacs_firewall_nft_file",
                      "pacs_firewall_state_dir"),
}
# What the role defaults that depend on other variables read (DERIVED), and what the
# address Orthanc is reached at depends on.
DERIVED_INPUTS = ("inventory_hostname", "ansible_host", "ansible_connection", "xnat_dqr_servers",
                  "orthanc_storage_dir", "orthanc_install_method", "orthanc_http_port", "pacs_firewall_enabled",
                  "pacs_https_enabled")
# Every role of the project, by its directory.
ALL_ROLES = tuple(sorted(path.parent.parent.name for path in _ROOT.glob("roles/*/meta/argument_specs.yml")))


def _names():
    names = set(DERIVED_INPUTS)
    for role in ROLES:
        names.update(SPECS[role], SETTINGS.get(role, ()), EXTRA_KEYS.get(role, ()))
    for role in ALL_ROLES:
        names.update(_spec(role))
    return sorted(names)


# Every variable of every role's public contract, and what the checks read besides.
NAMES = _names()


def _message(exc):
    text = str(getattr(exc, "message", "") or exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _materialize(value):
    """Plain dicts and lists: Ansible's lazy containers template an element each time it is read,
    and the model's readers read the same lists many times."""
    if isinstance(value, dict):
        return {k: _materialize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_materialize(v) for v in value]
    return value


def snapshot(hostvars):
    """(the variables of NAMES that the host sets, as plain values; problems reading them).

    A value whose template fails (an undefined vault variable, say) is a problem named by its
    variable, as Ansible would stop there; it is left out of the snapshot.
    """
    found, errors = {}, []
    for name in NAMES:
        try:
            if name not in hostvars:
                continue
            value = hostvars[name]
        except Exception as exc:  # pylint: disable=broad-except  # Ansible's templating errors
            errors.append("%s: %s" % (name, _message(exc)))
            continue
        if value is not None:
            found[name] = _materialize(value)
    return found, errors


def role_settings(hostvars, role):
    """The settings mapping a role's checks read, from the host's values and the defaults."""
    keys = SETTINGS.get(role, ()) + EXTRA_KEYS.get(role, ())
    return {key: pacs_setting(hostvars, key) for key in keys}


def _modalities(settings):
    items = list(settings.get("orthanc_modalities") or []) + list(settings.get("orthanc_dependent_modalities") or [])
    return [pacs_modality(item) for item in items if isinstance(item, Mapping)]


def pacs_host_model(hostvars):
    """The normalized model of one Orthanc host, built once per run on the controller.

    Keys:
      ``given``     the variables of the contract the host sets (plain values);
      ``problems``  variables that could not be read (a failed template), as ``<variable>: <problem>``;
      ``settings``  every variable of every role: the host's value, else its role's default
                    (plain, or computed by DERIVED);
      ``modalities`` orthanc_modalities then the XNAT DQR receivers, every item default filled in;
      ``address``   the address Orthanc is reached at, as far as it is known before facts
                    (``address_needs_facts`` says when a docker host's facts would change it).

    The preflight play stores it as the fact ``__pacs_model``; every role reads other roles'
    settings from it (a role run alone builds it first). It holds the inventory's secrets:
    set it with no_log.
    """
    given, problems = snapshot(hostvars)
    settings = {name: pacs_setting(given, name) for name in NAMES}
    return {"given": given, "problems": problems, "settings": settings,
            "modalities": _modalities(settings), "address": pacs_orthanc_address(given),
            "address_needs_facts": pacs_address_needs_facts(given)}


def pacs_model_address(model, facts=None):
    """The address Orthanc is reached at, from the host's model: the model's own, except for a
    docker host without orthanc_address (``address_needs_facts``), whose default IPv4 address
    comes from its facts once they are gathered (``ansible_facts``)."""
    if model.get("address_needs_facts"):
        fact = _fact_address({"ansible_facts": facts if isinstance(facts, Mapping) else {}})
        if fact:
            return fact
    return model["address"]


def pacs_model_needs_facts(model, facts=None):
    """True while the model's address still waits for the host's facts (see pacs_model_address)."""
    return bool(model.get("address_needs_facts")) and \
        _fact_address({"ansible_facts": facts if isinstance(facts, Mapping) else {}}) is None


class FilterModule:
    """Map the filter names to their functions."""

    def filters(self):
        return {
            "pacs_host_model": pacs_host_model,
            "pacs_model_address": pacs_model_address,
            "pacs_model_needs_facts": pacs_model_needs_facts,
            "pacs_orthanc_address": pacs_orthanc_address,
            "pacs_dependent_modalities": pacs_dependent_modalities,
        }
