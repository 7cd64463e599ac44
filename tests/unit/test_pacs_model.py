"""filter_plugins/pacs_model.py: the contract's shared decisions, made in one place."""

import pathlib

import pacs_model
import pytest
import yaml
from pacs_inventory import pacs_inventory_errors
from pacs_model import (DEFAULTS, FilterModule, pacs_address_needs_facts, pacs_dependent_modalities,
                        pacs_orthanc_address, pacs_orthanc_names, pacs_setting)

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCKER = "community.docker.docker"


def test_defaults_are_read_from_the_roles_own_files():
    orthanc = yaml.safe_load((ROOT / "roles/orthanc/defaults/main.yml").read_text())
    firewall = yaml.safe_load((ROOT / "roles/pacs_firewall/defaults/main.yml").read_text())
    assert DEFAULTS["orthanc_http_port"] == orthanc["orthanc_http_port"]
    assert DEFAULTS["orthanc_dicom_aet"] == orthanc["orthanc_dicom_aet"]
    assert DEFAULTS["pacs_firewall_ssh_port"] == firewall["pacs_firewall_ssh_port"]
    assert not any(isinstance(v, str) and "{{" in v for v in DEFAULTS.values()), "templates are not defaults"


def test_setting_prefers_the_inventory_then_the_role_default():
    assert pacs_setting({"orthanc_http_port": 8080}, "orthanc_http_port") == 8080
    assert pacs_setting({}, "orthanc_http_port") == DEFAULTS["orthanc_http_port"]
    assert pacs_setting({"orthanc_http_port": None}, "orthanc_http_port") == DEFAULTS["orthanc_http_port"]
    assert pacs_setting({}, "no_such_variable") is None


@pytest.mark.parametrize(("hostvars", "expected"), [
    ({"orthanc_address": "10.0.0.5", "ansible_host": "pacs1", "inventory_hostname": "p"}, "10.0.0.5"),
    ({"orthanc_address": "", "ansible_host": "pacs1.example.org", "inventory_hostname": "p"}, "pacs1.example.org"),
    ({"inventory_hostname": "pacs2"}, "pacs2"),
    # ssh: ansible_host is what the controller reaches, so is the probe
    ({"ansible_host": "192.0.2.7", "ansible_connection": "ssh",
      "ansible_facts": {"default_ipv4": {"address": "172.17.0.9"}}, "inventory_hostname": "p"}, "192.0.2.7"),
    # docker: the container name does not resolve on the controller; the facts' address does
    ({"ansible_host": "pp-pacs", "ansible_connection": DOCKER,
      "ansible_facts": {"default_ipv4": {"address": "172.28.20.12"}}, "inventory_hostname": "p"}, "172.28.20.12"),
    ({"ansible_connection": "docker", "ansible_default_ipv4": {"address": "172.17.0.3"},
      "inventory_hostname": "p"}, "172.17.0.3"),
    # docker without facts: the best that is known (the smoke gathers them first)
    ({"ansible_host": "pp-pacs", "ansible_connection": DOCKER, "inventory_hostname": "p"}, "pp-pacs"),
    # an explicit address always wins
    ({"orthanc_address": " 10.9.9.9 ", "ansible_connection": DOCKER,
      "ansible_facts": {"default_ipv4": {"address": "172.28.20.12"}}}, "10.9.9.9"),
])
def test_address(hostvars, expected):
    assert pacs_orthanc_address(hostvars) == expected


def test_facts_are_needed_only_for_docker_without_an_address_or_facts():
    assert pacs_address_needs_facts({"ansible_connection": DOCKER, "ansible_host": "pp-pacs"})
    assert not pacs_address_needs_facts({"ansible_connection": DOCKER, "orthanc_address": "10.0.0.1"})
    assert not pacs_address_needs_facts({"ansible_connection": DOCKER,
                                         "ansible_facts": {"default_ipv4": {"address": "172.17.0.2"}}})
    assert not pacs_address_needs_facts({"ansible_connection": "ssh", "ansible_host": "pacs1"})
    assert not pacs_address_needs_facts({})


def test_names_cover_address_ansible_host_and_inventory_name():
    names = pacs_orthanc_names({"orthanc_address": "10.0.0.5", "ansible_host": "PACS1.example.org."}, "pacs1")
    assert names == {"10.0.0.5", "pacs1.example.org", "pacs1"}


def test_dependent_modalities_are_the_receivers_allowed_everything():
    servers = [{"name": "XNAT_A", "url": "https://xnat", "receiver": {"aet": "XNAT_A", "host": "x", "port": 8104}},
               {"name": "broken"}, "not a mapping"]
    assert pacs_dependent_modalities(servers) == [
        {"name": "XNAT_A", "aet": "XNAT_A", "host": "x", "port": 8104,
         "allow_echo": True, "allow_find": True, "allow_move": True, "allow_store": True}]
    assert pacs_dependent_modalities(None) == []


def test_a_modality_at_another_nodes_orthanc_address_and_port_is_refused():
    """The drift that pacs_address hid: the cross-host rules know a node by its orthanc_address."""
    hosts = {
        "pacs-a": {"orthanc_dicom_aet": "PACS_A", "ansible_host": "a.mgmt.example.org", "orthanc_address": "10.0.0.1",
                   "orthanc_modalities": [{"name": "CT", "aet": "CT1", "host": "10.0.0.2", "port": 4242}]},
        "pacs-b": {"orthanc_dicom_aet": "PACS_B", "ansible_host": "b.mgmt.example.org", "orthanc_address": "10.0.0.2"},
    }
    errors = pacs_inventory_errors(hosts)
    assert any(e.startswith("pacs-a orthanc_modalities[CT].host: 10.0.0.2:4242 is the DICOM port of Orthanc host pacs-b")
               for e in errors), errors
    hosts["pacs-a"]["orthanc_modalities"][0]["port"] = 104  # another port on that machine: a different node
    assert pacs_inventory_errors(hosts) == []


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {"pacs_host_model", "pacs_model_address", "pacs_model_needs_facts",
                                             "pacs_orthanc_address", "pacs_dependent_modalities"}


# --- the host's model, built once per run (filter pacs_host_model) ---------------------------

def test_the_model_fills_every_role_s_defaults_and_keeps_what_the_host_sets():
    from pacs_model import ALL_ROLES, NAMES, _spec, pacs_host_model  # noqa: PLC0415
    model = pacs_host_model({"inventory_hostname": "pacs1", "orthanc_http_port": 8080})
    assert model["given"] == {"inventory_hostname": "pacs1", "orthanc_http_port": 8080}
    assert model["settings"]["orthanc_http_port"] == 8080
    assert model["settings"]["orthanc_dicom_port"] == DEFAULTS["orthanc_dicom_port"]
    assert model["settings"]["pacs_https_upstreams"] == [{"host": "127.0.0.1", "port": 8080}]
    # every public variable of every role is in it
    assert all(name in model["settings"] for role in ALL_ROLES for name in _spec(role))
    assert set(NAMES) == set(model["settings"])


def test_the_model_s_modalities_hold_the_xnat_receivers_and_the_spec_s_item_defaults():
    from pacs_model import MODALITY_DEFAULTS, pacs_host_model  # noqa: PLC0415
    spec = yaml.safe_load((ROOT / "roles" / "orthanc" / "meta" / "argument_specs.yml").read_text())
    options = spec["argument_specs"]["main"]["options"]["orthanc_modalities"]["options"]
    assert MODALITY_DEFAULTS == {k: v["default"] for k, v in options.items() if "default" in v}
    model = pacs_host_model({
        "inventory_hostname": "pacs1",
        "orthanc_modalities": [{"name": "CT1", "aet": "CT1", "host": "10.0.0.7", "port": 104, "allow_find": True}],
        "xnat_dqr_servers": [{"name": "XNAT", "receiver": {"aet": "XNAT_R", "host": "10.0.0.8", "port": 8104}}]})
    ct, xnat = model["modalities"]
    assert ct == dict(MODALITY_DEFAULTS, name="CT1", aet="CT1", host="10.0.0.7", port=104, allow_find=True)
    assert (xnat["name"], xnat["aet"], xnat["allow_move"], xnat["manufacturer"]) == ("XNAT", "XNAT_R", True, "Generic")


def test_a_default_changed_in_the_spec_reaches_the_rendered_modality_and_the_smoke_plan(monkeypatch):
    """The item defaults live in the orthanc role's argument spec only: orthanc.json and the smoke plan
    both take them from there."""
    from orthanc import orthanc_modalities  # noqa: PLC0415
    from pacs_smoke import pacs_smoke_plan  # noqa: PLC0415
    monkeypatch.setitem(pacs_model.MODALITY_DEFAULTS, "allow_find", True)
    item = {"name": "CT1", "aet": "CT1", "host": "10.0.0.7", "port": 104}
    assert orthanc_modalities([item])["CT1"]["AllowFind"] is True
    plan = pacs_smoke_plan({"host": "10.0.0.5", "dicom_aet": "PACS", "dicom_port": 4242, "modalities": [item]})
    assert [c["link"] for c in plan["find_in"]] == ["CT1"]


def test_the_model_s_address_waits_for_a_docker_host_s_facts():
    from pacs_model import pacs_host_model, pacs_model_address, pacs_model_needs_facts  # noqa: PLC0415
    model = pacs_host_model({"inventory_hostname": "pp-x", "ansible_host": "pp-x", "ansible_connection": "docker"})
    assert model["address_needs_facts"] is True and pacs_model_needs_facts(model, {}) is True
    assert pacs_model_address(model, {}) == "pp-x"
    facts = {"default_ipv4": {"address": "172.28.20.12"}}
    assert pacs_model_address(model, facts) == "172.28.20.12" and pacs_model_needs_facts(model, facts) is False
    explicit = pacs_host_model({"inventory_hostname": "pp-x", "ansible_connection": "docker", "orthanc_address": "10.1.1.1"})
    assert pacs_model_address(explicit, facts) == "10.1.1.1" and not pacs_model_needs_facts(explicit, {})


def test_the_preflight_play_and_validate_judge_the_same_model():
    from pacs_model import pacs_host_model  # noqa: PLC0415
    from pacs_preflight import pacs_model_errors, pacs_preflight_errors  # noqa: PLC0415
    host = {"inventory_hostname": "pacs1", "orthanc_dicom_aet": "A" * 20, "orthanc_dicom_port": 0}
    assert pacs_model_errors(pacs_host_model(host)) == pacs_preflight_errors(host)
    assert pacs_preflight_errors(host), "a 20-character AE title and port 0 are problems"
