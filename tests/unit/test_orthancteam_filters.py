"""Unit tests of filter_plugins/orthanc_container.py (the container method's filters),
through FilterModule().filters()."""

import json
import pathlib

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from orthanc_container import FilterModule

ROOT = pathlib.Path(__file__).resolve().parents[2]

F = FilterModule().filters()
VARS = yaml.safe_load((ROOT / "roles/orthanc/vars/main.yml").read_text())
KNOWN = VARS["__orthanc_container_plugin_vars"]
LEGACY = VARS["__orthanc_container_legacy_env"]


@pytest.mark.parametrize("value", [
    "plain", "$", "$$", "a$HOME", "${HOME}", "${PACS_PROVISIONER_DOLLAR}", "\\$x", "é密$1", "",
])
def test_encode_then_decode_is_the_identity(value):
    config = {"RegisteredUsers": {value or "u": value}, "List": [value, 1, True, None]}
    encoded = F["orthanc_container_encode"](config, "PACS_PROVISIONER_DOLLAR")
    assert F["orthanc_container_decode"](encoded, "PACS_PROVISIONER_DOLLAR") == config


def test_encode_touches_keys_and_strings_only():
    encoded = F["orthanc_container_encode"]({"a$": ["$", 5, {"b": "x$y"}]}, "D")
    assert encoded == {"a${D}": ["${D}", 5, {"b": "x${D}y"}]}


def test_an_empty_name_leaves_the_configuration_alone():
    assert F["orthanc_container_decode"]({"a": "${X}"}, "") == {"a": "${X}"}
    assert F["orthanc_container_encode"]({"a": "$"}, "") == {"a": "$"}


def test_a_bad_variable_name_is_refused():
    with pytest.raises(AnsibleFilterError, match="environment variable name"):
        F["orthanc_container_encode"]({}, "1-bad")


def test_image_reference_with_and_without_digest():
    digest = "sha256:" + "a" * 64
    assert F["orthanc_container_image_ref"]("orthancteam/orthanc:26.8.1", "") == "orthancteam/orthanc:26.8.1"
    assert F["orthanc_container_image_ref"]("orthancteam/orthanc:26.8.1", digest) == \
        "orthancteam/orthanc:26.8.1@" + digest


def test_plugin_env_keeps_the_image_defaults_unless_named():
    env = F["orthanc_container_plugin_env"]({}, KNOWN, True, "sqlite")
    assert env == {"DICOM_WEB_PLUGIN_ENABLED": "true"}
    env = F["orthanc_container_plugin_env"]({"Gdcm": False, "Python": True}, KNOWN, False, "postgresql")
    assert env == {"DICOM_WEB_PLUGIN_ENABLED": "false", "GDCM_PLUGIN_ENABLED": "false",
                   "POSTGRESQL_PLUGIN_ENABLED": "true", "PYTHON_PLUGIN_ENABLED": "true"}


def settings(**overrides):
    base = {
        "orthanc_container_image": "orthancteam/orthanc:26.8.1",
        "orthanc_container_image_digest": "",
        "orthanc_container_user": "",
        "orthanc_container_plugins": {},
        "orthanc_container_env": {},
        "orthanc_container_healthcheck": {"interval": "10s"},
        "orthanc_dicomweb_enabled": True,
        "orthanc_database": "sqlite",
        "probe_user": "admin",
        "authentication": True,
        "known_plugins": KNOWN,
        "legacy_env": LEGACY,
        "reserved_env": ["PACS_PROVISIONER_DOLLAR"],
    }
    base.update(overrides)
    return base


def test_good_settings_pass():
    assert F["orthanc_container_errors"](settings()) == []
    assert F["orthanc_container_errors"](settings(
        orthanc_container_image="registry.example.org:5000/pacs/orthanc:26.8.1-full",
        orthanc_container_image_digest="sha256:" + "0f" * 32, orthanc_container_user="999:999",
        orthanc_container_plugins={"Gdcm": False, "Python": True},
        orthanc_container_env={"ORTHANC__STABLE_AGE": "30", "ORTHANC_JSON": "{}"})) == []


@pytest.mark.parametrize("overrides, expected", [
    ({"orthanc_container_image_digest": "sha256:abc"}, "orthanc_container_image_digest: 'sha256:abc'"),
    ({"orthanc_container_image_digest": "SHA256:" + "a" * 64}, "orthanc_container_image_digest:"),
    ({"orthanc_container_image": "orthancteam/orthanc@sha256:" + "a" * 64}, "orthanc_container_image:"),
    ({"orthanc_container_image": "Orthanc Team/orthanc"}, "orthanc_container_image:"),
    ({"orthanc_container_user": "orthanc"}, "orthanc_container_user: 'orthanc'"),
    ({"orthanc_container_plugins": {"Explorer2": True}}, "orthanc_container_plugins[Explorer2]: unknown plugin"),
    ({"orthanc_container_plugins": {"Gdcm": "no"}}, "orthanc_container_plugins[Gdcm]: expected true or false"),
    ({"orthanc_container_plugins": {"DicomWeb": False}}, "orthanc_container_plugins[DicomWeb]: false while"),
    ({"orthanc_container_plugins": {"PostgreSQL": False}, "orthanc_database": "postgresql"},
     "orthanc_container_plugins[PostgreSQL]: false while"),
    ({"orthanc_container_env": {"DW_ENABLED": "true"}}, "orthanc_container_env[DW_ENABLED]: a legacy variable"),
    ({"orthanc_container_env": {"GDCM_PLUGIN_ENABLED": "false"}}, "orthanc_container_env[GDCM_PLUGIN_ENABLED]: a plugin"),
    ({"orthanc_container_env": {"PACS_PROVISIONER_DOLLAR": "x"}}, "orthanc_container_env[PACS_PROVISIONER_DOLLAR]: set by"),
    ({"orthanc_container_env": {"ORTHANC_JSON": "{bad"}}, "orthanc_container_env[ORTHANC_JSON]: not JSON"),
    ({"orthanc_container_healthcheck": {"intervall": "1s"}}, "orthanc_container_healthcheck[intervall]: unknown"),
    ({"orthanc_container_healthcheck": []}, "orthanc_container_healthcheck: expected a dict"),
    ({"probe_user": ""}, "orthanc_container_healthcheck: every password in orthanc_users holds a $"),
])
def test_bad_settings_are_named(overrides, expected):
    errors = F["orthanc_container_errors"](settings(**overrides))
    assert len(errors) == 1 and errors[0].startswith(expected), errors


def test_no_probe_user_is_fine_with_an_own_test_or_no_health_check():
    assert F["orthanc_container_errors"](settings(probe_user="", orthanc_container_healthcheck={})) == []
    assert F["orthanc_container_errors"](settings(
        probe_user="", orthanc_container_healthcheck={"test": ["CMD", "true"]})) == []


def test_log_cause_names_the_generator_error_not_its_summary():
    lines = ["Generating random hostid in /etc/hostid: 1",
             "ERROR: failed to install libOrthancAzureBlobStorage.so file: [Errno 2] No such file",
             "ERROR: There were some errors while preparing the configuration file for Orthanc.",
             "ERROR: failed to install libOrthancAzureBlobStorage.so file: [Errno 2] No such file",
             "E1130 20:10:03.578110 main.cpp:2159] an Orthanc line"]
    assert F["orthanc_container_log_cause"](lines) == (
        "the image's configuration generator refused the configuration: "
        "failed to install libOrthancAzureBlobStorage.so file: [Errno 2] No such file")
    assert F["orthanc_container_log_cause"](["E1130 x main.cpp:1] y"]) == ""
    assert "some errors" in F["orthanc_container_log_cause"](
        ["ERROR: There were some errors while preparing the configuration file for Orthanc."])


def test_the_role_knows_every_plugin_of_the_stand_in():
    """The stand-in's plugin table is a subset of the real image's, which the role lists."""
    table = json.loads((ROOT / "images/orthancteam/plugins-def.json").read_text())
    for name, definition in table.items():
        if not name.startswith("_"):
            assert KNOWN[name] == definition["enablingEnvVar"]
