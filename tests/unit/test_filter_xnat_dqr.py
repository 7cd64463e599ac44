"""Unit tests of filter_plugins/xnat_dqr.py (fetched through FilterModule)."""

import copy
import importlib.util
import os

import pytest
from ansible.errors import AnsibleFilterError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_SPEC = importlib.util.spec_from_file_location("xnat_dqr_filters", os.path.join(ROOT, "filter_plugins", "xnat_dqr.py"))
_MOD = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_MOD)
FILTERS = _MOD.FilterModule().filters()
errors_of = FILTERS["xnat_dqr_errors"]
windows = FILTERS["xnat_dqr_windows"]

VALID = {
    "name": "XNAT_RESEARCH", "url": "https://xnat.example.org", "username": "admin", "password": "pw",
    "receiver": {"aet": "XNAT_RESEARCH", "host": "xnat.example.org", "port": 8104},
    "pacs_label": "GH_PACS", "pacs_host": "pacs1.example.org", "queryable": True, "storable": True,
    "default_query_retrieve": True, "default_storage": False,
    "schedule": [{"days": ["MONDAY", "TUESDAY"], "start": "19:00", "end": "24:00", "threads": 2, "utilization": 80},
                 {"days": ["MONDAY"], "start": "00:00", "end": "07:00"}],
    "dqr_settings": {"dqrCallingAe": "XNAT_RESEARCH"},
}


def server(**changes):
    item = copy.deepcopy(VALID)
    for key, value in changes.items():
        if value is None:
            item.pop(key, None)
        else:
            item[key] = value
    return item


def errors(*items, aet="GH_PACS"):
    return errors_of(list(items), orthanc_dicom_aet=aet)


def test_filters_registered():
    assert set(FILTERS) == {"xnat_dqr_errors", "xnat_dqr_windows"}


def test_valid_input_has_no_errors():
    second = server(name="XNAT_CLINIC", url="http://xnat2.example.org:8080/xnat",
                    receiver={"aet": "XNAT_CLINIC", "host": "10.0.0.5", "port": 8104}, schedule=None)
    assert errors(server(), second) == []
    assert errors_of([], orthanc_dicom_aet="GH_PACS") == []
    assert errors_of(None) == []


@pytest.mark.parametrize("aet,fragment", [
    ("A" * 17, "must be 1-16 characters"),
    ("", "must be 1-16 characters"),
    ("    ", "must not be only spaces"),
    ("BACK\\SLASH", "must not contain a backslash"),
    ("CAF\u00c9", "DICOM default character repertoire"),
    (" LEAD", "must not start or end with spaces"),
    ("TRAIL ", "must not start or end with spaces"),
    (104, "must be a string, got int"),
])
def test_receiver_ae_title_rules(aet, fragment):
    result = errors(server(receiver={"aet": aet, "host": "x", "port": 8104}))
    assert len(result) == 1
    assert result[0].startswith("xnat_dqr_servers[XNAT_RESEARCH]: receiver.aet ")
    assert fragment in result[0]


def test_receiver_ae_unique_across_xnats_with_explanation():
    second = server(name="XNAT_TWO", url="https://xnat2.example.org")
    result = errors(server(), second)
    assert len(result) == 1
    assert result[0].startswith("xnat_dqr_servers[XNAT_TWO]: receiver.aet 'XNAT_RESEARCH' is also used by "
                                "xnat_dqr_servers[XNAT_RESEARCH]")
    assert "cannot tell two XNATs with the same AE title apart" in result[0]
    assert "C-MOVE" in result[0]


def test_receiver_may_not_be_orthanc_itself():
    result = errors(server(receiver={"aet": "GH_PACS", "host": "x", "port": 1}))
    assert result == ["xnat_dqr_servers[XNAT_RESEARCH]: receiver.aet 'GH_PACS' is the AE title of Orthanc "
                      "itself (orthanc_dicom_aet)"]


def test_orthanc_aet_is_left_to_the_orthanc_filter():
    # Orthanc's own AE title is judged once, by orthanc_config_errors (one problem, one message)
    assert errors(server(), aet="X" * 17) == []


def test_names_unique_and_required():
    twin = server(receiver={"aet": "OTHER", "host": "x", "port": 1}, url="https://b.example.org")
    result = errors(server(), twin)
    assert result == ["xnat_dqr_servers[XNAT_RESEARCH]: name is used twice (also item #0); "
                      "names are Orthanc modality keys"]
    assert errors(server(name=None)) == ["xnat_dqr_servers[#0]: name must be a non-empty string"]


@pytest.mark.parametrize("url", ["xnat.example.org", "ftp://xnat.example.org", "https://", None, 5])
def test_url_must_be_http_with_host(url):
    result = errors(server(url=url))
    assert result == ["xnat_dqr_servers[XNAT_RESEARCH]: url must be an http(s) URL with a host, got %r" % (url,)]


@pytest.mark.parametrize("key", ["username", "password"])
@pytest.mark.parametrize("value", [None, "", 5])
def test_credentials_present(key, value):
    result = errors(server(**{key: value}) if value is not None else server(**{key: None}))
    assert result == ["xnat_dqr_servers[XNAT_RESEARCH]: %s must be a non-empty string "
                      "(passwords come from the vault)" % key]


@pytest.mark.parametrize("port", [0, 65536, "8104", True])
def test_receiver_port_range(port):
    result = errors(server(receiver={"aet": "XR", "host": "x", "port": port}))
    assert result == ["xnat_dqr_servers[XNAT_RESEARCH]: receiver.port must be an integer 1-65535, got %r" % (port,)]


def test_receiver_must_be_mapping():
    result = errors(server(receiver="XR@x:104"))
    assert result == ["xnat_dqr_servers[XNAT_RESEARCH]: receiver must be a mapping with aet, host and port, got str"]


def test_schedule_problems_all_reported():
    schedule = [
        {"days": ["MONDAY", "Montag"], "start": "7:60", "end": "25:00"},
        {"days": ["TUESDAY"], "start": "10:00", "end": "09:00", "threads": -1, "utilization": 101},
        {"days": ["MONDAY"], "start": "19:00", "end": "24:00"},
        {"days": ["MONDAY"], "start": "20:00", "end": "21:00", "typo": 1},
        {"days": [], "start": "00:00", "end": "24:00"},
    ]
    result = errors(server(schedule=schedule))
    prefix = "xnat_dqr_servers[XNAT_RESEARCH]: schedule entry "
    assert result == [
        prefix + "1: invalid day names ['Montag'] (use MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY)",
        prefix + "1: start must be HH:mm between 00:00 and 24:00, got '7:60'",
        prefix + "1: end must be HH:mm between 00:00 and 24:00, got '25:00'",
        prefix + "2: start 10:00 must be before end 09:00",
        prefix + "2: threads must be an integer 0-100, got -1",
        prefix + "2: utilization must be an integer 0-100 (percent), got 101",
        prefix + "4 has unknown keys typo",
        prefix + "4 overlaps schedule entry 3 on MONDAY",
        prefix + "5: days must be a non-empty list of MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY",
    ]


def test_adjacent_windows_do_not_overlap():
    schedule = [{"days": ["MONDAY"], "start": "00:00", "end": "08:00"},
                {"days": ["MONDAY"], "start": "08:00", "end": "24:00"}]
    assert errors(server(schedule=schedule)) == []


def test_default_flags_need_matching_capability():
    result = errors(server(queryable=False, default_query_retrieve=True, storable=None, default_storage=True))
    assert result == [
        "xnat_dqr_servers[XNAT_RESEARCH]: default_query_retrieve is true but queryable is false "
        "(XNAT would force queryable to true)",
        "xnat_dqr_servers[XNAT_RESEARCH]: default_storage is true but storable is not true "
        "(XNAT would force storable to true)",
    ]


def test_bools_settings_and_unknown_keys():
    result = errors(server(queryable="yes", dqr_settings={"dqrCallingAE": "X", "dqrCallingAe": "A\\B"}, extra=1))
    assert result == [
        "xnat_dqr_servers[XNAT_RESEARCH]: queryable must be true or false, got 'yes'",
        "xnat_dqr_servers[XNAT_RESEARCH]: dqr_settings has unknown keys dqrCallingAE (XNAT would silently ignore "
        "them; known: " + ", ".join(_MOD.DQR_SETTINGS) + ")",
        "xnat_dqr_servers[XNAT_RESEARCH]: dqr_settings.dqrCallingAe 'A\\\\B' must not contain a backslash",
        "xnat_dqr_servers[XNAT_RESEARCH]: unknown keys extra",
    ]


def test_same_label_twice_on_one_xnat():
    second = server(name="B", receiver={"aet": "B", "host": "x", "port": 1})
    assert errors(server(), second) == [
        "xnat_dqr_servers[B]: pacs_label 'GH_PACS' is also used by xnat_dqr_servers[XNAT_RESEARCH] for the same "
        "XNAT url (labels are unique in XNAT)"]


def test_all_errors_at_once_and_non_mapping_item():
    result = errors(server(url="nope", password="", receiver={"aet": "", "host": "", "port": 0}), "oops")
    assert len(result) == 6
    assert result[-1] == "xnat_dqr_servers[#1]: must be a mapping, got str"


def test_errors_rejects_non_list():
    with pytest.raises(AnsibleFilterError, match=r"must be a list, got dict"):
        errors_of({"name": "x"})


def test_windows_default_is_seven_full_days():
    result = windows([])
    assert len(result) == 7
    assert [w["dayOfWeek"] for w in result] == list(_MOD.DAYS)
    assert all(w["availabilityStart"] == "00:00" and w["availabilityEnd"] == "00:00"
               and w["threads"] == 1 and w["utilizationPercent"] == 100 for w in result)
    assert windows(None) == result


def test_windows_expand_normalise_and_sort():
    result = windows([{"days": ["TUESDAY", "MONDAY"], "start": "19:00", "end": "24:00", "threads": 2,
                       "utilization": 80},
                      {"days": ["MONDAY"], "start": "7:00", "end": "8:30", "threads": 0, "utilization": 50}])
    assert result == [
        {"dayOfWeek": "MONDAY", "availabilityStart": "07:00", "availabilityEnd": "08:30", "threads": 0,
         "utilizationPercent": 0},
        {"dayOfWeek": "MONDAY", "availabilityStart": "19:00", "availabilityEnd": "00:00", "threads": 2,
         "utilizationPercent": 80},
        {"dayOfWeek": "TUESDAY", "availabilityStart": "19:00", "availabilityEnd": "00:00", "threads": 2,
         "utilizationPercent": 80},
    ]


def test_windows_bad_input():
    with pytest.raises(AnsibleFilterError, match="expected a list, got str"):
        windows("always")
    with pytest.raises(AnsibleFilterError, match="days must be a list of day names"):
        windows([{"days": ["Montag"], "start": "00:00", "end": "01:00"}])


# --- Issue 18: names and URLs that reach Orthanc and the XNAT API ----------------------------

@pytest.mark.parametrize("name", [".", "..", "a/b", "a b", "x?y", "\u00e9", "n\nl", "A" * 65])
def test_names_orthanc_rest_path_cannot_address_are_refused(name):
    result = errors(server(name=name, receiver={"aet": "XNAT_RESEARCH", "host": "xnat.example.org", "port": 8104}))
    assert len(result) == 1 and result[0].startswith("xnat_dqr_servers[%s]: name %r must be 1-64" % (name, name))


@pytest.mark.parametrize("url, problem", [
    ("https://xnat.example.org/\n", "contains control character(s) '\\n'"),
    ("https://xnat.exa\tmple.org", "contains control character(s) '\\t'"),
    ("https://xn\u00e4t.example.org", "must be ASCII without spaces"),
    ("https://xnat.example.org/a b", "must be ASCII without spaces"),
    ("HTTPS://xnat.example.org", "must start with http:// or https:// in lower case"),
    ("https://admin:s3cret@xnat.example.org", "carries credentials (user:password@)"),
    ("https://xnat.example.org:0", "has a port outside 1-65535"),
    ("https://xnat.example.org:99999", "is not a valid URL (Port out of range"),
])
def test_urls_are_checked_on_the_raw_string(url, problem):
    result = errors(server(url=url))
    assert len(result) == 1 and result[0].startswith("xnat_dqr_servers[XNAT_RESEARCH]: url ") \
        and problem in result[0], result
    assert "s3cret" not in result[0]


def test_a_password_in_a_malformed_url_never_reaches_a_message():
    result = errors(server(url="https://admin:s3/cr:et@xnat.example.org:port"))
    assert result and not any("s3" in e for e in result), result


def test_smoke_write_needs_a_project_and_booleans():
    assert errors(server(smoke_write=True, smoke_project="SMOKE")) == []
    assert errors(server(smoke_write=False)) == []
    problems = errors(server(smoke_write=True))
    assert problems == ["xnat_dqr_servers[XNAT_RESEARCH]: smoke_project is required with smoke_write "
                        "(the project the smoke's DQR import goes to)"]
    assert any("smoke_write must be true or false" in e for e in errors(server(smoke_write="yes")))
    assert any("smoke_project 5 is not a string" in e for e in errors(server(smoke_project=5)))
