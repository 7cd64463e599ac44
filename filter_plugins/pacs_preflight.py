"""Every preflight problem of one Orthanc host, computed from its variables by pure functions.

This is the one validation of a host, a pure function of its model (filter
``pacs_host_model``, filter_plugins/pacs_model.py): playbooks/preflight.yml builds the model
once per run as the fact ``__pacs_model`` and calls ``pacs_model_errors`` on it, and
scripts/validate.py calls ``pacs_preflight_errors`` (model, then errors) offline with the
inventory's variables. It runs, for each role
the host uses, Ansible's own argument-spec validation of the variables the inventory sets
(each list item named), then that role's own checks (``orthanc_config_errors``,
``xnat_dqr_errors``, ``pacs_firewall_errors``, ``pacs_tls_errors``) on the role's settings,
every value taken from the host or else from its role's default (filter_plugins/pacs_model.py).

Which settings a role's checks read is not restated here: it is the key list of the
role's own settings mapping in ``roles/<role>/vars/main.yml`` (``__orthanc_settings``,
``__pacs_firewall_config``, ``__pacs_https_settings``), the mapping the role's own
preflight hands to the same function when the role runs alone.
"""

from __future__ import annotations

import pathlib
import sys

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.parsing.convert_bool import boolean

if str(pathlib.Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
# pylint: disable=wrong-import-position
from orthanc import orthanc_config_errors  # noqa: E402
from orthanc_container import orthanc_container_errors, orthanc_container_probe_user  # noqa: E402
from orthanc_versions import orthanc_offline_version_errors  # noqa: E402
from pacs_firewall import pacs_firewall_errors  # noqa: E402
from pacs_model import (_ROOT, EXTRA_KEYS, NAMES, ROLES, SETTINGS, SPECS, _materialize, _yaml, pacs_host_model,  # noqa: E402
                        pacs_setting, role_settings, snapshot)
from pacs_tls import pacs_tls_client_certificate_errors, pacs_tls_errors  # noqa: E402
from xnat_dqr import xnat_dqr_errors  # noqa: E402

DOCUMENTATION = r"""
name: pacs_preflight_errors
short_description: Every preflight problem of one Orthanc host, listed at once
description:
  - "Returns C(<variable>[<item>]: <problem>) strings, empty when the host's settings are valid:
    the argument specs of the roles the host uses (orthanc, xnat_dqr, pacs_firewall unless
    C(pacs_firewall_enabled) is false, pacs_https when C(pacs_https_enabled)), then each role's
    own checks. Each problem is listed once. Host names are not resolved here (the firewall's
    C(pacs_firewall_resolve) does that, on the controller)."
positional: _input
options:
  _input:
    description: The host's variables, C(hostvars[inventory_hostname]).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Check every role's settings of this host
  ansible.builtin.assert:
    that: __errors | length == 0
    fail_msg: "{{ __errors | join('\n') }}"
  vars:
    __errors: "{{ hostvars[inventory_hostname] | pacs_preflight_errors }}"
"""

RETURN = r"""
_value:
  description: "Error strings C(<variable>[<item>]: <problem>), empty when valid."
  type: list
  elements: str
"""

def _label(item, index):
    if isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"]:
        return item["name"]
    return "#%d" % index


_VALIDATORS = {}


def _validator(key, spec):
    if key not in _VALIDATORS:
        _VALIDATORS[key] = ArgumentSpecValidator(spec)
    return _VALIDATORS[key]


def spec_errors(role, values):
    """Ansible's own argument-spec validation of the given variables, one variable at a time.

    A list of dicts that fails is checked again item by item, so that the message names the
    item (``orthanc_modalities[CT1]: ...``) with Ansible's own wording.
    """
    errors = []
    for name, option in SPECS[role].items():
        if name not in values:
            continue
        value = values[name]

        def run(key, spec, params, where):
            for message in _validator((role, name, key), spec).validate(params).error_messages:
                errors.append("%s: %s" % (where, message))

        whole = {name: option}
        if option.get("options") and option.get("type") == "list" and option.get("elements") == "dict" \
                and isinstance(value, list):
            if not _validator((role, name, "whole"), whole).validate({name: value}).error_messages:
                continue
            run("top", {name: {k: v for k, v in option.items() if k != "options"}}, {name: value}, name)
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    run("whole", whole, {name: [item]}, "%s[%s]" % (name, _label(item, index)))
        else:
            run("whole", whole, {name: value}, name)
    return errors


def _subject(line):
    """What a problem line is about: the variable, or the list item (``orthanc_modalities[CT1]``)."""
    head = line.split(": ", 1)[0]
    return head[:head.index("]") + 1] if "[" in head and "]" in head else head.split(".")[0]


def _once(spec, checks):
    """A role's problems, each once: its checks' messages (they say what is wrong in the inventory's
    terms), and the argument spec's only for what the checks did not already name."""
    named = {_subject(line) for line in checks}
    return [line for line in spec if _subject(line) not in named] + checks


def _unique(lines):
    seen = set()
    return [line for line in lines if not (line in seen or seen.add(line))]


def role_errors(hostvars, role):
    """The problems of one role's settings on this host: its argument spec, then its own checks.

    hostvars is a plain mapping here (see snapshot).
    """
    spec = spec_errors(role, {name: hostvars[name] for name in SPECS[role] if name in hostvars})
    return _once(spec, CHECKS[role](hostvars))


def _orthanc_checks(hostvars):
    settings = role_settings(hostvars, "orthanc")
    return (orthanc_config_errors(settings) + _container_checks(hostvars)
            + pacs_tls_client_certificate_errors(settings)
            + orthanc_offline_version_errors({k: pacs_setting(hostvars, k) for k in _ORTHANC_VARS["__orthanc_version_settings"]}))


# The container method's own tables (roles/orthanc/vars/main.yml), read, not restated.
_ORTHANC_VARS = _yaml(_ROOT / "roles" / "orthanc" / "vars" / "main.yml")
_CONTAINER_DERIVED = ("probe_user", "authentication", "known_plugins", "legacy_env")


def _container_checks(hostvars):
    """orthanc_container_errors on the settings the role hands it (__orthanc_container_settings)."""
    if pacs_setting(hostvars, "orthanc_install_method") != "container":
        return []
    keys = [k for k in _ORTHANC_VARS["__orthanc_container_settings"] if k not in _CONTAINER_DERIVED]
    settings = {k: pacs_setting(hostvars, k) for k in keys if k.startswith("orthanc_")}
    settings["reserved_env"] = _ORTHANC_VARS["__orthanc_container_settings"]["reserved_env"]
    users, auth = pacs_setting(hostvars, "orthanc_users"), _truthy(pacs_setting(hostvars, "orthanc_authentication_enabled"))
    settings.update(probe_user=orthanc_container_probe_user(users, auth),
                    authentication=auth and bool(users),
                    known_plugins=_ORTHANC_VARS["__orthanc_container_plugin_vars"],
                    legacy_env=_ORTHANC_VARS["__orthanc_container_legacy_env"])
    return orthanc_container_errors(settings)


def _xnat_checks(hostvars):
    return xnat_dqr_errors(pacs_setting(hostvars, "xnat_dqr_servers"),
                           orthanc_dicom_aet=pacs_setting(hostvars, "orthanc_dicom_aet"))


def _firewall_checks(hostvars):
    errors = pacs_firewall_errors(role_settings(hostvars, "pacs_firewall"))
    confirm, rollback = (pacs_setting(hostvars, "pacs_firewall_" + k) for k in ("confirm_timeout", "rollback_timeout"))
    if isinstance(confirm, int) and isinstance(rollback, int) and confirm >= rollback:
        errors.append("pacs_firewall_confirm_timeout: must be below pacs_firewall_rollback_timeout")
    return errors


def _https_checks(hostvars):
    return pacs_tls_errors(role_settings(hostvars, "pacs_https"))


CHECKS = {"orthanc": _orthanc_checks, "xnat_dqr": _xnat_checks, "pacs_firewall": _firewall_checks,
          "pacs_https": _https_checks, "pacs_state": lambda hostvars: []}


def host_roles(hostvars):
    """The roles whose settings apply to this host."""
    roles = ["orthanc", "xnat_dqr"]
    if _truthy(pacs_setting(hostvars, "pacs_firewall_enabled")):
        roles.append("pacs_firewall")
    if _truthy(pacs_setting(hostvars, "pacs_https_enabled")):
        roles.append("pacs_https")
    return roles + ["pacs_state"]


def _truthy(value):
    """A boolean variable as Ansible's `bool` filter reads it."""
    return boolean(value.strip() if isinstance(value, str) else value, strict=False)


def pacs_model_errors(model):
    """Every problem of a host's model (filter pacs_host_model), each once (see the module's docstring)."""
    # Plain values: a model read back from a fact is a lazy container that templates an element
    # each time it is read, and the checks read the same lists many times.
    hostvars, errors = _materialize(model["given"]), list(model["problems"])
    broken = {line.split(":", 1)[0] for line in errors}
    found = {role: role_errors(hostvars, role) for role in host_roles(hostvars)
             if not broken & set(SPECS[role])}  # Ansible stops a role at a failed template too
    if found.get("xnat_dqr"):  # the receivers' problems are named once, as xnat_dqr_servers[...]
        found["orthanc"] = [line for line in found.get("orthanc", [])
                            if not line.startswith("orthanc_dependent_modalities")]
    for lines in found.values():
        named = {_subject(line) for line in errors}
        # A variable another role reads (the firewall reads the HTTP port) is judged by its
        # own role first: a second role's message about the same thing is left out.
        errors.extend(line for line in lines if _subject(line) not in named)
    return _unique(errors)


def pacs_preflight_errors(hostvars):
    """Every problem of this host's settings, each once: the errors of its model."""
    return pacs_model_errors(pacs_host_model(hostvars))


def _hosts_report(hosts, errors_of):
    """One message per host whose ``errors_of(host)`` is not empty, in the order of ``hosts``."""
    report = []
    for host in hosts:
        errors = errors_of(host)
        if errors:
            report.append("The inventory has %d problem(s) for host %s:\n- %s" % (len(errors), host, "\n- ".join(errors)))
    return report


def pacs_preflight_report(hosts, hostvars):
    """One message per host whose model has problems (pacs_model_errors), in the order of
    ``hosts``; empty when every host is valid. ``hostvars`` maps each host to its variables, of
    which ``__pacs_model`` is read. The preflight play checks the whole hospital with it in one
    task: every problem of every host at once.
    """
    return _hosts_report(hosts, lambda host: pacs_model_errors(hostvars[host]["__pacs_model"]))


def pacs_unresolved_report(hosts, hostvars):
    """One message per host with host names its firewall could not resolve, in the order of
    ``hosts``: the ``errors`` of its ``__pacs_firewall_resolution`` (filter
    pacs_firewall_resolve), a variable hosts without the firewall do not have."""
    return _hosts_report(hosts, lambda host: list(
        (hostvars[host].get("__pacs_firewall_resolution") or {}).get("errors") or []))


class FilterModule:
    """Map the filter name to its function."""

    def filters(self):
        return {"pacs_preflight_errors": pacs_preflight_errors, "pacs_model_errors": pacs_model_errors,
                "pacs_preflight_report": pacs_preflight_report, "pacs_unresolved_report": pacs_unresolved_report}
