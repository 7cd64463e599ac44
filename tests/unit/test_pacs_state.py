"""Role pacs_state: the module that records what a complete run left on a host and compares the
host with it (roles/pacs_state/library/pacs_state.py), and the fingerprint of a run's inputs
(filter_plugins/pacs_state.py). The module runs as Ansible runs it, on files in a temp dir,
with real commands."""

import importlib.util
import json
import os
import pathlib
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st
from module_run import run_module_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODULE = ROOT / "roles" / "pacs_state" / "library" / "pacs_state.py"
_SPEC = importlib.util.spec_from_file_location("pacs_state_module", MODULE)
STATE = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(STATE)
sys.path.insert(0, str(ROOT / "filter_plugins"))
import pacs_state as FILTER  # noqa: E402  # pylint: disable=wrong-import-position


def _tree(tmp_path):
    conf = tmp_path / "etc"
    (conf / "lua").mkdir(parents=True)
    (conf / "orthanc.json").write_text('{"Name": "PACS"}', encoding="utf-8")
    (conf / "lua" / "hook.lua").write_text("-- hook", encoding="utf-8")
    os.chmod(conf / "orthanc.json", 0o640)
    return conf


def _record(tmp_path, conf, fingerprint="f1", commands=None):
    record = tmp_path / "state" / "state.json"
    answer = run_module_file(MODULE, {"action": "record", "path": str(record), "fingerprint": fingerprint,
                                      "paths": [str(conf)], "commands": commands or [["echo", "active"]]})
    return record, answer


def _probe(record, fingerprint="f1", check=False, forget=True):
    return run_module_file(MODULE, {"path": str(record), "fingerprint": fingerprint, "forget": forget},
                           check=check)


def test_record_then_probe_is_unchanged_and_the_record_is_root_only(tmp_path):
    conf = _tree(tmp_path)
    record, answer = _record(tmp_path, conf)
    assert answer["changed"] is True
    assert oct(record.stat().st_mode & 0o777) == "0o600"
    assert _probe(record) == dict(_probe(record), unchanged=True, reasons=[], changed=False)
    # The same record again is no change: a complete run after a complete run reports none.
    assert _record(tmp_path, conf)[1]["changed"] is False


@pytest.mark.parametrize("drift, expected", [
    (lambda conf: (conf / "orthanc.json").write_text('{"Name": "X"}', encoding="utf-8"), "orthanc.json"),
    (lambda conf: os.chmod(conf / "orthanc.json", 0o644), "orthanc.json: file 640"),
    (lambda conf: (conf / "lua" / "hook.lua").unlink(), "hook.lua: file"),
    (lambda conf: (conf / "lua" / "extra.lua").write_text("x", encoding="utf-8"), "extra.lua: not recorded"),
])
def test_a_file_changed_by_hand_is_named_and_the_record_goes(tmp_path, drift, expected):
    conf = _tree(tmp_path)
    record, _ = _record(tmp_path, conf)
    drift(conf)
    answer = _probe(record)
    assert answer["unchanged"] is False and answer["forgotten"] is True
    assert any(expected in line for line in answer["reasons"]), answer["reasons"]
    assert not record.exists()


def test_a_command_whose_output_changed_is_a_difference(tmp_path):
    conf = _tree(tmp_path)
    flag = tmp_path / "flag"
    flag.write_text("active\n", encoding="utf-8")
    record, _ = _record(tmp_path, conf, commands=[["cat", str(flag)], ["no-such-program-here"]])
    assert _probe(record)["unchanged"] is True
    flag.write_text("inactive\n", encoding="utf-8")
    reasons = _probe(record)["reasons"]
    assert reasons == [line for line in reasons if line.startswith("command cat ")] and len(reasons) == 1


def test_other_inputs_are_a_difference_and_check_mode_keeps_the_record(tmp_path):
    conf = _tree(tmp_path)
    record, _ = _record(tmp_path, conf)
    answer = _probe(record, fingerprint="f2", check=True)
    assert answer["unchanged"] is False and "inputs changed" in answer["reasons"][0]
    assert record.exists()
    assert _probe(record, fingerprint="f2", forget=False)["forgotten"] is False and record.exists()
    assert _probe(record, fingerprint="f2")["forgotten"] is True and not record.exists()


def test_no_record_and_no_fingerprint_are_never_unchanged(tmp_path):
    assert _probe(tmp_path / "none.json")["reasons"] == ["no record of a complete run of site.yml"]
    conf = _tree(tmp_path)
    record, _ = _record(tmp_path, conf)
    assert "no fingerprint" in _probe(record, fingerprint="")["reasons"][0]
    answer = run_module_file(MODULE, {"action": "record", "path": str(record), "fingerprint": ""})
    assert answer["failed"] is True


def test_a_run_from_another_address_is_a_difference():
    recorded = {"paths": {}, "commands": {}, "session": "10.0.0.5"}
    assert STATE.differences(recorded, dict(recorded)) == []
    assert "another address" in STATE.differences(recorded, dict(recorded, session="10.0.0.6"))[0]


def test_the_ssh_client_address_is_found_in_a_parent_process():
    table = {30: ({"SUDO_USER": "deploy"}, 20), 20: ({}, 10), 10: ({"SSH_CLIENT": "172.28.50.1 40000 22"}, 1)}
    assert STATE.ssh_client_address(30, table.__getitem__) == "172.28.50.1"
    assert STATE.ssh_client_address(20, {20: ({}, 1)}.__getitem__) == ""


@given(st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=5),
       st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=5))
def test_differences_name_every_key_that_differs(before, now):
    lines = STATE.differences({"paths": before, "commands": {}}, {"paths": now, "commands": {}})
    differing = {k for k in set(before) | set(now) if before.get(k) != now.get(k)}
    assert len(lines) == len(differing)


def _hostvars(**hosts):
    return {name: dict(values, inventory_hostname=name) for name, values in hosts.items()}


def test_the_inventory_digest_follows_every_host_and_the_groups():
    hostvars = _hostvars(pacs1={"orthanc_dicom_aet": "A"}, pacs2={"orthanc_dicom_aet": "B"})
    groups = {"all": ["pacs1", "pacs2"], "orthanc": ["pacs1", "pacs2"]}
    digest = FILTER.pacs_state_inventory_digest(hostvars, groups)
    assert digest == FILTER.pacs_state_inventory_digest(json.loads(json.dumps(hostvars)), dict(groups))
    # Another host's setting (the firewall reads front doors and peers): another digest.
    other = _hostvars(pacs1={"orthanc_dicom_aet": "A"}, pacs2={"orthanc_dicom_aet": "C"})
    assert FILTER.pacs_state_inventory_digest(other, groups) != digest
    # Group membership, and variables outside every role's contract are not inputs.
    assert FILTER.pacs_state_inventory_digest(hostvars, dict(groups, orthanc=["pacs1"])) != digest
    noise = _hostvars(pacs1={"orthanc_dicom_aet": "A", "unrelated": 1}, pacs2={"orthanc_dicom_aet": "B"})
    assert FILTER.pacs_state_inventory_digest(noise, groups) == digest


def test_a_variable_whose_template_fails_gives_no_digest():
    class Failing(dict):
        def __getitem__(self, key):
            if key == "orthanc_users":
                raise ValueError("'vault_admin_password' is undefined")
            return dict.__getitem__(self, key)

    hostvars = {"pacs1": Failing(inventory_hostname="pacs1", orthanc_users=[])}
    assert FILTER.pacs_state_inventory_digest(hostvars, {"all": ["pacs1"]}) is None
    assert FILTER.pacs_state_fingerprint(None, "pacs1") is None


def test_the_fingerprint_follows_host_resolution_code_and_version(tmp_path):
    base = FILTER.pacs_state_fingerprint("d", "pacs1", {"addresses": {"ct": ["10.0.0.1"]}}, code="c", version="2.19")
    assert base == FILTER.pacs_state_fingerprint("d", "pacs1", {"addresses": {"ct": ["10.0.0.1"]}}, code="c",
                                                 version="2.19")
    for changed in (("d2", "pacs1", {"addresses": {"ct": ["10.0.0.1"]}}, "c", "2.19"),
                    ("d", "pacs2", {"addresses": {"ct": ["10.0.0.1"]}}, "c", "2.19"),
                    ("d", "pacs1", {"addresses": {"ct": ["10.0.0.2"]}}, "c", "2.19"),
                    ("d", "pacs1", {"addresses": {"ct": ["10.0.0.1"]}}, "c2", "2.19"),
                    ("d", "pacs1", {"addresses": {"ct": ["10.0.0.1"]}}, "c", "2.20")):
        digest, host, resolution, code, version = changed
        assert FILTER.pacs_state_fingerprint(digest, host, resolution, code=code, version=version) != base


def test_the_code_digest_covers_roles_and_playbooks_but_not_reports(tmp_path):
    for path in ("roles/r/tasks/main.yml", "playbooks/p.yml", "playbooks/reports/x/report.html", "site.yml",
                 "ansible.cfg", "filter_plugins/f.py", "filter_plugins/__pycache__/f.pyc", "templates/t.j2",
                 "library/m.py", "playbooks/tasks/t.yml", "playbooks/reports/x/y.yml"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(path, encoding="utf-8")
    names = {str(p.relative_to(tmp_path)) for p in FILTER.code_files(tmp_path)}
    assert names == {"roles/r/tasks/main.yml", "playbooks/p.yml", "site.yml", "ansible.cfg", "filter_plugins/f.py",
                     "templates/t.j2", "library/m.py", "playbooks/tasks/t.yml"}
    before = FILTER.code_digest(str(tmp_path))
    FILTER.code_digest.cache_clear()
    (tmp_path / "roles/r/tasks/main.yml").write_text("changed", encoding="utf-8")
    assert FILTER.code_digest(str(tmp_path)) != before
