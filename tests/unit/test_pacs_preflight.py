"""filter_plugins/pacs_preflight.py: the one validation of a host, as the preflight play and
scripts/validate.py both call it."""

import pathlib
import re

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

import pacs_model
from pacs_inventory import pacs_inventory_errors
from pacs_model import DEFAULTS, DERIVED, pacs_setting
from pacs_preflight import SETTINGS, host_roles, pacs_preflight_errors, role_settings
from role_templar import trusted

ROOT = pathlib.Path(__file__).resolve().parents[2]
GOOD = {
    "inventory_hostname": "pacs1", "ansible_host": "10.0.0.5",
    "orthanc_dicom_aet": "GH_PACS",
    "orthanc_users": [{"name": "admin", "password": "Correct-Horse-9"}],
    "orthanc_modalities": [{"name": "CT1", "aet": "CT1", "host": "10.0.0.11", "port": 104}],
    "xnat_dqr_servers": [{"name": "XNAT_A", "url": "https://xnat.example.org", "username": "admin",
                          "password": "Xnat-Pass-1", "receiver": {"aet": "XNAT_A", "host": "10.0.0.40",
                                                                  "port": 8104}}],
}


def test_a_good_host_has_no_problem():
    assert pacs_preflight_errors(GOOD) == []
    assert host_roles(GOOD) == ["orthanc", "xnat_dqr", "pacs_firewall", "pacs_state"]


@pytest.mark.parametrize(("change", "line"), [
    ({"orthanc_dicom_aet": "A" * 20}, "orthanc_dicom_aet: 'AAAAAAAAAAAAAAAAAAAA' is 20 characters; an AE title has at most 16"),
    ({"orthanc_http_port": "eighty"}, "orthanc_http_port: 'eighty' is not a port number"),
    ({"orthanc_modalities": [{"name": "US1", "aet": "US1", "host": "10.0.0.12", "port": "dicom"}]},
     "orthanc_modalities[US1].port: 'dicom' is not a port number"),
    ({"xnat_dqr_servers": [{**GOOD["xnat_dqr_servers"][0], "receiver": {"aet": "XNAT_A", "host": "10.0.0.40"}}]},
     "xnat_dqr_servers[XNAT_A]: receiver.port must be an integer 1-65535, got None"),
])
def test_each_problem_is_listed_once_in_the_words_of_its_own_role(change, line):
    """Before, the AE title of 20 characters came twice (orthanc and xnat_dqr), a bad port three
    times (argument spec, orthanc, firewall), an XNAT receiver as an Orthanc modality too."""
    assert pacs_preflight_errors({**GOOD, **change}) == [line]


def test_argument_spec_problems_the_checks_do_not_name_still_come():
    errors = pacs_preflight_errors({**GOOD, "orthanc_stable_age": "soon"})
    assert len(errors) == 1 and errors[0].startswith("orthanc_stable_age: argument 'orthanc_stable_age' is of type str")


def test_a_template_that_fails_is_named_by_its_variable():
    class Broken(dict):
        def __getitem__(self, name):
            if name == "orthanc_users":
                raise RuntimeError("'vault_missing' is undefined")
            return super().__getitem__(name)
    errors = pacs_preflight_errors(Broken(GOOD))
    assert errors == ["orthanc_users: 'vault_missing' is undefined"]


def test_https_is_checked_only_where_it_is_on():
    assert "pacs_https" not in host_roles(GOOD)
    errors = pacs_preflight_errors({**GOOD, "pacs_https_enabled": True})
    assert errors and all(e.startswith("pacs_https_") for e in errors), errors
    assert "pacs_firewall" not in host_roles({**GOOD, "pacs_firewall_enabled": False})


def test_the_settings_keys_are_the_roles_own_mappings():
    for role, keys in SETTINGS.items():
        name = {"orthanc": "__orthanc_settings", "pacs_firewall": "__pacs_firewall_config",
                "pacs_https": "__pacs_https_settings"}[role]
        own = yaml.safe_load((ROOT / "roles" / role / "vars" / "main.yml").read_text())[name]
        assert tuple(own) == keys


SAMPLES = [
    {"inventory_hostname": "pacs1"},
    {"inventory_hostname": "pacs1", "ansible_host": "10.0.0.5", "orthanc_storage_dir": "/srv/orthanc",
     "orthanc_http_port": 8080, "orthanc_install_method": "container", "xnat_dqr_servers": GOOD["xnat_dqr_servers"]},
]


def _role_templated_defaults():
    for path in sorted(ROOT.glob("roles/*/defaults/main.yml")):
        for name, value in (yaml.safe_load(path.read_text()) or {}).items():
            if "{{" in str(value) and name in DERIVED:
                yield name, value


@pytest.mark.parametrize("sample", SAMPLES, ids=["bare", "set"])
def test_derived_defaults_agree_with_the_roles_templates(sample):
    """A default that depends on other variables is a template in its role's defaults file (the
    role's own run) and a function in pacs_model.DERIVED (every other reader): the same value."""
    import filter_plugins_loader  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    model = pacs_model.pacs_host_model(sample)
    # Each role reads the model through its own alias (roles/<role>/vars/main.yml).
    variables = {**DEFAULTS, **sample, "hostvars": {sample["inventory_hostname"]: sample}, "__pacs_model": model,
                 **{"__%s_model" % role: model for role in pacs_model.ALL_ROLES}}
    templar = Templar(loader=DataLoader(), variables=variables)
    checked = 0
    for name, template in _role_templated_defaults():
        assert templar.template(trusted(template)) == pacs_setting(sample, name), name
        checked += 1
    assert checked >= 4


def test_changing_a_default_is_seen_by_every_reader(monkeypatch):
    """The DICOM port's default is one line in roles/orthanc/defaults/main.yml; every role that
    reads it (firewall, XNAT registration, cross-host rules) gets it from there."""
    monkeypatch.setitem(pacs_model.DEFAULTS, "orthanc_dicom_port", 11112)
    host = {k: v for k, v in GOOD.items() if k != "orthanc_dicom_port"}
    assert role_settings(host, "pacs_firewall")["orthanc_dicom_port"] == 11112
    assert role_settings(host, "orthanc")["orthanc_dicom_port"] == 11112
    assert pacs_setting(host, "orthanc_dicom_port") == 11112
    other = {"orthanc_dicom_aet": "PACS_B", "orthanc_address": "10.0.0.6",
             "orthanc_modalities": [{"name": "X", "aet": "X1", "host": "10.0.0.5", "port": 11112}]}
    assert any("is the DICOM port of Orthanc host a" in e for e in pacs_inventory_errors({"a": host, "b": other}))


# Expressions that restate another role's default: `orthanc_http_port | default(8042)`.
RESTATED = re.compile(r"\b((?:orthanc|xnat_dqr|pacs_firewall|pacs_https|pacs_postgresql|pacs_smoke)_[a-z_]+)"
                      r"\s*\|\s*default\(\s*([^()]*?)\s*\)")


def test_no_role_restates_another_roles_default():
    found = []
    for path in sorted(ROOT.glob("roles/*/**/*")):
        if path.suffix not in (".yml", ".j2") or not path.is_file():
            continue
        role = path.relative_to(ROOT / "roles").parts[0]
        for name, literal in RESTATED.findall(path.read_text()):
            if name.startswith(role + "_") or name not in DEFAULTS:
                continue
            try:
                value = yaml.safe_load(literal)
            except yaml.YAMLError:
                continue
            if value == DEFAULTS[name] and value not in ([], {}, "", None):
                found.append("%s: %s | default(%s)" % (path.relative_to(ROOT), name, literal))
    assert not found, "read these from the host's model (__pacs_model.settings) instead:\n" + "\n".join(found)


def test_every_setting_the_checks_read_has_its_default_in_one_place():
    """A settings key whose role default is a template needs its pacs_model.DERIVED function,
    else validation would read None where the role's own run reads the template's value."""
    templated = {name for name, value in _all_defaults().items() if "{{" in str(value)}
    missing = sorted(key for keys in SETTINGS.values() for key in keys if key in templated and key not in DERIVED)
    assert not missing, "add these to pacs_model.DERIVED: %s" % missing


def _all_defaults():
    merged = {}
    for path in sorted(ROOT.glob("roles/*/defaults/main.yml")):
        merged.update(yaml.safe_load(path.read_text()) or {})
    return merged


def test_container_settings_are_checked_offline_too():
    """orthanc_container_errors ran only in the role's own preflight; now make validate runs it."""
    container = {**GOOD, "orthanc_install_method": "container"}
    assert pacs_preflight_errors(container) == []
    errors = pacs_preflight_errors({**container, "orthanc_container_image_digest": "sha256:xyz"})
    assert len(errors) == 1 and errors[0].startswith("orthanc_container_image_digest: 'sha256:xyz' is not sha256:")
    dollar_only = {**container, "orthanc_users": [{"name": "admin", "password": "Correct$Horse-9"}]}
    assert any("test-aliveness" in e or "password without $" in e for e in pacs_preflight_errors(dollar_only))


def test_pacs_state_settings_are_checked_by_name():
    errors = pacs_preflight_errors({**GOOD, "pacs_state_enabled": "sometimes"})
    assert len(errors) == 1 and errors[0].startswith("pacs_state_enabled: "), errors


def test_the_hospital_reports_name_each_host_with_its_problems():
    """playbooks/preflight.yml checks every host in one task, then every host's firewall names in
    one more: a valid host adds nothing, a bad one is named with each of its problems."""
    from pacs_preflight import pacs_preflight_report, pacs_unresolved_report  # pylint: disable=import-outside-toplevel

    bad = dict(GOOD, inventory_hostname="pacs2", orthanc_http_port="eighty")
    unresolved = ["orthanc_modalities[CT1].host: host name 'ct1.example' does not resolve on the controller (x)"]
    hostvars = {
        "pacs1": {"__pacs_model": pacs_model.pacs_host_model(GOOD),
                  "__pacs_firewall_resolution": {"addresses": {}, "errors": []}},
        "pacs2": {"__pacs_model": pacs_model.pacs_host_model(bad)},
        "pacs3": {"__pacs_model": pacs_model.pacs_host_model(dict(GOOD, inventory_hostname="pacs3")),
                  "__pacs_firewall_resolution": {"addresses": {}, "errors": unresolved}},
    }
    hosts = ["pacs1", "pacs2", "pacs3"]
    assert pacs_preflight_report(["pacs1", "pacs3"], hostvars) == []
    assert pacs_preflight_report(hosts, hostvars) == [
        "The inventory has 1 problem(s) for host pacs2:\n- orthanc_http_port: 'eighty' is not a port number"]
    assert pacs_unresolved_report(["pacs1", "pacs2"], hostvars) == []
    assert pacs_unresolved_report(hosts, hostvars) == [
        "The inventory has 1 problem(s) for host pacs3:\n- " + unresolved[0]]
