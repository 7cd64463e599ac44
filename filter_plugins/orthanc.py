"""Filters that turn pacs-provisioner inventory lists into Orthanc's structures,
and the cross-field validation behind the orthanc role's preflight.

Every function is pure: same input, same output, no I/O. Validation functions
return a list of error strings (``<variable>[<item>]: <problem>``) so callers can
report every problem in one run.
"""

from __future__ import annotations

import datetime
import ipaddress
import math
import pathlib
import re
import sys
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError

# Shared contract code lives beside the filters in filter_plugins/pacs_model.py (README: "Where code lives").
if str(pathlib.Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from pacs_model import pacs_modality  # noqa: E402  pylint: disable=wrong-import-position

DOCUMENTATION = r"""
name: orthanc
short_description: Turn pacs-provisioner inventory lists into Orthanc configuration structures
description:
  - C(orthanc_modalities) turns a list of modalities into Orthanc's C(DicomModalities) object form.
  - C(orthanc_peers) turns a list of peers into C(OrthancPeers) object form.
  - C(orthanc_dicomweb_servers) turns a list of servers into C(DicomWeb.Servers) object form.
  - C(orthanc_registered_users) turns a list of users into C(RegisteredUsers).
  - C(orthanc_client_certificate_files) lists the client certificate and key files to write on the host for the peers and DICOMweb servers that give them as PEM content.
  - C(orthanc_config_errors) validates the orthanc role's settings and returns every problem found.
  - C(orthanc_live_changes) compares two configurations and returns whether Orthanc must restart and the REST calls that apply modality, peer and DICOMweb-server changes live.
  - C(orthanc_parse_config) parses a rendered orthanc.json (with // comment lines), {} when missing or unreadable.
  - C(orthanc_redact) masks every password in an Orthanc configuration, for diffs and a readable copy.
  - C(dicom_ae_title_error) returns why a value is not a valid AE title, or an empty string.
  - C(orthanc_lua_string) writes a string as a Lua string literal that holds it byte for byte (UTF-8), for every Lua version.
  - C(orthanc_python_script) gives the path of the entry script (PythonScript) of a list of Python scripts in a configuration folder, '' for none.
  - C(orthanc_python_set_id) names the folder of one set of Python scripts by their names and contents.
  - C(orthanc_python_errors) validates orthanc_python_scripts (names Python can import, unique, non-empty).
options:
  _input:
    description: The list (or, for C(orthanc_config_errors), the dict of role settings) to convert.
    required: true
"""

EXAMPLES = r"""
DicomModalities: "{{ orthanc_modalities | orthanc_modalities }}"
OrthancPeers: "{{ orthanc_peers | orthanc_peers }}"
Servers: "{{ orthanc_dicomweb_servers | orthanc_dicomweb_servers }}"
RegisteredUsers: "{{ orthanc_users | orthanc_registered_users }}"
errors: "{{ {'orthanc_dicom_aet': 'GH_PACS', 'orthanc_modalities': []} | orthanc_config_errors }}"
"""

RETURN = r"""
_value:
  description: The Orthanc structure (a dict), or for C(orthanc_config_errors) a list of error strings.
  type: raw
"""

def _type_name(value):
    """The built-in type a value is (Ansible wraps str, dict, ... in tagged subclasses)."""
    return next(t.__name__ for t in type(value).__mro__ if t.__module__ == "builtins")


# Modality keys of the inventory -> Orthanc's object form. Their defaults are the orthanc
# role's argument spec's (pacs_model.MODALITY_DEFAULTS, filled by pacs_modality).
_MODALITY_FLAGS = {
    "allow_echo": "AllowEcho",
    "allow_store": "AllowStore",
    "allow_find": "AllowFind",
    "allow_find_worklist": "AllowFindWorklist",
    "allow_move": "AllowMove",
    "allow_get": "AllowGet",
    "allow_storage_commitment": "AllowStorageCommitment",
    "allow_transcoding": "AllowTranscoding",
    "use_dicom_tls": "UseDicomTls",
}
_MODALITY_KEYS = {"name", "aet", "host", "port", "manufacturer", "local_aet", "timeout",
                  "expected_offline", "description", "retrieve_method"} | set(_MODALITY_FLAGS)
_HTTP_REMOTE_KEYS = {"name", "url", "username", "password", "timeout", "http_headers",
                     "certificate_file", "certificate_key_file", "certificate_key_password",
                     "certificate", "certificate_key", "has_delete", "chunked_transfers", "smoke_stow", "description"}

# Orthanc keys that the role manages through first-class variables. Setting them
# again through orthanc_extra_config would make two inventory keys map to one
# Orthanc key, so preflight refuses it and names the variable to use instead.
MANAGED_KEYS = {
    "Name": "orthanc_name",
    "DicomAet": "orthanc_dicom_aet",
    "DicomPort": "orthanc_dicom_port",
    "HttpPort": "orthanc_http_port",
    "RegisteredUsers": "orthanc_users",
    "AuthenticationEnabled": "orthanc_authentication_enabled",
    "RemoteAccessAllowed": "orthanc_remote_access_allowed",
    "DicomModalities": "orthanc_modalities",
    "OrthancPeers": "orthanc_peers",
    "SslEnabled": "orthanc_https_certificate",
    "SslCertificate": "orthanc_https_certificate",
    "DicomTlsEnabled": "orthanc_dicom_tls_certificate",
    "DicomTlsCertificate": "orthanc_dicom_tls_certificate",
    "DicomTlsPrivateKey": "orthanc_dicom_tls_private_key",
    "DicomTlsTrustedCertificates": "orthanc_dicom_tls_trusted_certificates",
    "DicomCheckCalledAet": "orthanc_dicom_check_called_aet",
    "DicomCheckModalityHost": "orthanc_dicom_check_modality_host",
    "DicomAlwaysAllowEcho": "orthanc_dicom_always_allow_echo",
    "DicomAlwaysAllowStore": "orthanc_dicom_always_allow_store",
    "DicomAlwaysAllowFind": "orthanc_dicom_always_allow_find",
    "DicomAlwaysAllowMove": "orthanc_dicom_always_allow_move",
    "DicomAlwaysAllowGet": "orthanc_dicom_always_allow_get",
    "StorageDirectory": "orthanc_storage_dir",
    "IndexDirectory": "orthanc_index_dir",
    "LuaScripts": "orthanc_lua_scripts",
    "PythonScript": "orthanc_python_scripts",
    "Plugins": "orthanc_extra_plugins",
    "PostgreSQL": "orthanc_database",
    "StorageCompression": "orthanc_storage_compression",
    "MaximumStorageSize": "orthanc_maximum_storage_size",
    "MaximumPatientCount": "orthanc_maximum_patient_count",
    "StableAge": "orthanc_stable_age",
    "ConcurrentJobs": "orthanc_concurrent_jobs",
    "OverwriteInstances": "orthanc_overwrite_instances",
    "LimitFindResults": "orthanc_limit_find_results",
    "LimitFindInstances": "orthanc_limit_find_instances",
    "HttpServerEnabled": "orthanc_http_port",
    "OrthancExplorerEnabled": "orthanc_explorer_enabled",
    "HttpsCACertificates": "orthanc_https_ca_certificates",
    "HttpsVerifyPeers": "orthanc_https_verify_peers",
    "WebDavEnabled": "orthanc_webdav_enabled",
    "ExecuteLuaEnabled": "orthanc_execute_lua_enabled",
    "RestApiWriteToFileSystemEnabled": "orthanc_rest_api_write_to_file_system_enabled",
    "DicomServerEnabled": "orthanc_dicom_port",
    "DicomScpTimeout": "orthanc_dicom_scp_timeout",
    "DicomScuTimeout": "orthanc_dicom_scu_timeout",
    "DicomTlsRemoteCertificateRequired": "orthanc_dicom_tls_remote_certificate_required",
    "DicomModalitiesInDatabase": "orthanc_modalities",
    "OrthancPeersInDatabase": "orthanc_peers",
}
MANAGED_DICOMWEB_KEYS = {
    "Enable": "orthanc_dicomweb_enabled",
    "Root": "orthanc_dicomweb_root",
    "Servers": "orthanc_dicomweb_servers",
    "Ssl": "orthanc_https_certificate",
    "StudiesMetadata": "orthanc_dicomweb_studies_metadata",
    "SeriesMetadata": "orthanc_dicomweb_series_metadata",
}

WELL_KNOWN_PASSWORDS = {"", "admin", "orthanc", "password", "changeme", "change-me",
                        "secret", "123456", "12345678", "demo", "test", "alice", "pacs"}

_HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}\Z)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?\Z")
_SYMBOLIC_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}\Z")


def _require_list(value, name):
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise AnsibleFilterError(f"{name} expects a list, got {_type_name(value)}: {value!r}")
    for item in value:
        if not isinstance(item, dict):
            raise AnsibleFilterError(f"{name} expects a list of dicts, got an item of type "
                                     f"{_type_name(item)}: {item!r}")
    return value


def dicom_ae_title_error(value):
    """Return why ``value`` is not a valid DICOM AE title, or '' when it is.

    An AE title is 1-16 characters of the DICOM default character repertoire
    (printable ASCII), without backslash, not only spaces. Leading and trailing
    spaces are refused too: DICOM ignores them, so they hide mismatches.
    """
    if not isinstance(value, str):
        return f"must be a string, got {_type_name(value)} {value!r}"
    if not value.strip():
        return f"{value!r} is empty or only spaces; an AE title needs 1-16 characters"
    if len(value) > 16:
        return f"{value!r} is {len(value)} characters; an AE title has at most 16"
    bad = sorted({c for c in value if not (" " <= c <= "~") or c == "\\"})
    if bad:
        return (f"{value!r} contains {', '.join(repr(c) for c in bad)}; an AE title uses printable "
                "ASCII (the DICOM default character repertoire) without backslash")
    if value != value.strip():
        return f"{value!r} has leading or trailing spaces, which DICOM ignores; remove them"
    return ""


def host_error(value):
    """Return why ``value`` is not a usable host (IP address or DNS name), or ''."""
    if not isinstance(value, str) or not value:
        return f"must be a non-empty IP address or host name, got {value!r}"
    if "://" in value or "/" in value:
        return f"{value!r} is a URL or path; give a bare IP address or host name"
    try:
        ipaddress.ip_address(value)
        return ""
    except ValueError:
        pass
    if not _HOSTNAME_RE.match(value):
        return f"{value!r} is neither an IP address nor a valid host name"
    return ""


def port_error(value):
    """Return why ``value`` is not a TCP port number 1-65535, or ''."""
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value))
        except ValueError:
            return f"{value!r} is not a port number"
    if not 1 <= value <= 65535:
        return f"{value} is outside 1-65535"
    return ""


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


def _control_chars(value):
    """The control characters (C0, DEL, C1) found in a string, sorted, as reprs."""
    return sorted({repr(c) for c in value if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0})


def url_error(value):
    """Return why ``value`` is not a URL Orthanc can use, or ''.

    Checked on the raw string, because Python's urlsplit silently drops tabs and
    newlines: no control character, no space, ASCII only (punycode host, percent-
    encoded path), a lower-case ``http://`` or ``https://`` scheme as Orthanc
    compares it, a host, a port 1-65535, and no ``user:password@`` part (the
    username and password fields carry credentials, and only they are redacted).
    """
    if not isinstance(value, str) or not value:
        return f"must be a non-empty http(s) URL, got {_type_name(value)} {value!r}"
    shown = _show_url(value)
    bad = _control_chars(value)
    if bad:
        return (f"{shown!r} contains control character(s) {', '.join(bad)}; Python's URL parser drops "
                "them silently but they reach the rendered files")
    if any(ord(c) > 0x7E for c in value):
        return (f"{shown!r} contains non-ASCII characters; write the host in punycode (xn--...) and "
                "percent-encode the path")
    if " " in value:
        return f"{shown!r} contains a space; percent-encode it (%20)"
    if not value.startswith(("http://", "https://")):
        if value.lower().startswith(("http://", "https://")):
            return f"{shown!r} must start with http:// or https:// in lower case, as Orthanc compares it"
        return f"{shown!r} must start with http:// or https://"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:  # its text may quote a password, so only without one
        return f"{shown!r} is not a valid URL" + ("" if "@" in value else f" ({exc})")
    if "@" in parts.netloc:
        return (f"{shown!r} carries credentials (user:password@); put them in the username and "
                "password fields (password from Ansible Vault), which are kept out of logs and diffs")
    if not parts.hostname:
        return f"{shown!r} has no host"
    if port is not None and not 1 <= port <= 65535:
        return f"{shown!r} has a port outside 1-65535"
    return ""


# RFC 9110 token characters: what an HTTP header name may hold.
_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")


def http_headers_errors(where, headers, reserved=()):
    """Every problem of a dict of HTTP headers, as '<where>[<name>]: <problem>' strings.

    Names are RFC 9110 tokens, distinct without case (HTTP compares them so) and
    not in ``reserved`` (headers the caller sets itself); values are strings
    without control characters (a CR or LF would start a new header).
    """
    if headers is None:
        return []
    if not isinstance(headers, dict):
        return [f"{where}: must be a dict of header name -> value, got {_type_name(headers)}"]
    errors, seen = [], {key.lower(): key for key in reserved}
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME_RE.match(name):
            errors.append(f"{where}[{name!r}]: the header name {name!r} ({_type_name(name)}) must be letters, "
                          "digits and !#$%&'*+.^_`|~- only (an HTTP token)")
        elif name.lower() in seen:
            errors.append(f"{where}[{name}]: is the header {seen[name.lower()]} again (HTTP header names "
                          "ignore case); only one value would be sent")
        else:
            seen[name.lower()] = name
        if not isinstance(value, str):
            errors.append(f"{where}[{name}]: the value must be a string, got {_type_name(value)} {value!r}")
        elif _control_chars(value):
            errors.append(f"{where}[{name}]: the value contains control character(s) "
                          f"{', '.join(_control_chars(value))}; CR or LF would split the HTTP request")
    return errors


# Orthanc's manufacturers (OrthancServer/Sources/ServerEnumerations.cpp,
# StringToModalityManufacturer), compared case-sensitively; the obsolete names
# Orthanc still maps to a current one are refused with that name.
MANUFACTURERS = ("Generic", "GenericNoWildcardInDates", "GenericNoUniversalWildcard", "StoreScp", "Vitrea", "GE")
_OBSOLETE_MANUFACTURERS = {"MedInria": "Generic", "EFilm2": "Generic", "ClearCanvas": "Generic",
                           "Dcm4Chee": "Generic", "SyngoVia": "GenericNoWildcardInDates",
                           "AgfaImpax": "GenericNoWildcardInDates"}


def manufacturer_error(value):
    """Return why ``value`` is not a manufacturer Orthanc knows (exact case), or ''."""
    if isinstance(value, str) and value in MANUFACTURERS:
        return ""
    if isinstance(value, str) and value in _OBSOLETE_MANUFACTURERS:
        return (f"{value!r} is obsolete in Orthanc (read as {_OBSOLETE_MANUFACTURERS[value]!r}); "
                f"write {_OBSOLETE_MANUFACTURERS[value]!r}")
    hint = [m for m in MANUFACTURERS if isinstance(value, str) and m.lower() == value.lower()]
    return (f"{value!r} ({_type_name(value)}) is not one of {', '.join(MANUFACTURERS)}; Orthanc compares "
            "them case-sensitively and stops at start-up on any other" + (f" (did you mean {hint[0]!r}?)"
                                                                           if hint else ""))


def rest_name_error(value):
    """Return why ``value`` cannot be a modality, peer or DICOMweb server name, or ''.

    The name is a key of orthanc.json and a segment of Orthanc's REST path
    (/modalities/<name>), so it is 1-64 letters, digits, '_', '-' or '.', and not
    '.' or '..' (which a URL path resolves away).
    """
    if not isinstance(value, str) or not _SYMBOLIC_NAME_RE.match(value):
        return (f"{value!r} must be 1-64 letters, digits, '_', '-' or '.' (it is a segment of "
                "Orthanc's REST path)")
    if value.strip(".") == "":
        return f"{value!r} is only dots; '.' and '..' cannot be addressed through Orthanc's REST path"
    return ""


def _json_problem(value):
    """Why one scalar cannot be written to JSON as it is, or ''."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value!r} (float) cannot be written in JSON (no NaN or Infinity); Orthanc refuses it"
    if isinstance(value, str):
        where = next((i for i, c in enumerate(value) if 0xD800 <= ord(c) <= 0xDFFF), None)
        if where is not None:  # the value itself is not shown: it may be a URL with a credential
            return f"holds a lone UTF-16 surrogate at character {where + 1}, which is not valid Unicode"
        return ""
    if value is None or isinstance(value, (bool, int, float)):
        return ""
    if isinstance(value, (bytes, bytearray)):
        return "is binary data (!!binary); JSON holds text: write it as a string (base64 if needed)"
    if isinstance(value, (set, frozenset)):
        return "is a set (!!set); JSON has no sets: write a list"
    if isinstance(value, (datetime.date, datetime.time)):
        # datetime before date: a datetime is a date too (Ansible wraps both in tagged subclasses)
        kind = next(k for k in ("datetime", "date", "time") if isinstance(value, getattr(datetime, k)))
        return (f"is a {kind} ({value.isoformat()}); YAML read it as a date: quote it to keep it text, "
                "as Orthanc reads it")
    return f"is a {_type_name(value)}, which JSON cannot hold"


def _json_walk(value, path, case_keys):
    """Yield (path segments, problem) for every part of value that JSON cannot hold."""
    if isinstance(value, dict):
        seen = {}
        for key, item in value.items():
            if not isinstance(key, str):
                yield path, f"the key {key!r} is a {_type_name(key)}; JSON keys are strings: quote it"
                continue
            if case_keys and key.lower() in seen and seen[key.lower()] != key:
                yield path + [key], (f"differs only in case from {seen[key.lower()]}; Orthanc reads keys "
                                     "case-sensitively and would ignore one of them")
            seen.setdefault(key.lower(), key)
            yield from _json_walk(item, path + [key], case_keys)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            label = _label(item, index) if not path else str(index)
            yield from _json_walk(item, path + [label], case_keys)
    else:
        problem = _json_problem(value)
        if problem:
            yield path, problem


def json_value_errors(variable, value, case_keys=False):
    """Every part of a variable that JSON cannot hold, as '<variable>[<path>]: <problem>' strings.

    Walks dicts and lists: NaN and Infinity, bytes (!!binary), sets, dates, lone
    surrogates, keys that are not strings, and with ``case_keys`` keys of one dict
    that differ only in case (Orthanc reads keys case-sensitively: one is ignored).
    """
    errors = []
    for path, problem in _json_walk(value, [], case_keys):
        if not path:
            errors.append(f"{variable}: {problem}")
        elif isinstance(value, dict):
            errors.append(f"{variable}[{'.'.join(path)}]: {problem}")
        else:
            errors.append(f"{variable}[{path[0]}]{''.join('.' + p for p in path[1:])}: {problem}")
    return errors


def orthanc_lua_string(value):
    """Write ``value`` as a Lua string literal holding its UTF-8 bytes exactly.

    Printable ASCII other than '"' and '\\' is kept as it is; every other byte
    becomes a three-digit decimal escape (\\ddd), which Lua 5.1 to 5.4 read alike
    (JSON's \\uXXXX escapes are not Lua).
    """
    if not isinstance(value, str):
        raise AnsibleFilterError(f"orthanc_lua_string expects a string, got {_type_name(value)}: {value!r}")
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise AnsibleFilterError(f"orthanc_lua_string: {value!r} (str) is not valid Unicode ({exc})") from exc
    return '"' + "".join(chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else "\\%03d" % b
                         for b in data) + '"'



# Orthanc's Python plugin runs one script, PythonScript, imported as a module from its
# folder, which the plugin puts first on sys.path. The role renders PYTHON_ENTRY there
# (templates/python-entry.py.j2) and it imports orthanc_python_scripts in their order.
# The folder is named by what it holds (orthanc_python_set_id): a new set of scripts
# goes to a new folder, and the orthanc.json a rollback restores finds its own.
PYTHON_ENTRY = "pacs_provisioner_main.py"
_PYTHON_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.py\Z")
_PYTHON_KEYS = {"name", "content"}


def python_script_name_error(name):
    """Return why ``name`` is not a file name Orthanc's Python plugin can import, or ''.

    A module name plus ``.py``; not the entry script the role renders, and not a
    module of Python's standard library or ``orthanc``: the scripts' folder comes
    first on sys.path, so such a script would replace that module for every script.
    """
    import sys

    if not isinstance(name, str) or not _PYTHON_NAME_RE.match(name):
        return (f"{name!r} must be a Python module name and .py (letters, digits and _, "
                "not starting with a digit), e.g. route_studies.py")
    if name == PYTHON_ENTRY:
        return f"{name!r} is the entry script the role renders; choose another name"
    module = name[:-3]
    if module == "orthanc" or module in sys.stdlib_module_names:
        return (f"{name!r} has the name of the module {module!r} (the Python plugin's or the standard "
                "library's); the scripts' folder comes first on sys.path, so it would replace that "
                "module for every script; choose another name")
    return ""


def orthanc_python_errors(settings):
    """Every problem of orthanc_python_scripts in the role's settings, as error strings.

    Items are {name, content}: a name Python can import (python_script_name_error),
    unique even without case, and a non-empty content. With the container method, the
    image's Python plugin may not be switched off (orthanc_container_plugins.Python).
    """
    scripts = settings.get("orthanc_python_scripts")
    if scripts is None:
        return []
    if not isinstance(scripts, list):
        return [f"orthanc_python_scripts: must be a list of {{name, content}}, got {_type_name(scripts)}"]
    errors, seen = [], {}
    for index, item in enumerate(scripts):
        if not isinstance(item, dict):
            errors.append(f"orthanc_python_scripts[{index}]: must be a dict with name and content, "
                          f"got {_type_name(item)} {item!r}")
            continue
        where = f"orthanc_python_scripts[{_label(item, index)}]"
        unknown = sorted(str(key) for key in set(item) - _PYTHON_KEYS)
        if unknown:
            errors.append(f"{where}: unknown key(s) {', '.join(unknown)}; an item has name and content")
        _unique_name(item.get("name"), python_script_name_error, where, seen, errors)
        content = item.get("content")
        if not isinstance(content, str) or not content.strip():
            errors.append(f"{where}.content: must be the script's text (a non-empty string), "
                          f"got {_type_name(content)}")
    plugins = settings.get("orthanc_container_plugins") or {}
    if (scripts and settings.get("orthanc_install_method") == "container" and isinstance(plugins, dict)
            and plugins.get("Python") is False):
        errors.append("orthanc_container_plugins[Python]: false while orthanc_python_scripts is set; the image "
                      "would not start the Python plugin and the scripts would never run")
    return errors


def orthanc_python_set_id(scripts):
    """The name of the folder that holds one set of Python scripts: 12 hex digits of the
    SHA-256 of their names and contents in order ('' for no scripts)."""
    import hashlib
    import json

    if not scripts:
        return ""
    items = _require_list(scripts, "orthanc_python_set_id")
    data = json.dumps([[item.get("name"), item.get("content")] for item in items], ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:12]


def orthanc_python_script(scripts, config_dir):
    """The path of the entry script (PythonScript) for these scripts under ``config_dir``
    as Orthanc sees it, or '' when there are none (no PythonScript, no Python plugin)."""
    if not scripts:
        return ""
    if not isinstance(config_dir, str) or not config_dir.startswith("/"):
        raise AnsibleFilterError(f"orthanc_python_script expects an absolute folder, got {config_dir!r}")
    return f"{config_dir.rstrip('/')}/python/{orthanc_python_set_id(scripts)}/{PYTHON_ENTRY}"


def orthanc_modalities(modalities):
    """Turn a list of modality dicts into Orthanc's DicomModalities object form."""
    result = {}
    for raw in _require_list(modalities, "orthanc_modalities"):
        item = pacs_modality(raw)
        entry = {
            "AET": item["aet"],
            "Host": item["host"],
            "Port": int(item["port"]),
            "Manufacturer": item["manufacturer"],
        }
        for key, orthanc_key in _MODALITY_FLAGS.items():
            entry[orthanc_key] = bool(item[key])
        if item.get("local_aet"):
            entry["LocalAet"] = item["local_aet"]
        if item.get("timeout") is not None:
            entry["Timeout"] = int(item["timeout"])
        if item.get("retrieve_method"):  # Orthanc 1.12.6+ (filter_plugins/orthanc_versions.py)
            entry["RetrieveMethod"] = item["retrieve_method"]
        result[item["name"]] = entry
    return result


# Client certificates given as PEM content are written by tasks/client-certificates.yml
# into this folder of the configuration directory, one pair of files per item.
CLIENT_CERTIFICATE_DIR = "tls/client"
_CLIENT_CERTIFICATE_PREFIX = {"orthanc_peers": "peer", "orthanc_dicomweb_servers": "dicomweb"}


def client_certificate_paths(variable, name, config_dir):
    """(certificate, key) paths of an item's client certificate written from PEM content.

    ``config_dir`` is the configuration directory as the reader sees it (on the host,
    or /etc/orthanc inside the container); ``name`` is the item's name, a REST path
    segment that preflight has checked (no slash, not only dots).
    """
    if variable not in _CLIENT_CERTIFICATE_PREFIX:
        raise AnsibleFilterError(f"client_certificate_paths: {variable!r} is not one of "
                                 f"{', '.join(_CLIENT_CERTIFICATE_PREFIX)}")
    if not isinstance(config_dir, str) or not config_dir.startswith("/"):
        raise AnsibleFilterError(f"client_certificate_paths: the configuration directory {config_dir!r} "
                                 "must be an absolute path")
    base = f"{config_dir.rstrip('/')}/{CLIENT_CERTIFICATE_DIR}/{_CLIENT_CERTIFICATE_PREFIX[variable]}-{name}"
    return base + ".crt", base + ".key"


def _pem_text(text):
    """PEM text ending with a newline (a file lookup strips it)."""
    return text if not isinstance(text, str) or text.endswith("\n") else text + "\n"


def orthanc_client_certificate_files(settings, config_dir):
    """The client certificate files to write on the Orthanc host, from the items of
    orthanc_peers and orthanc_dicomweb_servers that give PEM content (``certificate``,
    ``certificate_key``): a list of ``{path, content, secret}``, certificates first.
    """
    if not isinstance(settings, dict):
        raise AnsibleFilterError(f"orthanc_client_certificate_files expects a dict, got {_type_name(settings)}")
    files = []
    for variable in _CLIENT_CERTIFICATE_PREFIX:
        for item in settings.get(variable) or []:
            if isinstance(item, dict) and item.get("certificate"):
                certificate, key = client_certificate_paths(variable, item["name"], config_dir)
                files.append({"path": certificate, "content": _pem_text(item["certificate"]), "secret": False})
                files.append({"path": key, "content": _pem_text(item.get("certificate_key", "")), "secret": True})
    return sorted(files, key=lambda f: (f["secret"], f["path"]))


def _http_remote(item, extra_keys, variable, config_dir):
    entry = {"Url": item["url"]}
    if item.get("username"):
        entry["Username"] = item["username"]
        entry["Password"] = item.get("password", "")
    if item.get("http_headers"):
        entry["HttpHeaders"] = dict(item["http_headers"])
    for key, orthanc_key in (("certificate_file", "CertificateFile"),
                             ("certificate_key_file", "CertificateKeyFile"),
                             ("certificate_key_password", "CertificateKeyPassword")):
        if item.get(key):
            entry[orthanc_key] = item[key]
    if item.get("certificate"):
        if config_dir is None:
            raise AnsibleFilterError(f"{variable}[{item['name']}]: a client certificate given as PEM content "
                                     f"needs the configuration directory: {variable}(config_dir)")
        entry["CertificateFile"], entry["CertificateKeyFile"] = client_certificate_paths(
            variable, item["name"], config_dir)
    if item.get("timeout") is not None:
        entry["Timeout"] = int(item["timeout"])
    for key, orthanc_key in extra_keys:
        if item.get(key) is not None:
            entry[orthanc_key] = bool(item[key])
    return entry


def orthanc_peers(peers, config_dir=None):
    """Turn a list of peer dicts into Orthanc's OrthancPeers object form.

    ``config_dir``: the configuration directory as Orthanc sees it, where client
    certificates given as PEM content are written (client_certificate_paths).
    """
    return {item["name"]: _http_remote(item, (), "orthanc_peers", config_dir)
            for item in _require_list(peers, "orthanc_peers")}


def dicomweb_client_certificate_errors(item, where):
    """Why a DICOMweb server item's client certificate settings would stop Orthanc, as
    '<where>.<key>: <problem>' strings (empty when fine).

    Orthanc's WebServiceParameters (read for every DicomWeb.Servers entry at start-up)
    refuses a CertificateFile without a non-empty CertificateKeyPassword, and ignores a
    key file or password without a CertificateFile; the files are read on the Orthanc
    host, so they are absolute paths there. The certificate and key may instead be given
    as PEM content (``certificate``, ``certificate_key``), which the role writes on the
    host: one way or the other for an item, not both. Whether the PEM content itself is
    sound is checked by pacs_tls_client_certificate_errors (filter_plugins/pacs_tls.py).
    """
    certificate, key, password = (item.get(k) for k in ("certificate_file", "certificate_key_file",
                                                          "certificate_key_password"))
    if item.get("certificate") or item.get("certificate_key"):
        return _client_certificate_content_errors(item, where)
    errors = []
    for name, value in (("certificate_file", certificate), ("certificate_key_file", key)):
        if value not in (None, "") and (not isinstance(value, str) or not value.startswith("/")
                                        or any(ord(c) < 0x20 for c in value)):
            errors.append(f"{where}.{name}: {value!r} must be an absolute path on the Orthanc host")
    if certificate:
        if not key:
            errors.append(f"{where}.certificate_key_file: is empty but certificate_file is set; "
                          "Orthanc needs the client key too")
        if not password:
            errors.append(f"{where}.certificate_key_password: is empty but certificate_file is set; "
                          "Orthanc refuses a client certificate without a key password (it stops at "
                          "start-up): put the key's password in Ansible Vault")
    elif key or password:
        errors.append(f"{where}.certificate_file: is empty but "
                      f"{'certificate_key_file' if key else 'certificate_key_password'} is set; "
                      "Orthanc ignores a client key without its certificate")
    return errors


def _client_certificate_content_errors(item, where):
    """dicomweb_client_certificate_errors for an item that gives PEM content."""
    errors = []
    for name in ("certificate_file", "certificate_key_file"):
        if item.get(name):
            errors.append(f"{where}.{name}: is set together with certificate/certificate_key; give either "
                          "the PEM content (certificate, certificate_key) or paths on the Orthanc host "
                          "(certificate_file, certificate_key_file), not both")
    for name in ("certificate", "certificate_key"):
        value = item.get(name)
        if value not in (None, "") and not isinstance(value, str):
            errors.append(f"{where}.{name}: must be PEM text, got {_type_name(value)}")
    if not item.get("certificate"):
        errors.append(f"{where}.certificate: is empty but certificate_key is set; "
                      "Orthanc ignores a client key without its certificate")
    elif not item.get("certificate_key"):
        errors.append(f"{where}.certificate_key: is empty but certificate is set; "
                      "Orthanc needs the client key too: put it in Ansible Vault")
    if item.get("certificate") and not item.get("certificate_key_password"):
        errors.append(f"{where}.certificate_key_password: is empty but certificate is set; "
                      "Orthanc refuses a client certificate without a key password (it stops at "
                      "start-up): put the key's password in Ansible Vault")
    return errors


def orthanc_dicomweb_servers(servers, config_dir=None):
    """Turn a list of DICOMweb server dicts into the DicomWeb.Servers object form
    (``config_dir`` as for orthanc_peers)."""
    return {item["name"]: _http_remote(item, (("has_delete", "HasDelete"),
                                              ("chunked_transfers", "ChunkedTransfers")),
                                       "orthanc_dicomweb_servers", config_dir)
            for item in _require_list(servers, "orthanc_dicomweb_servers")}


def orthanc_registered_users(users):
    """Turn a list of ``{name, password}`` into Orthanc's RegisteredUsers."""
    return {item["name"]: item["password"]
            for item in _require_list(users, "orthanc_users")}


def _label(item, index):
    name = item.get("name") if isinstance(item, dict) else None
    return str(name) if name not in (None, "") else f"#{index}"


def _check_list(settings, variable, errors):
    value = settings.get(variable)
    if value is None:
        return []
    if not isinstance(value, list):
        errors.append(f"{variable}: must be a list, got {_type_name(value)}")
        return []
    good = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            errors.append(f"{variable}[#{index}]: must be a dict, got {_type_name(item)} {item!r}")
        else:
            good.append((index, item))
    return good


_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def _norm_host(value):
    """A host name or address compared without case, brackets or a trailing dot."""
    return str(value).strip().strip("[]").rstrip(".").lower()


def _is_loopback(host):
    """True for loopback names and addresses (127.0.0.0/8, ::1) and the unspecified address."""
    if host in _LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def self_reference(settings, host, port):
    """The variable naming this Orthanc's port that host:port reaches, or ''.

    host:port is this Orthanc itself when the host is its own address
    (orthanc_address, ansible_host) or loopback, and the port is its DICOM or
    HTTP port.
    """
    if not isinstance(host, str) or not host.strip() or port_error(port):
        return ""
    own = {_norm_host(settings[k]) for k in ("orthanc_address", "ansible_host")
           if isinstance(settings.get(k), str) and settings[k].strip()}
    host = _norm_host(host)
    if host not in own and not _is_loopback(host):
        return ""
    for variable in ("orthanc_dicom_port", "orthanc_http_port"):
        if variable in settings and not port_error(settings[variable]) and \
                int(str(settings[variable])) == int(str(port)):
            return variable
    return ""


def _url_endpoint(url):
    """(host, port) of a valid http(s) URL, the port defaulting to the scheme's."""
    parts = urlsplit(url)
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def _modality_errors(settings, errors):
    seen_names, seen_aets, seen_triples = {}, {}, {}
    own_aet = settings.get("orthanc_dicom_aet")
    for variable in ("orthanc_modalities", "orthanc_dependent_modalities"):
        for index, item in _check_list(settings, variable, errors):
            where = f"{variable}[{_label(item, index)}]"
            unknown = sorted(set(item) - _MODALITY_KEYS)
            if unknown:
                errors.append(f"{where}: unknown key(s) {', '.join(unknown)}; known keys are "
                              f"{', '.join(sorted(_MODALITY_KEYS))}")
            name = item.get("name")
            if rest_name_error(name):
                errors.append(f"{where}.name: {rest_name_error(name)}")
            elif name.lower() in seen_names:
                errors.append(f"{where}.name: {name!r} is already used by "
                              f"{seen_names[name.lower()]}; modality names must be unique "
                              "(compared without case)")
            else:
                seen_names[name.lower()] = where
            aet = item.get("aet")
            problem = dicom_ae_title_error(aet) if "aet" in item else "is missing"
            if problem:
                errors.append(f"{where}.aet: {problem}")
            else:
                if aet == own_aet:
                    errors.append(f"{where}.aet: {aet!r} is Orthanc's own AE title "
                                  "(orthanc_dicom_aet); a modality needs an AE of its own")
                if aet in seen_aets:
                    errors.append(f"{where}.aet: {aet!r} is also the AE title of {seen_aets[aet]}; "
                                  "Orthanc finds modalities by AE title for access checks and "
                                  "C-MOVE, so each needs its own")
                else:
                    seen_aets[aet] = where
            problem = host_error(item.get("host")) if "host" in item else "is missing"
            if problem:
                errors.append(f"{where}.host: {problem}")
            problem = port_error(item.get("port")) if "port" in item else "is missing"
            if problem:
                errors.append(f"{where}.port: {problem}")
            if "manufacturer" in item and manufacturer_error(item["manufacturer"]):
                errors.append(f"{where}.manufacturer: {manufacturer_error(item['manufacturer'])}")
            own_port = self_reference(settings, item.get("host"), item.get("port"))
            if own_port:
                source = (f" (the DQR receiver of xnat_dqr_servers[{name}])"
                          if variable == "orthanc_dependent_modalities" else "")
                errors.append(f"{where}.host: {item.get('host')}:{item.get('port')} is this Orthanc itself "
                              f"(its own address or loopback, and {own_port}){source}; a modality must be "
                              "another DICOM node")
            for flag in list(_MODALITY_FLAGS) + ["expected_offline"]:
                if flag in item and not isinstance(item[flag], bool):
                    errors.append(f"{where}.{flag}: must be true or false, got {item[flag]!r}")
            if item.get("local_aet") is not None and dicom_ae_title_error(item["local_aet"]):
                errors.append(f"{where}.local_aet: {dicom_ae_title_error(item['local_aet'])}")
            triple = (aet, item.get("host"), item.get("port"))
            if None not in triple:
                if triple in seen_triples:
                    errors.append(f"{where}: AE/host/port {aet}@{triple[1]}:{triple[2]} duplicates "
                                  f"{seen_triples[triple]}")
                else:
                    seen_triples[triple] = where


def _unique_name(name, name_error, where, seen, errors):
    """Append to errors why an item's name is refused (name_error's reason, or a name already
    used by another item of the list, compared without case); seen maps the names so far
    (lower case) to their items."""
    problem = name_error(name)
    if problem:
        errors.append(f"{where}.name: {problem}")
    elif name.lower() in seen:
        errors.append(f"{where}.name: {name!r} is already used by {seen[name.lower()]}; names must be "
                      "unique (compared without case)")
    else:
        seen[name.lower()] = where


def _http_remote_errors(settings, variable, errors):
    seen = {}
    for index, item in _check_list(settings, variable, errors):
        where = f"{variable}[{_label(item, index)}]"
        unknown = sorted(set(item) - _HTTP_REMOTE_KEYS)
        if unknown:
            errors.append(f"{where}: unknown key(s) {', '.join(unknown)}")
        _unique_name(item.get("name"), rest_name_error, where, seen, errors)
        problem = url_error(item.get("url")) if "url" in item else "is missing"
        if problem:
            errors.append(f"{where}.url: {problem}")
        elif self_reference(settings, *_url_endpoint(item["url"])):
            errors.append(f"{where}.url: {_show_url(item['url'])!r} is this Orthanc itself (its own address "
                          f"or loopback, and {self_reference(settings, *_url_endpoint(item['url']))}); "
                          "it must be another server")
        errors.extend(http_headers_errors(f"{where}.http_headers", item.get("http_headers")))
        if item.get("username") and not item.get("password"):
            errors.append(f"{where}.password: is empty but a username is set; "
                          "put the password in Ansible Vault")


def _user_errors(settings, errors):
    users = _check_list(settings, "orthanc_users", errors)
    if settings.get("orthanc_authentication_enabled", True) and not users:
        errors.append("orthanc_users: is empty but orthanc_authentication_enabled is true; "
                      "define at least one user with a password from Ansible Vault")
    seen = set()
    for index, item in users:
        where = f"orthanc_users[{_label(item, index)}]"
        name, password = item.get("name"), item.get("password")
        if not isinstance(name, str) or not name or ":" in name:
            errors.append(f"{where}.name: {name!r} must be a non-empty string without ':'")
        elif name in seen:
            errors.append(f"{where}.name: {name!r} is defined twice")
        else:
            seen.add(name)
        if not isinstance(password, str):
            errors.append(f"{where}.password: is missing; put it in Ansible Vault")
        elif password.strip().lower() in WELL_KNOWN_PASSWORDS or password == name:
            errors.append(f"{where}.password: is a well-known or empty password (or equals the "
                          "user name); a PACS on a hospital network needs a real secret from "
                          "Ansible Vault")
        elif len(password) < 8:
            errors.append(f"{where}.password: is {len(password)} characters; use at least 8")


def _extra_config_errors(settings, errors):
    extra = settings.get("orthanc_extra_config") or {}
    if not isinstance(extra, dict):
        errors.append(f"orthanc_extra_config: must be a dict, got {_type_name(extra)}")
        return
    managed_lower = {key.lower(): (key, var) for key, var in MANAGED_KEYS.items()}
    for key in extra:
        hit = managed_lower.get(str(key).lower())
        if hit and hit[0] == key:
            errors.append(f"orthanc_extra_config[{key}]: {key} is managed by {hit[1]}; "
                          f"set {hit[1]} instead so one Orthanc key has one source")
        elif hit:
            errors.append(f"orthanc_extra_config[{key}]: differs only in case from {hit[0]} "
                          f"(managed by {hit[1]}); Orthanc would ignore it or read it twice")
        elif str(key).lower() == "dicomweb" and key != "DicomWeb":
            errors.append(f"orthanc_extra_config[{key}]: differs only in case from DicomWeb, the section "
                          "the role renders; the DICOMweb plugin would ignore it")
    dicomweb = extra.get("DicomWeb")
    if isinstance(dicomweb, dict):
        managed_dicomweb = {key.lower(): (key, var) for key, var in MANAGED_DICOMWEB_KEYS.items()}
        for key in dicomweb:
            hit = managed_dicomweb.get(str(key).lower())
            if hit and hit[0] == key:
                errors.append(f"orthanc_extra_config[DicomWeb.{key}]: managed by {hit[1]}; set {hit[1]} instead")
            elif hit:
                errors.append(f"orthanc_extra_config[DicomWeb.{key}]: differs only in case from {hit[0]} "
                              f"(managed by {hit[1]}); the DICOMweb plugin would ignore it")


def orthanc_config_errors(settings):
    """Validate the orthanc role's settings (a dict of its variables).

    Returns a list of error strings, empty when everything is valid. Checks are
    cross-field: they complement the type checks of meta/argument_specs.yml.
    """
    if not isinstance(settings, dict):
        raise AnsibleFilterError(f"orthanc_config_errors expects a dict, got {_type_name(settings)}")
    errors = []
    aet = settings.get("orthanc_dicom_aet")
    problem = dicom_ae_title_error(aet)
    if problem:
        errors.append(f"orthanc_dicom_aet: {problem}")
    ports = {}
    for variable in ("orthanc_dicom_port", "orthanc_http_port"):
        if variable in settings:
            problem = port_error(settings[variable])
            if problem:
                errors.append(f"{variable}: {problem}")
            else:
                ports.setdefault(int(settings[variable]), []).append(variable)
    for port, variables in ports.items():
        if len(variables) > 1:
            errors.append(f"{variables[1]}: port {port} is also {variables[0]}; "
                          "DICOM and HTTP need their own ports")
    method = settings.get("orthanc_install_method", "package")
    if method not in ("package", "container"):
        errors.append(f"orthanc_install_method: {method!r} is not one of package, container")
    database = settings.get("orthanc_database", "sqlite")
    if database not in ("sqlite", "postgresql"):
        errors.append(f"orthanc_database: {database!r} is not one of sqlite, postgresql")
    elif database == "postgresql":
        if host_error(settings.get("orthanc_postgresql_host")):
            errors.append(f"orthanc_postgresql_host: {host_error(settings.get('orthanc_postgresql_host'))}")
        if not settings.get("orthanc_postgresql_password"):
            errors.append("orthanc_postgresql_password: is empty; put it in Ansible Vault")
    if "orthanc_config_backups" in settings:
        backups = settings["orthanc_config_backups"]
        if isinstance(backups, bool) or not str(backups).isdigit():
            errors.append(f"orthanc_config_backups: {backups!r} is not a whole number >= 0")
    _user_errors(settings, errors)
    _modality_errors(settings, errors)
    _http_remote_errors(settings, "orthanc_peers", errors)
    _http_remote_errors(settings, "orthanc_dicomweb_servers", errors)
    for variable in ("orthanc_peers", "orthanc_dicomweb_servers"):
        for index, item in _check_list(settings, variable, []):
            errors.extend(dicomweb_client_certificate_errors(item, f"{variable}[{_label(item, index)}]"))
    if settings.get("orthanc_webhook_url"):
        problem = url_error(settings["orthanc_webhook_url"])
        if problem:
            errors.append(f"orthanc_webhook_url: {problem}")
    errors.extend(http_headers_errors("orthanc_webhook_headers", settings.get("orthanc_webhook_headers"),
                                      reserved=("Content-Type",)))
    tls = [settings.get(k) for k in ("orthanc_dicom_tls_certificate", "orthanc_dicom_tls_private_key",
                                     "orthanc_dicom_tls_trusted_certificates")]
    if any(tls) and not all(tls):
        errors.append("orthanc_dicom_tls_certificate: DICOM TLS needs the certificate, the private "
                      "key and the trusted certificates together; some are empty")
    https = settings.get("orthanc_https_certificate")
    if https and ("PRIVATE KEY" not in https or "CERTIFICATE" not in https):
        errors.append("orthanc_https_certificate: must be one PEM holding the certificate and its "
                      "private key (Orthanc's SslCertificate)")
    elif https and not settings.get("orthanc_https_native_supported", True):
        errors.append("orthanc_https_certificate: Orthanc 1.10.1 from Debian 12 packages cannot serve "
                      "HTTPS (its CivetWeb loads OpenSSL at run time and drops every TLS connection); "
                      "use orthanc_install_method: container, or terminate TLS in a reverse proxy "
                      "in front of the HTTP port and leave this empty")
    for index, item in _check_list(settings, "orthanc_lua_scripts", errors):
        name = item.get("name")
        if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9_.-]+\.lua\Z", name):
            errors.append(f"orthanc_lua_scripts[{_label(item, index)}].name: {name!r} must be a "
                          "file name ending in .lua")
        if not item.get("content"):
            errors.append(f"orthanc_lua_scripts[{_label(item, index)}].content: is empty")
    errors.extend(orthanc_python_errors(settings))
    _extra_config_errors(settings, errors)
    for variable, value in settings.items():
        errors.extend(json_value_errors(variable, value, case_keys=variable == "orthanc_extra_config"))
    return errors


_SECRET_KEYS = {"Password", "CertificateKeyPassword"}
REDACTED = "********"


def orthanc_redact(config):
    """Return a copy of an Orthanc configuration with every secret masked.

    Masks the values of RegisteredUsers and of every ``Password`` and
    ``CertificateKeyPassword`` key at any depth, so the result can be shown in
    ``--diff`` output and kept readable on disk.
    """
    if not isinstance(config, dict):
        raise AnsibleFilterError(f"orthanc_redact expects a dict, got {_type_name(config)}")

    def walk(value, key=None):
        if isinstance(value, dict):
            if key == "RegisteredUsers":
                return {user: REDACTED for user in value}
            return {k: (REDACTED if k in _SECRET_KEYS and v else walk(v, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(config)


# Sections Orthanc can change at run time through its REST API: (path in the
# configuration, REST collection). Everything else is read at start-up only.
_LIVE_SECTIONS = ((("DicomModalities",), "/modalities"),
                  (("OrthancPeers",), "/peers"),
                  (("DicomWeb", "Servers"), "servers"))


def _without_live_sections(config):
    stripped = {k: v for k, v in config.items() if k not in ("DicomModalities", "OrthancPeers")}
    if isinstance(stripped.get("DicomWeb"), dict):
        stripped["DicomWeb"] = {k: v for k, v in stripped["DicomWeb"].items() if k != "Servers"}
    return stripped


def orthanc_live_changes(previous, new):
    """Compare two Orthanc configurations and say how to apply the change.

    Returns ``{"restart": bool, "calls": [...]}``. ``restart`` is true when a
    key that Orthanc reads only at start-up differs (or there is no previous
    configuration). ``calls`` lists the REST calls that apply changed modalities,
    peers and DICOMweb servers to a running Orthanc: ``{"method", "path",
    "body", "secret"}`` with ``path`` relative to Orthanc's root URL.
    """
    if not isinstance(previous, dict) or not isinstance(new, dict):
        raise AnsibleFilterError("orthanc_live_changes expects two dicts, got "
                                 f"{_type_name(previous)} and {_type_name(new)}")
    restart = not previous or _without_live_sections(previous) != _without_live_sections(new)
    root = str((new.get("DicomWeb") or {}).get("Root", "/dicom-web/")).rstrip("/")
    calls = []
    for path, collection in _LIVE_SECTIONS:
        old, cur = previous, new
        for key in path:
            old = (old or {}).get(key) or {}
            cur = (cur or {}).get(key) or {}
        base = f"{root}/servers" if collection == "servers" else collection
        secret = collection != "/modalities"
        for name in sorted(cur):
            if old.get(name) != cur[name]:
                calls.append({"method": "PUT", "path": f"{base}/{name}", "body": cur[name], "secret": secret})
        for name in sorted(set(old) - set(cur)):
            calls.append({"method": "DELETE", "path": f"{base}/{name}", "body": None, "secret": False})
    return {"restart": restart, "calls": calls}


def orthanc_parse_config(text):
    """Parse an orthanc.json as the role renders it (``//`` comment lines allowed).

    Returns {} for an empty or unreadable text, so a missing file reads as "no
    previous configuration".
    """
    import json

    if not isinstance(text, str) or not text.strip():
        return {}
    try:
        value = json.loads("".join(line for line in text.splitlines(True)
                                   if not line.lstrip().startswith("//")))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class FilterModule:
    """Filters for Orthanc's configuration structures."""

    def filters(self):
        return {
            "orthanc_modalities": orthanc_modalities,
            "orthanc_peers": orthanc_peers,
            "orthanc_dicomweb_servers": orthanc_dicomweb_servers,
            "orthanc_client_certificate_files": orthanc_client_certificate_files,
            "orthanc_registered_users": orthanc_registered_users,
            "orthanc_config_errors": orthanc_config_errors,
            "dicom_ae_title_error": dicom_ae_title_error,
            "orthanc_redact": orthanc_redact,
            "orthanc_live_changes": orthanc_live_changes,
            "orthanc_parse_config": orthanc_parse_config,
            "orthanc_lua_string": orthanc_lua_string,
            "orthanc_python_errors": orthanc_python_errors,
            "orthanc_python_set_id": orthanc_python_set_id,
            "orthanc_python_script": orthanc_python_script,
        }
