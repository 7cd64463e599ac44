"""A schedule change in the inventory, then a rerun (issue 15): XNAT_TEACH ends with exactly
the wanted windows on its own PACS and no orphan window, the rerun after it changes nothing,
and going back to the inventory's schedule restores it."""

import copy

import pytest
import yaml
from conftest import SCENARIO, recap, run_site
from test_10_xnat import assert_registered_once, window_set, xnat_dqr_windows

CHANGED = [  # threads changed, the evening window gone, a new Sunday morning window
    {"days": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"], "start": "00:00", "end": "07:00",
     "threads": 3, "utilization": 50},
    {"days": ["SATURDAY"], "start": "00:00", "end": "24:00", "threads": 4, "utilization": 100},
    {"days": ["SUNDAY"], "start": "06:00", "end": "12:00", "threads": 1, "utilization": 20},
]


def stored_windows(xnat, inv):
    entry = assert_registered_once(xnat, inv)
    return entry["id"], [w for day in xnat.get("/xapi/pacs/%d/availability" % entry["id"]).values() for w in day]


@pytest.fixture(scope="module")
def changed_vars(tmp_path_factory):
    """The scenario's xnat_dqr_servers as written (vault references kept), XNAT_TEACH's schedule changed."""
    raw = yaml.safe_load((SCENARIO / "group_vars" / "orthanc" / "main.yml").read_text())
    servers = copy.deepcopy(raw["xnat_dqr_servers"])
    next(s for s in servers if s["name"] == "XNAT_TEACH")["schedule"] = CHANGED
    path = tmp_path_factory.mktemp("schedule") / "changed.yml"
    path.write_text(yaml.safe_dump({"xnat_dqr_servers": servers}))
    return path


def test_changed_schedule_lands_on_the_right_pacs_without_orphans(xnats, inv, changed_vars):
    xnat = xnats["XNAT_TEACH"]
    code, output = run_site("--tags", "xnat_dqr", "-e", "@%s" % changed_vars)
    assert code == 0, output
    pacs_id, stored = stored_windows(xnat, inv)
    assert window_set(stored) == window_set(xnat_dqr_windows(CHANGED))
    every = xnat.test_call("GET", "/test/windows")
    assert [w for w in every if w["pacsId"] != pacs_id] == [], "windows left on no PACS or another one"
    assert len(every) == len(stored)


def test_rerun_of_the_change_changes_nothing(xnats, changed_vars):
    writes = xnats["XNAT_TEACH"].writes()
    code, output = run_site("--tags", "xnat_dqr", "-e", "@%s" % changed_vars)
    assert code == 0, output
    assert recap(output)["changed"] == 0, output
    assert xnats["XNAT_TEACH"].writes() == writes


def test_the_inventory_schedule_comes_back(xnats, inv):
    xnat = xnats["XNAT_TEACH"]
    code, output = run_site("--tags", "xnat_dqr")
    assert code == 0, output
    _pacs_id, stored = stored_windows(xnat, inv)
    assert window_set(stored) == window_set(xnat_dqr_windows(xnat.item["schedule"]))
    assert len(xnat.test_call("GET", "/test/windows")) == len(stored)
