"""Filters for XNAT DQR registration: validation and availability windows.

The receivers as Orthanc modalities are computed by pacs_dependent_modalities
(filter_plugins/pacs_model.py), the one place other roles read them from.
"""

import re
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: xnat_dqr_errors
short_description: validate xnat_dqr_servers and return every problem found
description:
  - "Returns a list of error strings of the form C(xnat_dqr_servers[<name>]: <problem>);
    an empty list means the input is valid. It never stops at the first error."
  - The same file holds C(xnat_dqr_windows) (a schedule expanded into the availability windows XNAT stores,
    C(HH:mm) with 24:00 stored as 00:00; an empty schedule gives seven windows
    00:00-24:00, threads 1, utilization 100, as the XNAT UI creates them).
positional: _input
options:
  _input:
    description: The xnat_dqr_servers list (see docs/contract.md).
    type: list
    elements: dict
    required: true
  orthanc_dicom_aet:
    description: The AE title of this Orthanc; a receiver may not use it; the default pacs_label.
    type: str
  variable:
    description: The variable name used in the messages.
    type: str
    default: xnat_dqr_servers
"""

EXAMPLES = r"""
- name: Validate
  ansible.builtin.assert:
    that: (xnat_dqr_servers | xnat_dqr_errors(orthanc_dicom_aet=orthanc_dicom_aet)) == []
    fail_msg: "{{ xnat_dqr_servers | xnat_dqr_errors(orthanc_dicom_aet=orthanc_dicom_aet) }}"

- name: Windows
  ansible.builtin.debug:
    msg: "{{ [{'days': ['MONDAY'], 'start': '19:00', 'end': '24:00'}] | xnat_dqr_windows }}"
"""

RETURN = r"""
xnat_dqr_errors:
  description: Error strings, empty when valid.
  type: list
  elements: str
xnat_dqr_windows:
  description: Items with dayOfWeek, availabilityStart, availabilityEnd, threads, utilizationPercent.
  type: list
  elements: dict
"""

DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
DQR_SETTINGS = ("dqrCallingAe", "dqrMaxPacsRequestAttempts", "dqrWaitToRetryRequestInSeconds",
                "pacsAvailabilityCheckFrequency", "assumeSameSessionIfArrivedWithin",
                "allowAllUsersToUseDqr", "allowAllProjectsToUseDqr", "notifyAdminOnImport",
                "leavePacsAuditTrail")
BOOL_KEYS = ("queryable", "storable", "default_query_retrieve", "default_storage", "smoke_write")
TIME_RE = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)\Z")
MAX_THREADS = 100
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}\Z")


def _type(value):
    return type(value).__name__


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def ae_title_problem(value):
    """Why value is not a usable AE title, or None."""
    if not isinstance(value, str):
        return "must be a string, got %s" % _type(value)
    if not 1 <= len(value) <= 16:
        return "must be 1-16 characters, %r has %d" % (value, len(value))
    if value.strip() == "":
        return "must not be only spaces"
    if "\\" in value:
        return "%r must not contain a backslash" % value
    if any(not 32 <= ord(c) < 127 for c in value):
        return "%r must use the DICOM default character repertoire (printable ASCII)" % value
    if value != value.strip():
        return "%r must not start or end with spaces (XNAT and Orthanc trim them differently)" % value
    return None


def _minutes(value):
    if not isinstance(value, str) or not TIME_RE.match(value):
        return None
    hours, minutes = (int(part) for part in value.split(":"))
    if hours == 24 and minutes:
        return None
    return hours * 60 + minutes


def _schedule_errors(where, schedule):
    errors = []
    if not isinstance(schedule, list):
        return ["%s: schedule must be a list, got %s" % (where, _type(schedule))]
    taken = {day: [] for day in DAYS}
    for number, entry in enumerate(schedule, 1):
        at = "%s: schedule entry %d" % (where, number)
        if not isinstance(entry, dict):
            errors.append("%s must be a mapping, got %s" % (at, _type(entry)))
            continue
        unknown = sorted(set(entry) - {"days", "start", "end", "threads", "utilization"})
        if unknown:
            errors.append("%s has unknown keys %s" % (at, ", ".join(unknown)))
        days = entry.get("days")
        if not isinstance(days, list) or not days:
            errors.append("%s: days must be a non-empty list of %s" % (at, ", ".join(DAYS)))
            days = []
        bad_days = [d for d in days if d not in DAYS]
        if bad_days:
            errors.append("%s: invalid day names %s (use %s)" % (at, bad_days, ", ".join(DAYS)))
        start, end = _minutes(entry.get("start")), _minutes(entry.get("end"))
        for key, value in (("start", start), ("end", end)):
            if value is None:
                errors.append("%s: %s must be HH:mm between 00:00 and 24:00, got %r"
                              % (at, key, entry.get(key)))
        if start is not None and end is not None:
            if start >= end:
                errors.append("%s: start %s must be before end %s" % (at, entry["start"], entry["end"]))
            else:
                for day in set(d for d in days if d in DAYS):
                    for other_number, o_start, o_end in taken[day]:
                        if start < o_end and o_start < end:
                            errors.append("%s overlaps schedule entry %d on %s" % (at, other_number, day))
                    taken[day].append((number, start, end))
        threads = entry.get("threads", 1)
        if not _is_int(threads) or not 0 <= threads <= MAX_THREADS:
            errors.append("%s: threads must be an integer 0-%d, got %r" % (at, MAX_THREADS, threads))
        utilization = entry.get("utilization", 100)
        if not _is_int(utilization) or not 0 <= utilization <= 100:
            errors.append("%s: utilization must be an integer 0-100 (percent), got %r" % (at, utilization))
    return errors


def _show_url(value):
    """The URL as it may appear in a message: everything before its last '@' is masked.

    A user:password@ part may hold '/', '?' or '#' unencoded, and a scheme may be
    missing or malformed, so the mask starts after '//' (or at the start) and ends
    at the last '@' of the whole string: a secret never reaches a message.
    """
    if "@" not in value:
        return value
    start = value.find("//") + 2 if "//" in value.split("@", 1)[0] else 0
    return value[:start] + "***" + value[value.rindex("@"):]


def url_problem(url):
    """Why url is not an XNAT base URL the role can use, or None.

    Checked on the raw string (urlsplit drops tabs and newlines silently): no
    control characters or spaces, ASCII only, a lower-case http:// or https://
    scheme, a host, a port 1-65535, and no user:password@ part (credentials go in
    username and password, which are kept out of logs).
    """
    if not isinstance(url, str):
        return "url must be an http(s) URL with a host, got %r" % (url,)
    shown = _show_url(url)
    bad = sorted({repr(c) for c in url if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0})
    if bad:
        return ("url %r contains control character(s) %s; Python's URL parser drops them silently"
                % (shown, ", ".join(bad)))
    if any(ord(c) > 0x7E for c in url) or " " in url:
        return "url %r must be ASCII without spaces (punycode host, percent-encoded path)" % shown
    if url.lower().startswith(("http://", "https://")) and not url.startswith(("http://", "https://")):
        return "url %r must start with http:// or https:// in lower case" % shown
    if not url.startswith(("http://", "https://")):
        return "url must be an http(s) URL with a host, got %r" % shown
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # its text may quote a password, so only without one
        return "url %r is not a valid URL%s" % (shown, "" if "@" in url else " (%s)" % exc)
    if "@" in parts.netloc:
        return ("url %r carries credentials (user:password@); use the username and password fields "
                "(password from the vault)" % shown)
    if not parts.hostname:
        return "url must be an http(s) URL with a host, got %r" % shown
    if port is not None and not 1 <= port <= 65535:
        return "url %r has a port outside 1-65535" % shown
    return None


def _item_errors(where, item, orthanc_dicom_aet):
    errors = []
    problem = url_problem(item.get("url"))
    if problem:
        errors.append("%s: %s" % (where, problem))
    for key in ("username", "password"):
        value = item.get(key)
        if not isinstance(value, str) or not value:
            errors.append("%s: %s must be a non-empty string (passwords come from the vault)" % (where, key))
    receiver = item.get("receiver")
    if not isinstance(receiver, dict):
        errors.append("%s: receiver must be a mapping with aet, host and port, got %s" % (where, _type(receiver)))
    else:
        problem = ae_title_problem(receiver.get("aet"))
        if problem:
            errors.append("%s: receiver.aet %s" % (where, problem))
        elif orthanc_dicom_aet and receiver["aet"] == orthanc_dicom_aet:
            errors.append("%s: receiver.aet %r is the AE title of Orthanc itself (orthanc_dicom_aet)"
                          % (where, receiver["aet"]))
        host = receiver.get("host")
        if not isinstance(host, str) or not host.strip() or "://" in host:
            errors.append("%s: receiver.host must be a host name or IP address, got %r" % (where, host))
        port = receiver.get("port")
        if not _is_int(port) or not 1 <= port <= 65535:
            errors.append("%s: receiver.port must be an integer 1-65535, got %r" % (where, port))
    for key in ("pacs_label", "pacs_host"):
        value = item.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip() or len(value) > 100):
            errors.append("%s: %s must be a non-empty string of at most 100 characters, got %r" % (where, key, value))
    if isinstance(item.get("pacs_host"), str) and "://" in item["pacs_host"]:
        errors.append("%s: pacs_host must be a host name, not a URL: %r" % (where, item["pacs_host"]))
    for key in BOOL_KEYS:
        if key in item and not isinstance(item[key], bool):
            errors.append("%s: %s must be true or false, got %r" % (where, key, item[key]))
    if item.get("default_query_retrieve") is True and item.get("queryable", True) is False:
        errors.append("%s: default_query_retrieve is true but queryable is false "
                      "(XNAT would force queryable to true)" % where)
    if item.get("default_storage") is True and item.get("storable", False) is False:
        errors.append("%s: default_storage is true but storable is not true "
                      "(XNAT would force storable to true)" % where)
    if "schedule" in item and item["schedule"] is not None:
        errors.extend(_schedule_errors(where, item["schedule"]))
    settings = item.get("dqr_settings")
    if settings is not None:
        if not isinstance(settings, dict):
            errors.append("%s: dqr_settings must be a mapping, got %s" % (where, _type(settings)))
        else:
            unknown = sorted(set(settings) - set(DQR_SETTINGS))
            if unknown:
                errors.append("%s: dqr_settings has unknown keys %s (XNAT would silently ignore them; known: %s)"
                              % (where, ", ".join(unknown), ", ".join(DQR_SETTINGS)))
            if "dqrCallingAe" in settings:
                problem = ae_title_problem(settings["dqrCallingAe"])
                if problem:
                    errors.append("%s: dqr_settings.dqrCallingAe %s" % (where, problem))
    if item.get("smoke_write") is True and not (isinstance(item.get("smoke_project"), str)
                                                and item["smoke_project"].strip()):
        errors.append("%s: smoke_project is required with smoke_write (the project the smoke's DQR import goes to)"
                      % where)
    if "smoke_project" in item and not isinstance(item["smoke_project"], str):
        errors.append("%s: smoke_project %r is not a string" % (where, item["smoke_project"]))
    known = {"name", "url", "username", "password", "receiver", "pacs_label", "pacs_host",
             "schedule", "dqr_settings", "smoke_write", "smoke_project", *BOOL_KEYS}
    unknown = sorted(set(item) - known)
    if unknown:
        errors.append("%s: unknown keys %s" % (where, ", ".join(unknown)))
    return errors


def xnat_dqr_errors(servers, orthanc_dicom_aet=None, variable="xnat_dqr_servers"):
    """Every problem in xnat_dqr_servers, as '<variable>[<name>]: <problem>' strings."""
    if servers is None:
        return []
    if not isinstance(servers, list):
        raise AnsibleFilterError("xnat_dqr_errors: %s must be a list, got %s (%r)"
                                 % (variable, _type(servers), servers))
    errors = []  # orthanc_dicom_aet itself is judged once, by the orthanc role's orthanc_config_errors
    names, receivers, labels = {}, {}, {}
    for index, item in enumerate(servers):
        if not isinstance(item, dict):
            errors.append("%s[#%d]: must be a mapping, got %s" % (variable, index, _type(item)))
            continue
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            where = "%s[#%d]" % (variable, index)
            errors.append("%s: name must be a non-empty string" % where)
        else:
            where = "%s[%s]" % (variable, name)
            if not NAME_RE.match(name) or not name.strip("."):
                errors.append("%s: name %r must be 1-64 letters, digits, '_', '-' or '.', not only dots: it "
                              "becomes an Orthanc modality name, a segment of Orthanc's REST path"
                              % (where, name))
            if name in names:
                errors.append("%s: name is used twice (also item #%d); names are Orthanc modality keys"
                              % (where, names[name]))
            names.setdefault(name, index)
        errors.extend(_item_errors(where, item, orthanc_dicom_aet))
        receiver = item.get("receiver")
        if isinstance(receiver, dict) and isinstance(receiver.get("aet"), str):
            aet = receiver["aet"]
            if aet in receivers:
                errors.append(
                    "%s: receiver.aet %r is also used by %s; every XNAT behind one PACS needs its own "
                    "receiver AE title, because the PACS sends a C-MOVE to an AE title and maps it to "
                    "one host and port: it cannot tell two XNATs with the same AE title apart"
                    % (where, aet, receivers[aet]))
            else:
                receivers[aet] = where
        label_key = (item.get("url"), item.get("pacs_label") or orthanc_dicom_aet)
        if isinstance(label_key[0], str) and label_key[1]:
            if label_key in labels:
                errors.append("%s: pacs_label %r is also used by %s for the same XNAT url (labels are unique in XNAT)"
                              % (where, label_key[1], labels[label_key]))
            else:
                labels[label_key] = where
    return errors


def xnat_dqr_windows(schedule):
    """The availability windows XNAT stores for a schedule, sorted by day and start."""
    if not schedule:
        schedule = [{"days": list(DAYS), "start": "00:00", "end": "24:00", "threads": 1, "utilization": 100}]
    if not isinstance(schedule, list):
        raise AnsibleFilterError("xnat_dqr_windows: expected a list, got %s (%r)" % (_type(schedule), schedule))
    windows = []
    for entry in schedule:
        if not isinstance(entry, dict):
            raise AnsibleFilterError("xnat_dqr_windows: a schedule entry must be a mapping, got %s (%r)"
                                     % (_type(entry), entry))
        start, end = _minutes(entry.get("start")), _minutes(entry.get("end"))
        if start is None or end is None:
            raise AnsibleFilterError("xnat_dqr_windows: start/end must be HH:mm, got %r" % (entry,))
        threads, utilization = entry.get("threads", 1), entry.get("utilization", 100)
        if not _is_int(threads) or not _is_int(utilization):
            raise AnsibleFilterError("xnat_dqr_windows: threads and utilization must be integers, got %r" % (entry,))
        if threads == 0 or utilization == 0:
            threads = utilization = 0
        days = entry.get("days")
        if not isinstance(days, list) or any(d not in DAYS for d in days):
            raise AnsibleFilterError("xnat_dqr_windows: days must be a list of day names, got %s (%r)"
                                     % (_type(days), days))
        for day in days:
            windows.append({"dayOfWeek": day,
                            "availabilityStart": "%02d:%02d" % divmod(start % 1440, 60),
                            "availabilityEnd": "%02d:%02d" % divmod(end % 1440, 60),
                            "threads": threads, "utilizationPercent": utilization})
    windows.sort(key=lambda w: (DAYS.index(w["dayOfWeek"]), w["availabilityStart"]))
    return windows


class FilterModule:
    """Map filter names to functions."""

    def filters(self):
        return {
            "xnat_dqr_errors": xnat_dqr_errors,
            "xnat_dqr_windows": xnat_dqr_windows,
        }
