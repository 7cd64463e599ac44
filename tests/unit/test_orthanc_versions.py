"""Unit tests of filter_plugins/orthanc_versions.py: the Orthanc version a host runs, and the
inventory's keys of newer versions, refused where that version lacks them and rendered where
it has them. Expected values come from Orthanc's own sources and hosts, not from the code:
apt outputs captured on Debian 12 and 13 (LC_ALL=C apt-cache policy orthanc), the keys' versions
from Orthanc 1.12.7's NEWS and Configuration.json, the values Orthanc 1.12.7 accepts from its
start-up error ('RetrieveMethod can be "C-MOVE", "C-GET" or "SystemDefault"')."""


import pytest
from ansible.template import trust_as_template

import filter_plugins_loader  # noqa: F401  pylint: disable=unused-import
from orthanc import FilterModule as OrthancFilters
from orthanc_versions import KEYS_SINCE, LATEST, FilterModule
from pacs_preflight import pacs_preflight_errors
from role_templar import orthanc_role_templar

F = FilterModule().filters()

# Captured on the project's base images (see the module docstring).
APT_DEBIAN12_FRESH = """orthanc:
  Installed: (none)
  Candidate: 1.10.1+dfsg-2+deb12u1
  Version table:
     1.10.1+dfsg-2+deb12u1 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
"""
APT_DEBIAN12_INSTALLED = """orthanc:
  Installed: 1.10.1+dfsg-2+deb12u1
  Candidate: 1.10.1+dfsg-2+deb12u1
  Version table:
 *** 1.10.1+dfsg-2+deb12u1 100
        100 /var/lib/dpkg/status
"""
APT_DEBIAN13_FRESH = """orthanc:
  Installed: (none)
  Candidate: 1.12.7+dfsg-4
  Version table:
     1.12.7+dfsg-4 500
        500 http://deb.debian.org/debian trixie/main amd64 Packages
"""
# A Debian 12 host whose orthanc was installed, with a newer candidate (backports pinned in).
APT_UPGRADABLE = APT_DEBIAN12_INSTALLED.replace("Candidate: 1.10.1+dfsg-2+deb12u1", "Candidate: 1.12.7+dfsg-4~bpo12+1")

CT1 = {"name": "CT1", "aet": "CT1", "host": "10.0.0.11", "port": 104}
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def settings(**overrides):
    base = {"orthanc_version": "", "orthanc_install_method": "package", "orthanc_package_state": "present",
            "orthanc_container_image": "orthancteam/orthanc:26.8.1", "orthanc_modalities": [dict(CT1)],
            "orthanc_dicom_default_retrieve_method": "", "orthanc_dicom_tls_certificate": "",
            "orthanc_dicom_tls_minimum_protocol_version": 0, "orthanc_dicom_tls_ciphers_accepted": [],
            "orthanc_extra_config": {}}
    base.update(overrides)
    return base


def version_of(apt="", **overrides):
    return F["orthanc_target_version"](settings(**overrides), apt)


def test_the_filters_are_registered():
    assert set(F) == {"orthanc_target_version", "orthanc_version_errors", "orthanc_offline_version_errors",
                      "orthanc_versioned_config", "orthanc_apt_installed"}


@pytest.mark.parametrize("policy, installed", [
    ("orthanc:\n  Installed: 1.10.1+dfsg-2\n  Candidate: 1.10.1+dfsg-2\n", "1.10.1"),
    ("orthanc:\n  Installed: (none)\n  Candidate: 1.12.7+dfsg-1\n", ""),
    ("orthanc:\n  Installed: 1:1.12.7+dfsg-1\n", "1.12.7"),
    ("N: Unable to locate package orthanc\n", ""),
    ("", ""),
])
def test_apt_installed(policy, installed):
    assert F["orthanc_apt_installed"](policy) == installed


@pytest.mark.parametrize(("apt", "state", "version", "source"), [
    (APT_DEBIAN12_FRESH, "present", "1.10.1", "Debian package orthanc 1.10.1+dfsg-2+deb12u1, the candidate the role installs"),
    (APT_DEBIAN12_INSTALLED, "present", "1.10.1", "Debian package orthanc 1.10.1+dfsg-2+deb12u1, installed on this host"),
    (APT_DEBIAN13_FRESH, "present", "1.12.7", "Debian package orthanc 1.12.7+dfsg-4, the candidate the role installs"),
    # present keeps what is installed; latest upgrades to the candidate
    (APT_UPGRADABLE, "present", "1.10.1", "Debian package orthanc 1.10.1+dfsg-2+deb12u1, installed on this host"),
    (APT_UPGRADABLE, "latest", "1.12.7", "Debian package orthanc 1.12.7+dfsg-4~bpo12+1, the candidate the role installs"),
])
def test_the_package_method_reads_the_version_apt_installs_or_has_installed(apt, state, version, source):
    assert version_of(apt, orthanc_package_state=state) == {"version": version, "source": source, "assumed": False}


@pytest.mark.parametrize("apt", ["", "N: Unable to locate package orthanc\n",
                                 "orthanc:\n  Installed: (none)\n  Candidate: (none)\n"])
def test_the_package_method_without_a_package_knows_no_version(apt):
    assert version_of(apt) is None


@pytest.mark.parametrize(("image", "version", "assumed"), [
    ("orthancteam/orthanc:26.8.1", "1.13.0", False),
    ("orthancteam/orthanc:26.8.0", "1.13.0", False),
    ("local/orthancteam-orthanc:26.8.1", "1.13.0", False),
    ("orthancteam/orthanc:24.12.1", "1.12.5", False),
    ("local/orthanc:1.10.1", "1.10.1", False),
    ("registry.example.org:5000/jodogne/orthanc:1.12.7", "1.12.7", False),
    ("orthancteam/orthanc:25.2.0", LATEST, True),
    ("orthancteam/orthanc", LATEST, True),
    ("orthancteam/orthanc:latest", LATEST, True),
])
def test_the_container_method_reads_the_version_from_the_image_tag(image, version, assumed):
    found = version_of(orthanc_install_method="container", orthanc_container_image=image)
    assert (found["version"], found["assumed"]) == (version, assumed)
    if assumed:
        assert "is not in the role's table" in found["source"] and "set orthanc_version" in found["source"]


def test_orthanc_version_wins_over_the_tag_and_apt():
    assert version_of(APT_DEBIAN13_FRESH, orthanc_version="1.12.6")["version"] == "1.12.6"
    found = version_of(orthanc_version="1.10.1", orthanc_install_method="container")
    assert found == {"version": "1.10.1", "source": "orthanc_version in the inventory", "assumed": False}


def errors(apt="", **overrides):
    values = settings(**overrides)
    return F["orthanc_version_errors"](values, F["orthanc_target_version"](values, apt))


def test_an_inventory_that_asks_for_nothing_new_passes_everywhere_even_with_an_unknown_version():
    for apt in (APT_DEBIAN12_FRESH, APT_DEBIAN13_FRESH, ""):
        assert errors(apt) == []


def test_retrieve_method_on_debian_12_is_refused_naming_variable_item_and_versions():
    modality = {**CT1, "retrieve_method": "C-GET"}
    assert errors(APT_DEBIAN12_INSTALLED, orthanc_modalities=[modality]) == [
        "orthanc_modalities[CT1].retrieve_method: needs Orthanc 1.12.6 or later; this host runs 1.10.1 "
        "(Debian package orthanc 1.10.1+dfsg-2+deb12u1, installed on this host)"]
    assert errors(APT_DEBIAN13_FRESH, orthanc_modalities=[modality]) == []


def test_an_unknown_version_refuses_a_newer_key_and_says_how_to_tell_it():
    found = errors("", orthanc_dicom_default_retrieve_method="C-GET")
    assert found == ["orthanc_dicom_default_retrieve_method: needs Orthanc 1.12.6 or later, but the Orthanc "
                     "version of this host is unknown (apt-cache policy orthanc names no orthanc package); "
                     "set orthanc_version to the Orthanc it runs"]


@pytest.mark.parametrize(("key", "since"), sorted(KEYS_SINCE.items()))
def test_newer_keys_of_orthanc_extra_config_are_refused_on_older_versions(key, since):
    extra = {key: 1}
    older = ".".join(str(p) for p in (1, int(since.split(".")[1]), int(since.split(".")[2]) - 1)) \
        if since.split(".")[2] != "0" else f"1.{int(since.split('.')[1]) - 1}.99"
    if key == "RestApiWriteToFileSystemEnabled":  # the role renders it itself, for every version
        assert errors(orthanc_version=older, orthanc_extra_config=extra) == []
        return
    assert errors(orthanc_version=older, orthanc_extra_config=extra) == [
        f"orthanc_extra_config[{key}]: needs Orthanc {since} or later; this host runs {older} "
        "(orthanc_version in the inventory)"]
    assert errors(orthanc_version=since, orthanc_extra_config=extra) == []


def test_keys_orthanc_1_10_1_has_stay_accepted_on_debian_12():
    assert errors(APT_DEBIAN12_INSTALLED, orthanc_extra_config={"HttpTimeout": 20, "Worklists": {"Enable": False}}) == []


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"orthanc_modalities": [{**CT1, "retrieve_method": "c-get"}]},
     "orthanc_modalities[CT1].retrieve_method: 'c-get' is not one of C-MOVE, C-GET, SystemDefault"),
    ({"orthanc_dicom_default_retrieve_method": "SystemDefault"},
     "orthanc_dicom_default_retrieve_method: 'SystemDefault' is not one of C-MOVE, C-GET"),
    ({"orthanc_dicom_tls_minimum_protocol_version": 6, "orthanc_dicom_tls_certificate": PEM},
     "orthanc_dicom_tls_minimum_protocol_version: 6 is not one of 0-5"),
    ({"orthanc_dicom_tls_minimum_protocol_version": 4},
     "orthanc_dicom_tls_minimum_protocol_version: DICOM TLS is off (orthanc_dicom_tls_certificate is empty)"),
    ({"orthanc_dicom_tls_minimum_protocol_version": 4, "orthanc_dicom_tls_certificate": PEM},
     "orthanc_dicom_tls_minimum_protocol_version: 4 leaves the DICOM BCP 195 profile, and Orthanc then needs "
     "the accepted cipher suites"),
    ({"orthanc_dicom_tls_ciphers_accepted": ["ECDHE-RSA-AES256-GCM-SHA384"], "orthanc_dicom_tls_certificate": PEM},
     "orthanc_dicom_tls_ciphers_accepted: Orthanc refuses cipher suites with the default DICOM BCP 195 profile"),
    ({"orthanc_version": "1.12"}, "orthanc_version: '1.12' is not an Orthanc version like 1.12.7"),
])
def test_bad_values_of_the_newer_keys_are_refused_whatever_the_version(overrides, expected):
    found = errors(APT_DEBIAN13_FRESH, **overrides)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_dicom_tls_protocol_and_ciphers_need_orthanc_1_12_4():
    tls = {"orthanc_dicom_tls_certificate": PEM, "orthanc_dicom_tls_minimum_protocol_version": 4,
           "orthanc_dicom_tls_ciphers_accepted": ["ECDHE-RSA-AES256-GCM-SHA384", "TLS_AES_256_GCM_SHA384"]}
    assert errors(APT_DEBIAN13_FRESH, **tls) == []
    assert [line.split(":")[0] for line in errors(APT_DEBIAN12_FRESH, **tls)] == [
        "orthanc_dicom_tls_minimum_protocol_version", "orthanc_dicom_tls_ciphers_accepted"]
    # 0 is the BCP 195 profile every version with DICOM TLS uses: nothing to render, nothing to refuse.
    assert errors(APT_DEBIAN12_FRESH, orthanc_dicom_tls_certificate=PEM) == []


def test_versioned_config_renders_only_what_the_inventory_sets():
    render = F["orthanc_versioned_config"]
    assert render(settings()) == {}
    assert render(settings(orthanc_dicom_default_retrieve_method="C-GET")) == {"DicomDefaultRetrieveMethod": "C-GET"}
    tls = settings(orthanc_dicom_tls_minimum_protocol_version="5", orthanc_dicom_tls_ciphers_accepted=["TLS_AES_256_GCM_SHA384"])
    assert render(tls) == {}  # DICOM TLS off: Orthanc would ignore them (and preflight refuses them)
    assert render({**tls, "orthanc_dicom_tls_certificate": PEM}) == {
        "DicomTlsMinimumProtocolVersion": 5, "DicomTlsCiphersAccepted": ["TLS_AES_256_GCM_SHA384"]}


def test_a_modality_renders_retrieve_method_only_when_set():
    modalities = OrthancFilters().filters()["orthanc_modalities"]
    rendered = modalities([dict(CT1), {**CT1, "name": "CT2", "aet": "CT2", "retrieve_method": "C-GET"}])
    assert "RetrieveMethod" not in rendered["CT1"]
    assert rendered["CT2"]["RetrieveMethod"] == "C-GET"


def test_the_role_renders_nothing_new_for_an_inventory_that_asks_for_nothing_new():
    templar = orthanc_role_templar(orthanc_modalities=[dict(CT1)])
    assert templar.template(trust_as_template("{{ __orthanc_config_versioned }}")) == {}
    assert templar.template(trust_as_template("{{ __orthanc_all_modalities | orthanc_modalities }}"))["CT1"].get(
        "RetrieveMethod") is None


def test_the_role_renders_and_checks_the_newer_keys_it_is_asked_for():
    inventory = {"orthanc_modalities": [{**CT1, "retrieve_method": "C-GET"}],
                 "orthanc_dicom_default_retrieve_method": "C-MOVE"}
    templar = orthanc_role_templar(**inventory)
    assert templar.template(trust_as_template("{{ __orthanc_config_versioned }}")) == {
        "DicomDefaultRetrieveMethod": "C-MOVE"}
    assert templar.template(trust_as_template("{{ __orthanc_all_modalities | orthanc_modalities }}"))["CT1"][
        "RetrieveMethod"] == "C-GET"
    check = trust_as_template("{{ __orthanc_version_settings | orthanc_version_errors("
                              "__orthanc_version_settings | orthanc_target_version(apt_output)) }}")
    assert orthanc_role_templar(**inventory, apt_output=APT_DEBIAN13_FRESH).template(check) == []
    refused = orthanc_role_templar(**inventory, apt_output=APT_DEBIAN12_INSTALLED).template(check)
    assert [line.split(":")[0] for line in refused] == ["orthanc_dicom_default_retrieve_method",
                                                        "orthanc_modalities[CT1].retrieve_method"]


GOOD_HOST = {
    "inventory_hostname": "pacs1", "ansible_host": "10.0.0.5", "orthanc_dicom_aet": "GH_PACS",
    "orthanc_users": [{"name": "admin", "password": "Correct-Horse-9"}],
    "orthanc_modalities": [{**CT1, "retrieve_method": "C-GET"}],
}


def test_the_offline_preflight_refuses_a_key_the_container_image_lacks():
    host = {**GOOD_HOST, "orthanc_install_method": "container", "orthanc_container_image": "local/orthanc:1.10.1"}
    assert "orthanc_modalities[CT1].retrieve_method: needs Orthanc 1.12.6 or later; this host runs 1.10.1 " \
           "(image local/orthanc:1.10.1)" in pacs_preflight_errors(host)
    current = {**host, "orthanc_container_image": "orthancteam/orthanc:26.8.1"}
    assert not [line for line in pacs_preflight_errors(current) if "retrieve_method" in line]


def test_the_offline_preflight_uses_orthanc_version_and_leaves_package_hosts_to_the_role():
    assert "orthanc_modalities[CT1].retrieve_method: needs Orthanc 1.12.6 or later; this host runs 1.10.1 " \
           "(orthanc_version in the inventory)" in pacs_preflight_errors({**GOOD_HOST, "orthanc_version": "1.10.1"})
    # The package's version is read on the host (roles/orthanc/tasks/version.yml), not guessed here.
    assert not [line for line in pacs_preflight_errors(GOOD_HOST) if "retrieve_method" in line]


def test_the_offline_preflight_refuses_a_bad_retrieve_method_through_the_argument_spec():
    host = {**GOOD_HOST, "orthanc_modalities": [{**CT1, "retrieve_method": "GET"}]}
    found = [line for line in pacs_preflight_errors(host) if "retrieve_method" in line]
    assert found and found[0].startswith("orthanc_modalities[CT1]"), found
