"""The XNAT side after converge and idempotence, and the Orthanc side of the DQR links.

Issue 4: each XNAT holds exactly one PACS entry for this Orthanc and one DQR receiver,
also after a third run; availability windows and DQR settings as in the inventory.
"""

import importlib.util

import pytest
from conftest import PACS_IP, PROJECT, recap, run_site

spec = importlib.util.spec_from_file_location("xnat_dqr_filters", PROJECT / "filter_plugins" / "xnat_dqr.py")
_filters = importlib.util.module_from_spec(spec)
spec.loader.exec_module(_filters)
xnat_dqr_windows = _filters.FilterModule().filters()["xnat_dqr_windows"]


def window_set(windows):
    return sorted((w["dayOfWeek"], w["availabilityStart"], w["availabilityEnd"], w["threads"],
                   w["utilizationPercent"]) for w in windows)


def assert_registered_once(xnat, inv):
    entries = xnat.pacs_entries(inv["orthanc_dicom_aet"], inv["orthanc_dicom_port"])
    assert len(entries) == 1, entries
    entry = entries[0]
    item = xnat.item
    assert entry["host"] == PACS_IP
    assert entry["label"] == item["pacs_label"]
    assert entry["queryable"] is item["queryable"]
    assert entry["storable"] is item["storable"]
    assert entry["defaultQueryRetrievePacs"] is item["default_query_retrieve"]
    assert entry["ormStrategySpringBeanId"] == "dicomOrmStrategy"
    receivers = xnat.dqr_receivers()
    assert [(r["aeTitle"], r["port"], r["enabled"]) for r in receivers] == \
        [(item["receiver"]["aet"], item["receiver"]["port"], True)], receivers
    return entry


@pytest.mark.parametrize("name", ["XNAT_RESEARCH", "XNAT_TEACH"])
def test_one_pacs_and_one_receiver_per_xnat(name, xnats, inv):
    assert_registered_once(xnats[name], inv)
    # nothing else was registered in this XNAT
    assert len(xnats[name].get("/xapi/pacs")) == 1


@pytest.mark.parametrize("name", ["XNAT_RESEARCH", "XNAT_TEACH"])
def test_availability_windows_as_in_inventory(name, xnats, inv):
    xnat = xnats[name]
    entry = assert_registered_once(xnat, inv)
    stored = [w for day in xnat.get("/xapi/pacs/%d/availability" % entry["id"]).values() for w in day]
    want = xnat_dqr_windows(xnat.item.get("schedule") or [])
    assert window_set(stored) == window_set(want)
    if name == "XNAT_TEACH":  # the schedule, not the default seven full days
        assert len(stored) == 12


@pytest.mark.parametrize("name", ["XNAT_RESEARCH", "XNAT_TEACH"])
def test_dqr_settings_as_in_inventory(name, xnats):
    xnat = xnats[name]
    settings = xnat.get("/xapi/dqr/settings")
    for key, value in xnat.item["dqr_settings"].items():
        want = str(value).lower() if isinstance(value, bool) else str(value)
        have = str(settings[key]).lower() if isinstance(settings[key], bool) else str(settings[key])
        assert have == want, key


def test_third_run_changes_nothing(xnats, inv):
    """converge and idempotence were runs one and two; this is the third."""
    writes_before = {name: x.writes() for name, x in xnats.items()}
    ids_before = {name: assert_registered_once(x, inv)["id"] for name, x in xnats.items()}
    code, output = run_site("--tags", "xnat_dqr")
    assert code == 0, output
    assert recap(output)["changed"] == 0, output
    assert "up to date" in output
    for name, xnat in xnats.items():
        assert xnat.writes() == writes_before[name], name
        assert assert_registered_once(xnat, inv)["id"] == ids_before[name]


def test_orthanc_knows_each_xnat_receiver(orthanc, inv):
    """Orthanc can answer XNAT's C-FIND and C-MOVE to its receiver: a DicomModalities entry
    allowed to echo, find, move and store, at the receiver's host and port."""
    answer = orthanc.get(orthanc.base + "/modalities?expand", timeout=10)
    answer.raise_for_status()
    modalities = answer.json()
    for item in inv["xnat_dqr_servers"]:
        entry = modalities[item["name"]]
        assert (entry["AET"], entry["Host"], entry["Port"]) == \
            (item["receiver"]["aet"], item["receiver"]["host"], item["receiver"]["port"])
        for flag in ("AllowEcho", "AllowFind", "AllowMove", "AllowStore"):
            assert entry[flag] is True, (item["name"], flag)
