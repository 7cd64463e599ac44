"""Unit tests of the pacs_smoke role's filters (filter_plugins/pacs_smoke.py)."""

import importlib.util
import os
import pathlib

import pytest
import yaml
from ansible.errors import AnsibleFilterError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC = importlib.util.spec_from_file_location(
    "pacs_smoke_filters", os.path.join(ROOT, "filter_plugins/pacs_smoke.py"))
MOD = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(MOD)
FILTERS = MOD.FilterModule().filters()
plan = FILTERS["pacs_smoke_plan"]

BASE = {"host": "192.0.2.1", "dicom_aet": "GH_PACS", "dicom_port": 4242,
        "always_allow_echo": False, "check_called_aet": True,
        "modalities": [{"name": "CT_ROOM1", "aet": "CT1", "host": "ct", "port": 104},
                       {"name": "WS", "aet": "WS1", "host": "ws", "port": 104, "allow_find": True},
                       {"name": "OLD", "aet": "OLD", "host": "old", "port": 104, "expected_offline": True,
                        "allow_echo": False}],
        "dicomweb_servers": [{"name": "r", "url": "https://x/", "password": "secret", "smoke_stow": True},
                             {"name": "s", "url": "https://y/"}]}


def test_plan_inbound_outbound_and_refusals():
    p = plan(dict(BASE))
    echo = {(c["link"], c["check"]): c for c in p["echo_in"]}
    assert echo[("CT_ROOM1", "echo_in")]["calling_aet"] == "CT1"
    assert echo[("CT_ROOM1", "echo_in")]["called_aet"] == "GH_PACS"
    assert echo[("PP_SMOKE_UNKNOWN", "echo_in_refused")]["expect"] == "reject"
    wrong = echo[("called AE PP_SMOKE_WRONG", "echo_in_refused")]
    assert (wrong["calling_aet"], wrong["called_aet"], wrong["expect"]) == ("CT1", "PP_SMOKE_WRONG", "reject")
    assert ("OLD", "echo_in") not in echo
    assert [s["link"] for s in p["skipped"]] == ["OLD"]
    assert [c["link"] for c in p["find_in"]] == ["WS"]
    assert [(c["modality"], c["expected_offline"]) for c in p["echo_out"]] == [
        ("CT_ROOM1", False), ("WS", False), ("OLD", True)]
    assert p["remote_servers"] == [{"name": "r", "smoke_stow": True}, {"name": "s", "smoke_stow": False}]
    assert "secret" not in repr(p)


def test_plan_always_allow_echo_skips_unknown_ae_check():
    p = plan(dict(BASE, always_allow_echo=True, check_called_aet=False))
    assert not [c for c in p["echo_in"] if c["check"] == "echo_in_refused"]
    assert ("OLD", "echo_in") in {(c["link"], c["check"]) for c in p["echo_in"]}
    assert {"link": "PP_SMOKE_UNKNOWN", "check": "echo_in_refused"}.items() <= p["skipped"][0].items()


def test_plan_check_modality_host_skips_inbound_per_modality():
    p = plan(dict(BASE, check_modality_host=True))
    assert [c["link"] for c in p["echo_in"]] == ["PP_SMOKE_UNKNOWN", "called AE PP_SMOKE_WRONG"]
    assert not p["find_in"]
    assert len(p["echo_out"]) == 3


@pytest.mark.parametrize("bad, message", [
    ("nope", "expected dict"),
    ({"host": "h", "dicom_aet": "A"}, "missing key 'dicom_port'"),
    (dict(BASE, modalities={"CT": {}}), "modalities: expected list"),
    (dict(BASE, modalities=[{"name": "X"}]), "modalities[0]: needs name and aet"),
    (dict(BASE, always_allow_echo="maybe"), "always_allow_echo: expected a boolean"),
    (dict(BASE, dicomweb_servers=[{"url": "u"}]), "dicomweb_servers[0]: needs a name"),
])
def test_plan_errors_name_the_bad_value(bad, message):
    with pytest.raises(AnsibleFilterError, match=r".*" + message.replace("[", r"\[").replace("]", r"\]")):
        plan(bad)


RESULTS = [
    {"link": "CT", "check": "echo_out", "status": "fail", "error": "refused", "duration": 0.1},
    {"link": "CT", "check": "echo_in", "status": "pass", "error": "", "duration": 0.05},
    {"link": "MR", "check": "echo_out", "status": "skipped", "error": "offline", "duration": 0},
    {"link": "DICOMweb", "check": "stow", "status": "fail", "error": "HTTP 401", "duration": 0},
]


def test_matrix_orders_checks_and_counts():
    m = FILTERS["pacs_smoke_matrix"](RESULTS)
    assert m["links"] == ["CT", "MR", "DICOMweb"]
    assert m["checks"] == ["echo_in", "echo_out", "stow"]
    assert m["cells"]["CT"]["echo_out"]["status"] == "fail"
    assert "stow" not in m["cells"]["CT"]
    assert m["counts"] == {"fail": 2, "warn": 0, "skipped": 1, "pass": 1}


def test_failures_lists_every_failed_check():
    assert FILTERS["pacs_smoke_failures"](RESULTS) == ["CT echo_out: refused", "DICOMweb stow: HTTP 401"]


def test_table_has_a_row_per_result():
    lines = FILTERS["pacs_smoke_table"](RESULTS)
    assert lines[0].split()[:3] == ["LINK", "CHECK", "STATUS"]
    assert len(lines) == 5
    assert any("FAIL" in line and "HTTP 401" in line for line in lines)


def test_result_filters_reject_bad_input():
    with pytest.raises(AnsibleFilterError, match="missing 'status'"):
        FILTERS["pacs_smoke_failures"]([{"link": "a", "check": "b"}])
    with pytest.raises(AnsibleFilterError, match="expected list"):
        FILTERS["pacs_smoke_matrix"]("x")


# ---------------------------------------------------------------- a dropped probe explained (issue 16)
explain = FILTERS["pacs_smoke_explain"]
unanswered = FILTERS["pacs_smoke_unanswered"]
SETS = {"dicom": {"ipv4": ["10.20.0.11", "10.20.5.0/24"], "ipv6": []},
        "http": {"ipv4": ["10.20.9.0/24"], "ipv6": ["2001:db8::/32"]},
        "ssh": {"ipv4": [], "ipv6": []}}
TIMED_OUT = [
    {"link": "CT_ROOM1", "check": "echo_in", "status": "fail", "error": "no answer from 10.20.0.10:4242 within 3.0s"},
    {"link": "DICOMweb", "check": "http_auth", "status": "fail",
     "error": "ConnectTimeout: HTTPConnectionPool(host='10.20.0.10', port=8042)"},
    {"link": "WS", "check": "echo_in", "status": "fail", "error": "association rejected"},
    {"link": "CT_ROOM1", "check": "echo_out", "status": "fail", "error": "no answer from CT1"},
    {"link": "WS", "check": "find_in", "status": "pass"},
]


def test_only_inbound_checks_without_an_answer_are_explained():
    assert [(r["link"], r["check"]) for r in unanswered(TIMED_OUT)] == [("CT_ROOM1", "echo_in"), ("DICOMweb", "http_auth")]
    out = explain(TIMED_OUT, probe="10.0.0.5", sources=SETS)
    assert out[2:] == TIMED_OUT[2:]  # a refusal, an outbound check and a pass are left as they are


def test_a_probe_outside_the_sets_names_the_variable_that_lets_it_in():
    out = explain(TIMED_OUT, probe="10.0.0.5", sources=SETS)
    assert out[0]["error"] == ("no answer from 10.20.0.10:4242 within 3.0s (the host firewall drops it: the probe's "
                               "address 10.0.0.5 is not among the DICOM sources; add it to pacs_firewall_dicom_cidrs)")
    assert "10.0.0.5 is not among the HTTP sources; add it to pacs_firewall_http_cidrs or " \
           "pacs_firewall_admin_cidrs" in out[1]["error"]


def test_a_probe_inside_the_sets_points_elsewhere():
    out = explain(TIMED_OUT, probe="10.20.5.7", sources=SETS)
    assert "lets 10.20.5.7 through to the DICOM port: look at Orthanc itself" in out[0]["error"]
    assert "not among the HTTP sources" in out[1]["error"]
    assert "lets 2001:db8::5 through to the HTTP port" in explain(TIMED_OUT, probe="2001:db8::5", sources=SETS)[1]["error"]


def test_without_the_firewall_fact_the_hint_is_conditional():
    out = explain(TIMED_OUT, probe="10.0.0.5")
    assert out[0]["error"].endswith("(if the host firewall is on, the probe's address 10.0.0.5 must be in "
                                    "pacs_firewall_dicom_cidrs (or pacs_firewall_admin_cidrs for HTTP))")


# --- pacs_smoke_phases: the phases of the one probe task that the run's tags select ---------

ROLE_VARS = yaml.safe_load((pathlib.Path(ROOT) / "roles/pacs_smoke/vars/main.yml").read_text())
PHASES = ("preflight", "inbound", "outbound", "dicomweb", "tls", "xnat", "report")


@pytest.fixture(scope="module")
def ansible_selects():
    """For each phase, Ansible's own decision (Taggable.evaluate_tags) on a task of its own
    tagged pacs_smoke_<phase> in a play tagged smoke, as the phases were before they shared
    one task."""
    # pylint: disable=import-outside-toplevel
    from ansible.parsing.dataloader import DataLoader
    from ansible.playbook.play import Play
    from ansible.plugins.loader import init_plugin_loader
    from ansible.vars.manager import VariableManager

    init_plugin_loader()
    loader = DataLoader()
    play = Play.load({"hosts": "localhost", "gather_facts": False, "tags": ["smoke"], "tasks": [
        {"name": phase, "ansible.builtin.debug": {}, "tags": ["pacs_smoke_" + phase]} for phase in PHASES]},
        loader=loader, variable_manager=VariableManager(loader=loader))
    tasks = {t.name: t for block in play.compile() for t in block.block if t.name}
    return lambda phase, only, skip: tasks[phase].evaluate_tags(only, skip, {})


TAG_RUNS = [(["all"], []), (["smoke"], []), (["pacs_smoke_inbound"], []), (["pacs_smoke_dicomweb"], []),
            (["pacs_smoke_preflight"], []), (["all"], ["pacs_smoke_preflight"]), (["pacs_smoke_outbound"], []),
            (["pacs_smoke_inbound", "pacs_smoke_dicomweb"], []), (["pacs_smoke_report"], []), (["orthanc"], []),
            (["tagged"], []), (["untagged"], []), (["all"], ["pacs_smoke_dicomweb"]), (["all"], ["pacs_smoke_inbound"]),
            (["all"], ["smoke"]), (["smoke"], ["pacs_smoke_inbound"]), (["all"], ["tagged"]), (["all"], ["all"]),
            (["pacs_smoke_inbound"], ["pacs_smoke_inbound"]), ([], [])]


@pytest.mark.parametrize("only,skip", TAG_RUNS)
def test_phases_are_selected_as_ansible_selects_tasks_with_their_tags(ansible_selects, only, skip):
    phase_tags = ROLE_VARS["__pacs_smoke_phase_tags"]
    assert list(phase_tags) == list(PHASES)
    expected = [phase for phase in phase_tags if ansible_selects(phase, only, skip)]
    assert FILTERS["pacs_smoke_phases"](phase_tags, only, skip) == expected


def test_phases_named_in_the_run_tags_alone():
    phases = FILTERS["pacs_smoke_phases"]
    tags = {"inbound": ["smoke", "pacs_smoke_inbound"], "dicomweb": ["smoke", "pacs_smoke_dicomweb"]}
    assert phases(tags, ["pacs_smoke_inbound"], []) == ["inbound"]
    assert phases(tags, ["all"], ["pacs_smoke_dicomweb"]) == ["inbound"]
    assert phases(tags, ["orthanc_configure"], []) == []
    assert phases(tags, None, None) == ["inbound", "dicomweb"]
    with pytest.raises(AnsibleFilterError, match="expected a dict"):
        phases(["inbound"], ["all"], [])


GOOD_SETTINGS = {"dicom_aet": "GH_PACS", "dicom_port": "4242", "http_port": 8042, "username": "smoke",
                 "timeout": "3", "tls_expiry_fail_days": 7, "tls_expiry_warn_days": "30"}


def test_setting_problems_accepts_templated_numbers_and_checks_only_given_keys():
    assert MOD.setting_problems(GOOD_SETTINGS) == []
    assert MOD.setting_problems({}) == []
    assert MOD.setting_problems({"tls_expiry_warn_days": 7, "tls_expiry_fail_days": 7}) == []


@pytest.mark.parametrize("key, value, variable", [
    ("dicom_aet", "", "orthanc_dicom_aet is empty"),
    ("dicom_aet", "  ", "orthanc_dicom_aet is empty"),
    ("username", None, "pacs_smoke_username is empty"),
    ("dicom_port", 0, "orthanc_dicom_port must be more than 0, got 0"),
    ("http_port", "http", "orthanc_http_port must be more than 0, got 'http'"),
    ("timeout", "0", "pacs_smoke_timeout must be more than 0, got '0'"),
    ("timeout", -1.5, "pacs_smoke_timeout must be more than 0"),
    ("tls_expiry_fail_days", -1, "pacs_smoke_tls_expiry_fail_days must be 0 or more, got -1"),
    ("tls_expiry_warn_days", 3, "pacs_smoke_tls_expiry_warn_days must not be below pacs_smoke_tls_expiry_fail_days (7), got 3"),
])
def test_setting_problems_name_the_variable(key, value, variable):
    problems = MOD.setting_problems(dict(GOOD_SETTINGS, **{key: value}))
    assert len(problems) == 1 and problems[0].startswith(variable), problems


def test_plan_refuses_bad_settings_naming_every_variable_at_once():
    with pytest.raises(AnsibleFilterError) as error:
        plan(dict(BASE, dicom_aet="", timeout=0, username=""))
    message = str(error.value)
    assert message.startswith("pacs_smoke: ")
    for variable in ("orthanc_dicom_aet", "pacs_smoke_timeout", "pacs_smoke_username"):
        assert variable in message


def test_remote_servers_keep_name_and_smoke_stow_only():
    kept = FILTERS["pacs_smoke_remote_servers"](BASE["dicomweb_servers"])
    assert kept == [{"name": "r", "smoke_stow": True}, {"name": "s", "smoke_stow": False}]
    assert FILTERS["pacs_smoke_remote_servers"](kept) == kept  # the plan takes either shape
    assert FILTERS["pacs_smoke_remote_servers"](None) == []
    with pytest.raises(AnsibleFilterError, match=r"orthanc_dicomweb_servers\[0\]: expected a dict, got str"):
        FILTERS["pacs_smoke_remote_servers"](["https://user:secret@x/"])
    with pytest.raises(AnsibleFilterError, match=r"orthanc_dicomweb_servers\[1\]: needs a name"):
        FILTERS["pacs_smoke_remote_servers"]([{"name": "a"}, {"url": "u", "password": "secret"}])
