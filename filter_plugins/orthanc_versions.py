"""Which Orthanc version a host runs, which keys that version reads, and the inventory's
keys of newer versions: checked, then rendered only where the version has them.

The one table of versions and keys of the project. Every function is pure. The version
comes from, in this order: ``orthanc_version`` when the inventory sets it; for the
container method the image's tag (``26.8.1`` is an orthancteam/orthanc release, ``1.12.7``
an Orthanc version); for the package method what ``apt-cache policy orthanc`` says on the
host (the installed package, or the candidate that the role is about to install).
"""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: orthanc_target_version
short_description: The Orthanc version a host runs and the keys of newer versions it may render
description:
  - C(orthanc_target_version) returns C({version, source, assumed}) from C(orthanc_version), the container
    image's tag, or the output of C(apt-cache policy orthanc) on the host.
  - >-
    C(orthanc_version_errors) lists the inventory's keys that the version lacks, and the problems of the newer
    keys themselves, as C(<variable>[<item>]: <problem>) strings.
  - C(orthanc_versioned_config) returns the top-level keys of newer versions to merge into orthanc.json.
  - C(orthanc_offline_version_errors) is C(orthanc_version_errors) with the version known without the host
    (container tag or C(orthanc_version)); only the checks that need no version otherwise.
positional: _input
options:
  _input:
    description: The settings (C(__orthanc_version_settings) of roles/orthanc/vars/main.yml).
    type: dict
    required: true
"""

EXAMPLES = r"""
__orthanc_version: "{{ __orthanc_version_settings | orthanc_target_version(__orthanc_apt_policy.stdout | default('')) }}"
errors: "{{ __orthanc_version_settings | orthanc_version_errors(__orthanc_version) }}"
DicomDefaultRetrieveMethod: "{{ __orthanc_version_settings | orthanc_versioned_config }}"
"""

RETURN = r"""
_value:
  description: A dict (version, or keys to merge), or a list of error strings.
  type: raw
"""

# The newest Orthanc the role is tested against; an unknown image tag is assumed to run it.
LATEST = "1.13.0"

# Where each top-level key of orthanc.json first appeared: Orthanc 1.12.7's NEWS and the
# "new in Orthanc x.y.z" notes of its Configuration.json (Debian 13's /etc/orthanc/orthanc.json).
# Older versions ignore these keys without a word, so the role renders none of them there.
# (1.12.7 documents "RejectedSopClasses" but its binary reads "RejectSopClasses": neither is here.)
KEYS_SINCE = {
    "ExtraMainDicomTags": "1.11.0",
    "Warnings": "1.11.0",
    "MaximumStorageMode": "1.11.2",
    "KeepAliveTimeout": "1.11.3",
    "JobsEngineThreadsCount": "1.11.3",
    "RestApiWriteToFileSystemEnabled": "1.12.0",
    "DicomTlsMinimumProtocolVersion": "1.12.4",
    "DicomTlsCiphersAccepted": "1.12.4",
    "ReadOnly": "1.12.5",
    "DicomDefaultRetrieveMethod": "1.12.6",
    "AcceptedSopClasses": "1.12.6",
    "MaximumConcurrentDcmtkTranscoders": "1.12.6",
    "HttpBindAddresses": "1.12.10",
    "MaximumRequestBodySizeMB": "1.12.11",
}
# Keys of a DicomModalities entry (object form).
MODALITY_KEYS_SINCE = {"RetrieveMethod": "1.12.6"}
# Keys the role renders itself for every version (so never refused on an older one).
ALWAYS_RENDERED = {"RestApiWriteToFileSystemEnabled"}

# orthancteam/orthanc tags (year.month.patch) by year.month -> the Orthanc they run
# (orthanc-builder release notes).
ORTHANCTEAM_TAGS = {"26.8": "1.13.0", "24.12": "1.12.5"}

# Orthanc's RetrieveMethod values, compared case-sensitively (Orthanc 1.12.7 stops at
# start-up on any other: 'RetrieveMethod can be "C-MOVE", "C-GET" or "SystemDefault"').
RETRIEVE_METHODS = ("C-MOVE", "C-GET", "SystemDefault")
# DicomTlsMinimumProtocolVersion: 0 the DICOM BCP 195 profile (TLS 1.2+, Orthanc's default
# and the only behaviour before 1.12.4), 1 SSL3+, 2 TLS 1.0+, 3 TLS 1.1+, 4 TLS 1.2+, 5 TLS 1.3.
TLS_PROTOCOL_VERSIONS = (0, 1, 2, 3, 4, 5)

_VERSION_RE = re.compile(r"^(?:\d+:)?(\d+)\.(\d+)(?:\.(\d+))?")


def _type_name(value):
    """The built-in type a value is (Ansible wraps str, dict, ... in tagged subclasses)."""
    return next(t.__name__ for t in type(value).__mro__ if t.__module__ == "builtins")


def version_tuple(text):
    """(major, minor, patch) of an Orthanc or Debian package version ('1:1.12.7+dfsg-4'), or None."""
    match = _VERSION_RE.match(str(text).strip()) if text is not None else None
    if not match:
        return None
    return tuple(int(part or 0) for part in match.groups())


def _plain(text):
    return ".".join(str(part) for part in version_tuple(text))


def version_from_image(image):
    """{version, source, assumed} for a container image reference.

    A tag 1.x.y is the Orthanc version itself (jodogne/orthanc, local/orthanc); a tag
    YY.M.P is an orthancteam/orthanc release, looked up in ORTHANCTEAM_TAGS. Anything
    else (latest, no tag, an unknown release) is assumed to run LATEST, and says so.
    """
    name = str(image or "").split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else "latest"
    parts = version_tuple(tag)
    if parts and parts[0] == 1 and re.match(r"^\d+\.\d+\.\d+$", tag):
        return {"version": _plain(tag), "source": f"image {name}", "assumed": False}
    release = re.match(r"^(\d{2})\.(\d{1,2})\.\d+$", tag)
    if release and f"{release.group(1)}.{int(release.group(2))}" in ORTHANCTEAM_TAGS:
        version = ORTHANCTEAM_TAGS[f"{release.group(1)}.{int(release.group(2))}"]
        return {"version": version, "source": f"image {name}, an orthancteam/orthanc release", "assumed": False}
    return {"version": LATEST, "assumed": True,
            "source": f"assumed: the tag {tag!r} of image {name} is not in the role's table "
                      "(filter_plugins/orthanc_versions.py); set orthanc_version to the Orthanc it runs"}


def version_from_apt_policy(text, package_state="present"):
    """{version, source, assumed} from ``apt-cache policy orthanc`` (LC_ALL=C), or None.

    The installed version is what Orthanc runs (state present keeps it); the candidate
    is what the role installs on a fresh host, or upgrades to with state latest.
    """
    found = {}
    for line in str(text or "").splitlines():
        key, _, value = line.strip().partition(":")
        if key in ("Installed", "Candidate") and value.strip() not in ("", "(none)"):
            found[key] = value.strip()
    for key in (("Candidate", "Installed") if package_state == "latest" else ("Installed", "Candidate")):
        if key in found and version_tuple(found[key]):
            how = "installed on this host" if key == "Installed" else "the candidate the role installs"
            return {"version": _plain(found[key]), "assumed": False,
                    "source": f"Debian package orthanc {found[key]}, {how}"}
    return None


def orthanc_apt_installed(text):
    """The upstream version of the orthanc package installed, from ``apt-cache policy orthanc``
    (LC_ALL=C): "1.10.1" for "Installed: 1.10.1+dfsg-2", "" when none is installed."""
    for line in str(text or "").splitlines():
        key, _, value = line.strip().partition(":")
        if key == "Installed" and version_tuple(value.strip()) and value.strip() != "(none)":
            return _plain(value.strip())
    return ""


def orthanc_target_version(settings, apt_policy=""):
    """The Orthanc version this host runs: {version, source, assumed}, or None when unknown.

    ``orthanc_version`` wins; else the container image's tag; else, for the package
    method, the output of ``apt-cache policy orthanc`` read on the host.
    """
    if not isinstance(settings, dict):
        raise AnsibleFilterError(f"orthanc_target_version expects a dict, got {_type_name(settings)}")
    override = settings.get("orthanc_version")
    if override not in (None, ""):
        return {"version": _plain(override) if version_tuple(override) else str(override),
                "source": "orthanc_version in the inventory", "assumed": False}
    if settings.get("orthanc_install_method") == "container":
        return version_from_image(settings.get("orthanc_container_image"))
    return version_from_apt_policy(apt_policy, settings.get("orthanc_package_state", "present"))


def _requests(settings):
    """(where, Orthanc key) of every newer key the inventory asks for."""
    found = []
    if settings.get("orthanc_dicom_default_retrieve_method") not in (None, ""):
        found.append(("orthanc_dicom_default_retrieve_method", "DicomDefaultRetrieveMethod"))
    if settings.get("orthanc_dicom_tls_certificate"):  # the DICOM TLS keys are rendered only with it
        if str(settings.get("orthanc_dicom_tls_minimum_protocol_version") or 0) not in ("0", ""):
            found.append(("orthanc_dicom_tls_minimum_protocol_version", "DicomTlsMinimumProtocolVersion"))
        if settings.get("orthanc_dicom_tls_ciphers_accepted"):
            found.append(("orthanc_dicom_tls_ciphers_accepted", "DicomTlsCiphersAccepted"))
    for index, item in enumerate(settings.get("orthanc_modalities") or []):
        if isinstance(item, dict) and item.get("retrieve_method") not in (None, ""):
            label = item.get("name") if item.get("name") not in (None, "") else f"#{index}"
            found.append((f"orthanc_modalities[{label}].retrieve_method", "RetrieveMethod"))
    extra = settings.get("orthanc_extra_config")
    if isinstance(extra, dict):
        found.extend((f"orthanc_extra_config[{key}]", key) for key in extra
                     if key in KEYS_SINCE and key not in ALWAYS_RENDERED)
    return found


def _since(key):
    return KEYS_SINCE.get(key) or MODALITY_KEYS_SINCE[key]


def _value_errors(settings):
    """The newer keys' own problems, whatever the version: values and how they combine."""
    errors = []
    override = settings.get("orthanc_version")
    if override not in (None, "") and not re.match(r"^1\.\d+\.\d+$", str(override)):
        errors.append(f"orthanc_version: {override!r} is not an Orthanc version like 1.12.7")
    method = settings.get("orthanc_dicom_default_retrieve_method")
    if method not in (None, "") and method not in ("C-MOVE", "C-GET"):
        errors.append(f"orthanc_dicom_default_retrieve_method: {method!r} is not one of C-MOVE, C-GET "
                      "(Orthanc compares it case-sensitively and stops at start-up on any other)")
    for index, item in enumerate(settings.get("orthanc_modalities") or []):
        value = item.get("retrieve_method") if isinstance(item, dict) else None
        if value not in (None, "") and value not in RETRIEVE_METHODS:
            label = item.get("name") if item.get("name") not in (None, "") else f"#{index}"
            errors.append(f"orthanc_modalities[{label}].retrieve_method: {value!r} is not one of "
                          f"{', '.join(RETRIEVE_METHODS)} (Orthanc compares it case-sensitively and stops "
                          "at start-up on any other)")
    tls = bool(settings.get("orthanc_dicom_tls_certificate"))
    protocol = settings.get("orthanc_dicom_tls_minimum_protocol_version")
    ciphers = settings.get("orthanc_dicom_tls_ciphers_accepted") or []
    if protocol not in (None, "") and (isinstance(protocol, bool) or not str(protocol).isdigit()
                                       or int(str(protocol)) not in TLS_PROTOCOL_VERSIONS):
        errors.append(f"orthanc_dicom_tls_minimum_protocol_version: {protocol!r} is not one of 0-5 "
                      "(0 the DICOM BCP 195 profile, 1 SSL 3+, 2 TLS 1.0+, 3 TLS 1.1+, 4 TLS 1.2+, 5 TLS 1.3)")
        return errors
    protocol = int(str(protocol)) if protocol not in (None, "") else 0
    if not isinstance(ciphers, list) or not all(isinstance(c, str) and c for c in ciphers):
        errors.append("orthanc_dicom_tls_ciphers_accepted: must be a list of OpenSSL cipher names")
        return errors
    if (protocol or ciphers) and not tls:
        variable = ("orthanc_dicom_tls_minimum_protocol_version" if protocol
                    else "orthanc_dicom_tls_ciphers_accepted")
        errors.append(f"{variable}: DICOM TLS is off (orthanc_dicom_tls_certificate is empty), so Orthanc "
                      "would ignore it; set the DICOM TLS certificate, key and trusted certificates, or "
                      "leave it unset")
    elif protocol and not ciphers:
        errors.append(f"orthanc_dicom_tls_minimum_protocol_version: {protocol} leaves the DICOM BCP 195 "
                      "profile, and Orthanc then needs the accepted cipher suites: set "
                      "orthanc_dicom_tls_ciphers_accepted (OpenSSL names)")
    elif ciphers and not protocol:
        errors.append("orthanc_dicom_tls_ciphers_accepted: Orthanc refuses cipher suites with the default "
                      "DICOM BCP 195 profile (orthanc_dicom_tls_minimum_protocol_version 0) and stops at "
                      "start-up; set orthanc_dicom_tls_minimum_protocol_version 1-5 too")
    return errors


def orthanc_version_errors(settings, version):
    """Every problem of the inventory's newer keys for the version this host runs.

    ``version`` is orthanc_target_version's result (None: unknown). A key the version
    lacks is named with the variable, the item, the version it needs and the version
    the host runs: '<variable>[<item>]: needs Orthanc X or later; this host runs Y (source)'.
    """
    if not isinstance(settings, dict):
        raise AnsibleFilterError(f"orthanc_version_errors expects a dict, got {_type_name(settings)}")
    errors = _value_errors(settings)
    requests = _requests(settings)
    if not requests:
        return errors
    if not version or not version_tuple(version.get("version")):
        return errors + [f"{where}: needs Orthanc {_since(key)} or later, but the Orthanc version of this "
                         "host is unknown (apt-cache policy orthanc names no orthanc package); set "
                         "orthanc_version to the Orthanc it runs" for where, key in requests]
    runs = version_tuple(version["version"])
    for where, key in requests:
        if runs < version_tuple(_since(key)):
            errors.append(f"{where}: needs Orthanc {_since(key)} or later; this host runs "
                          f"{version['version']} ({version.get('source', 'unknown source')})")
    return errors


def orthanc_offline_version_errors(settings):
    """orthanc_version_errors where the version is known without the host (the container
    image's tag, or orthanc_version); else only the checks that need no version."""
    if not isinstance(settings, dict):
        raise AnsibleFilterError(f"orthanc_offline_version_errors expects a dict, got {_type_name(settings)}")
    offline = settings.get("orthanc_install_method") == "container" or settings.get("orthanc_version") not in (None, "")
    if offline:
        return orthanc_version_errors(settings, orthanc_target_version(settings))
    return _value_errors(settings)


def orthanc_versioned_config(settings):
    """The top-level keys of newer versions that the inventory sets, for orthanc.json.

    Unset variables (empty, 0, []) add nothing, so an inventory that sets none renders
    exactly what it did before; the DICOM TLS ones only with DICOM TLS on.
    """
    if not isinstance(settings, dict):
        raise AnsibleFilterError(f"orthanc_versioned_config expects a dict, got {_type_name(settings)}")
    config = {}
    if settings.get("orthanc_dicom_default_retrieve_method"):
        config["DicomDefaultRetrieveMethod"] = settings["orthanc_dicom_default_retrieve_method"]
    if settings.get("orthanc_dicom_tls_certificate"):
        protocol = settings.get("orthanc_dicom_tls_minimum_protocol_version")
        if protocol not in (None, "") and int(str(protocol)):
            config["DicomTlsMinimumProtocolVersion"] = int(str(protocol))
        if settings.get("orthanc_dicom_tls_ciphers_accepted"):
            config["DicomTlsCiphersAccepted"] = list(settings["orthanc_dicom_tls_ciphers_accepted"])
    return config


class FilterModule:
    """Filters for the Orthanc version a host runs and the keys of newer versions."""

    def filters(self):
        return {
            "orthanc_target_version": orthanc_target_version,
            "orthanc_apt_installed": orthanc_apt_installed,
            "orthanc_version_errors": orthanc_version_errors,
            "orthanc_offline_version_errors": orthanc_offline_version_errors,
            "orthanc_versioned_config": orthanc_versioned_config,
        }
