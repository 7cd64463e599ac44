# -*- coding: utf-8 -*-
"""Filters for TLS material in the inventory: the pacs_https role's preflight.

Pure functions of the data they are given (and of the clock, which a caller may
pass in), built on the ``cryptography`` library that ansible-core depends on.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import ExtensionOID, NameOID
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - ansible-core requires it
    HAS_CRYPTOGRAPHY = False

DOCUMENTATION = r"""
name: pacs_tls_errors
short_description: Preflight checks of the TLS material of the HTTPS front door
description:
  - "This file holds two pure filters built on the C(cryptography) library."
  - "C(pacs_tls_errors(settings)) - validates the pacs_https role's inputs and returns a list
    of error strings C(<variable>[<item>]: <problem>), every problem at once, empty when all is
    well: the certificate and key are PEM, the key matches the certificate, the certificate is
    valid now, its names (subjectAltName) include C(pacs_https_server_name) and every alias,
    it was issued by C(pacs_https_ca_certificate) when that is set, the CA files are PEM
    certificates, ports, client-certificate settings, upstreams and the body size."
  - "C(pacs_tls_certificate_info(pem)) - subject, issuer, names, expiry and days left of the
    first certificate of a PEM text."
  - "C(pacs_tls_client_certificate_errors(settings)) - the client certificates that
    C(orthanc_peers) and C(orthanc_dicomweb_servers) items give as PEM content (C(certificate),
    C(certificate_key), C(certificate_key_password)): the certificate is PEM and valid now, the key
    is PEM, C(certificate_key_password) decrypts it and it matches the certificate. Returns
    C(<variable>[<item>].<key>: <problem>) strings, empty when all is well; items that give
    paths on the host (C(certificate_file)) are left to Orthanc."
  - "Messages never contain the private key."
positional: _input
options:
  _input:
    description:
      - "C(pacs_tls_errors): a dict with the pacs_https_* variables (see roles/pacs_https/vars/main.yml)."
      - "C(pacs_tls_certificate_info): a PEM text."
      - "C(pacs_tls_client_certificate_errors): a dict with C(orthanc_peers) and C(orthanc_dicomweb_servers)."
    type: raw
    required: true
  now:
    description: The time to check validity at (timezone-aware datetime or ISO 8601 string); default now.
    type: raw
"""

EXAMPLES = r"""
- name: Validate
  ansible.builtin.assert:
    that: __errors | length == 0
    fail_msg: "{{ __errors }}"
  vars:
    __errors: "{{ settings | pacs_tls_errors }}"

- name: When does the certificate expire
  ansible.builtin.debug:
    msg: "{{ (pacs_https_certificate | pacs_tls_certificate_info).not_after }}"
"""

RETURN = r"""
_value:
  description:
    - "C(pacs_tls_errors): list of error strings, empty when the input is valid."
    - "C(pacs_tls_client_certificate_errors): list of error strings, empty when the input is valid."
    - "C(pacs_tls_certificate_info): dict with subject, issuer, names (list), not_before,
      not_after (ISO 8601, UTC) and days_left (int)."
  type: raw
"""

_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----\s.*?-----END CERTIFICATE-----", re.S)
_SIZE = re.compile(r"^[0-9]+[kKmMgG]?\Z")
# What reaches nginx's configuration unquoted: a host name (or IP address) and OpenSSL
# cipher names. Anything else (';', '{', quotes, spaces, newlines) would be nginx syntax.
_SERVER_NAME = re.compile(r"^(?=.{1,253}\Z)(\*|[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
                          r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\Z")
_CIPHER = re.compile(r"^[A-Za-z0-9_+!@=.-]{1,64}\Z")
_CLIENT_VERIFY = ("off", "optional", "on")


def _require_crypto():
    if not HAS_CRYPTOGRAPHY:  # pragma: no cover
        raise AnsibleFilterError("the pacs_tls filters need the Python library cryptography")


def _now(now):
    if now is None:
        return datetime.datetime.now(datetime.timezone.utc)
    if isinstance(now, str):
        try:
            now = datetime.datetime.fromisoformat(now)
        except ValueError as exc:
            raise AnsibleFilterError(f"now: {now!r} (type str) is not an ISO 8601 time") from exc
    if not isinstance(now, datetime.datetime):
        raise AnsibleFilterError(f"now expects a datetime or ISO 8601 string, got {now!r} of type {type(now).__name__}")
    return now if now.tzinfo else now.replace(tzinfo=datetime.timezone.utc)


def _load_certificates(text):
    """Every certificate of a PEM text; ValueError naming the problem."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("is empty")
    blocks = _PEM_CERT.findall(text)
    if not blocks:
        raise ValueError("is not PEM (no -----BEGIN CERTIFICATE----- block)")
    certificates = []
    for number, block in enumerate(blocks, 1):
        try:
            certificates.append(x509.load_pem_x509_certificate(block.encode("ascii")))
        except (ValueError, UnicodeEncodeError) as exc:
            raise ValueError(f"certificate {number} of the PEM text cannot be read ({exc})") from exc
    return certificates


def _load_private_key(text):
    if not isinstance(text, str) or not text.strip():
        raise ValueError("is empty; put the key in Ansible Vault")
    if "-----BEGIN" not in text or "PRIVATE KEY-----" not in text:
        raise ValueError("is not a PEM private key (no -----BEGIN ... PRIVATE KEY----- block)")
    if "ENCRYPTED" in text:
        raise ValueError("is encrypted with a passphrase; nginx needs it unencrypted (keep it in Ansible Vault instead)")
    try:
        return serialization.load_pem_private_key(text.strip().encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise ValueError(f"cannot be read as a PEM private key ({type(exc).__name__})") from None


def _public_bytes(key):
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _not_after(certificate):
    return getattr(certificate, "not_valid_after_utc", None) or certificate.not_valid_after.replace(tzinfo=datetime.timezone.utc)


def _not_before(certificate):
    return getattr(certificate, "not_valid_before_utc", None) or certificate.not_valid_before.replace(tzinfo=datetime.timezone.utc)


def _names(certificate):
    """(dns names, ip addresses) of the subjectAltName, or None without the extension."""
    try:
        san = certificate.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return None
    return ([name.lower() for name in san.get_values_for_type(x509.DNSName)],
            san.get_values_for_type(x509.IPAddress))


def _dns_match(pattern, name):
    """RFC 6125: a wildcard only as the whole left-most label, matching one label."""
    if pattern == name:
        return True
    if pattern.startswith("*.") and "." in name:
        return name.split(".", 1)[1] == pattern[2:] and name.split(".", 1)[0] != ""
    return False


def certificate_covers(certificate, name):
    """Whether a certificate's subjectAltName covers a host name or IP address."""
    names = _names(certificate)
    if names is None:
        return False
    dns, ips = names
    try:
        address = ipaddress.ip_address(str(name))
    except ValueError:
        wanted = str(name).lower().rstrip(".")
        return any(_dns_match(pattern, wanted) for pattern in dns)
    return address in ips


def _issued_by(certificate, issuers):
    """Whether certificate is one of issuers or is signed by one of them."""
    for issuer in issuers:
        if certificate == issuer:
            return True
        try:
            certificate.verify_directly_issued_by(issuer)
            return True
        except (ValueError, TypeError, InvalidSignature):
            continue
    return False


def _certificate_errors(settings, now, errors):
    variable = "pacs_https_certificate"
    try:
        chain = _load_certificates(settings.get(variable))
    except ValueError as exc:
        errors.append(f"{variable}[]: {exc}")
        chain = None
    key = None
    try:
        key = _load_private_key(settings.get("pacs_https_private_key"))
    except ValueError as exc:
        errors.append(f"pacs_https_private_key[]: {exc}")
    if not chain:
        return
    leaf = chain[0]
    subject = leaf.subject.rfc4514_string() or "(empty subject)"
    if key is not None and _public_bytes(key.public_key()) != _public_bytes(leaf.public_key()):
        errors.append(f"pacs_https_private_key[]: does not match the certificate {subject} of pacs_https_certificate "
                      "(their public keys differ)")
    for certificate in chain:
        name = certificate.subject.rfc4514_string() or "(empty subject)"
        if _not_after(certificate) < now:
            errors.append(f"{variable}[{name}]: expired on {_not_after(certificate).isoformat()}")
        elif _not_before(certificate) > now:
            errors.append(f"{variable}[{name}]: is not valid before {_not_before(certificate).isoformat()}")
    names = _names(leaf)
    if names is None:
        errors.append(f"{variable}[{subject}]: has no subjectAltName; clients check the names there, not the CN")
    else:
        for option in ("pacs_https_server_name", "pacs_https_server_aliases"):
            wanted = settings.get(option)
            for item in ([wanted] if option == "pacs_https_server_name" else (wanted or [])):
                if not isinstance(item, str) or not item:
                    continue  # reported by _syntax_errors
                if not certificate_covers(leaf, item):
                    shown = ", ".join(names[0] + [str(ip) for ip in names[1]]) or "none"
                    errors.append(f"{variable}[{subject}]: its names ({shown}) do not include {item} ({option})")
    for number, (child, parent) in enumerate(zip(chain, chain[1:]), 2):
        if not _issued_by(child, [parent]):
            errors.append(f"{variable}[{parent.subject.rfc4514_string()}]: certificate {number} of the chain did not "
                          f"issue certificate {number - 1}; put the server certificate first, then its issuers")
    ca_text = settings.get("pacs_https_ca_certificate")
    if isinstance(ca_text, str) and ca_text.strip():
        try:
            authorities = _load_certificates(ca_text)
        except ValueError:
            return  # reported by the CA check
        if not _issued_by(chain[-1], authorities):
            errors.append(f"{variable}[{subject}]: was not issued by pacs_https_ca_certificate "
                          f"({', '.join(a.subject.rfc4514_string() for a in authorities)})")


def _port_errors(settings, errors):
    ports = {}
    for variable in ("pacs_https_port", "pacs_https_http_port"):
        value = settings.get(variable)
        try:
            ok = not isinstance(value, bool) and 1 <= int(value) <= 65535
        except (TypeError, ValueError):
            ok = False
        if not ok:
            errors.append(f"{variable}[{value}]: must be a port number 1-65535")
        else:
            ports.setdefault(int(value), []).append(variable)
    redirect = str(settings.get("pacs_https_http_redirect", True)).lower() in ("true", "1", "yes", "on")
    if redirect and any(len(names) > 1 for names in ports.values()):
        errors.append(f"pacs_https_http_port[{settings.get('pacs_https_http_port')}]: is also pacs_https_port")


def _client_errors(settings, errors):
    mode = settings.get("pacs_https_client_verify", "off")
    if mode is False:
        mode = "off"
    elif mode is True:
        mode = "on"
    if mode not in _CLIENT_VERIFY:
        errors.append(f"pacs_https_client_verify[{mode}]: must be one of {', '.join(_CLIENT_VERIFY)}")
        return
    text = settings.get("pacs_https_client_ca_certificate")
    if mode != "off" or (isinstance(text, str) and text.strip()):
        try:
            _load_certificates(text)
        except ValueError as exc:
            errors.append(f"pacs_https_client_ca_certificate[]: {exc}"
                          + (f" (pacs_https_client_verify is {mode})" if mode != "off" else ""))
    locations = settings.get("pacs_https_client_certificate_locations") or []
    if not isinstance(locations, list):
        errors.append(f"pacs_https_client_certificate_locations[{locations}]: must be a list")
        return
    for item in locations:
        if not isinstance(item, str) or not item.startswith("/") or any(c in item for c in " ;{}\"'\\"):
            errors.append(f"pacs_https_client_certificate_locations[{item}]: must be a URI prefix starting with / "
                          "without spaces, quotes, braces or semicolons")
    if locations and mode != "optional":
        errors.append(f"pacs_https_client_certificate_locations[{', '.join(map(str, locations))}]: needs "
                      f"pacs_https_client_verify optional (it is {mode})")


def _upstream_errors(settings, errors):
    upstreams = settings.get("pacs_https_upstreams")
    if not isinstance(upstreams, list) or not upstreams:
        errors.append(f"pacs_https_upstreams[{upstreams}]: must list at least one Orthanc node")
        return
    seen = set()
    for item in upstreams:
        if not isinstance(item, Mapping):
            errors.append(f"pacs_https_upstreams[{item}]: must be a dict with host and port")
            continue
        host, port = item.get("host"), item.get("port")
        label = f"{host}:{port}"
        # written into nginx's upstream block as it is: no whitespace, control character or syntax
        if not isinstance(host, str) or not host or any(c in host for c in ";{}/'\"\\#$") \
                or any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in host):
            errors.append(f"pacs_https_upstreams[{label}]: host must be an address or host name")
        try:
            port_ok = not isinstance(port, bool) and 1 <= int(port) <= 65535
        except (TypeError, ValueError):
            port_ok = False
        if not port_ok:
            errors.append(f"pacs_https_upstreams[{label}]: port must be a port number 1-65535")
        if label in seen:
            errors.append(f"pacs_https_upstreams[{label}]: is listed twice")
        seen.add(label)


def _is_ip(text):
    """Whether text is an IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _syntax_errors(settings, errors):
    """Names and ciphers are written into nginx's configuration as they are: refuse syntax."""
    names = [settings.get("pacs_https_server_name")] + list(settings.get("pacs_https_server_aliases") or [])
    for option, item in zip(["pacs_https_server_name"] + ["pacs_https_server_aliases"] * (len(names) - 1), names):
        if not isinstance(item, str) or not (_SERVER_NAME.match(item) or _is_ip(item)):
            errors.append(f"{option}[{item!r}]: is not a host name or IP address (it is written into nginx's "
                          "server_name)")
    ciphers = settings.get("pacs_https_ciphers")
    if ciphers is not None:
        if not isinstance(ciphers, list) or not ciphers:
            errors.append(f"pacs_https_ciphers[{ciphers!r}]: must be a non-empty list of OpenSSL cipher names")
        else:
            for cipher in ciphers:
                if not isinstance(cipher, str) or not _CIPHER.match(cipher):
                    errors.append(f"pacs_https_ciphers[{cipher!r}]: is not an OpenSSL cipher name (letters, digits, "
                                  "_ - + ! @ = .)")


def pacs_tls_errors(settings, now=None):
    """Every problem of the pacs_https inputs, as "<variable>[<item>]: <problem>" strings."""
    _require_crypto()
    if not isinstance(settings, Mapping):
        raise AnsibleFilterError(f"pacs_tls_errors expects a dict, got {settings!r} of type {type(settings).__name__}")
    now = _now(now)
    errors = []
    _certificate_errors(settings, now, errors)
    ca_text = settings.get("pacs_https_ca_certificate")
    if ca_text not in (None, "") and not (isinstance(ca_text, str) and not ca_text.strip()):
        try:
            for authority in _load_certificates(ca_text):
                if _not_after(authority) < now:
                    errors.append(f"pacs_https_ca_certificate[{authority.subject.rfc4514_string()}]: "
                                  f"expired on {_not_after(authority).isoformat()}")
        except ValueError as exc:
            errors.append(f"pacs_https_ca_certificate[]: {exc}")
    _port_errors(settings, errors)
    _client_errors(settings, errors)
    _upstream_errors(settings, errors)
    _syntax_errors(settings, errors)
    size = settings.get("pacs_https_client_max_body_size")
    if not _SIZE.match(str(size)):
        errors.append(f"pacs_https_client_max_body_size[{size}]: must be a size like 4g, 500m or 0 (no limit)")
    return errors


def pacs_tls_certificate_info(pem, now=None):
    """Subject, issuer, names and expiry of the first certificate of a PEM text."""
    _require_crypto()
    try:
        certificate = _load_certificates(pem)[0]
    except ValueError as exc:
        raise AnsibleFilterError(f"pacs_tls_certificate_info: the PEM text {exc}") from exc
    names = _names(certificate) or ([], [])
    not_after = _not_after(certificate)
    common = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return {
        "subject": certificate.subject.rfc4514_string(),
        "common_name": common[0].value if common else "",
        "issuer": certificate.issuer.rfc4514_string(),
        "names": names[0] + [str(ip) for ip in names[1]],
        "not_before": _not_before(certificate).isoformat(),
        "not_after": not_after.isoformat(),
        "days_left": (not_after - _now(now)).days,
    }


def _load_encrypted_private_key(text, password):
    """A PEM private key decrypted with password (an unencrypted key is read as it is:
    OpenSSL asks for no password then); ValueError naming the key or the password."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("certificate_key: is empty; put the key in Ansible Vault")
    if "-----BEGIN" not in text or "PRIVATE KEY-----" not in text:
        raise ValueError("certificate_key: is not a PEM private key (no -----BEGIN ... PRIVATE KEY----- block)")
    data = text.strip().encode("ascii", "replace")
    try:
        return serialization.load_pem_private_key(data, password=str(password).encode("utf-8"))
    except TypeError:  # not encrypted: the password is not needed
        pass
    except ValueError:
        if "ENCRYPTED" in text:
            raise ValueError("certificate_key_password: does not decrypt certificate_key "
                             "(wrong password, or a cipher OpenSSL cannot read)") from None
        raise ValueError("certificate_key: cannot be read as a PEM private key") from None
    try:
        return serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ValueError("certificate_key: cannot be read as a PEM private key") from None


def client_certificate_item_errors(item, where, now):
    """The problems of one item's client certificate given as PEM content, as
    '<where>.<key>: <problem>' strings; keys left empty are reported by the orthanc role's
    own checks (orthanc_config_errors), not here."""
    text = item.get("certificate")
    if not isinstance(text, str) or not text.strip():
        return []
    errors = []
    try:
        chain = _load_certificates(text)
    except ValueError as exc:
        return [f"{where}.certificate: {exc}"]
    for certificate in chain:
        name = certificate.subject.rfc4514_string() or "(empty subject)"
        if _not_after(certificate) < now:
            errors.append(f"{where}.certificate: {name} expired on {_not_after(certificate).isoformat()}")
        elif _not_before(certificate) > now:
            errors.append(f"{where}.certificate: {name} is not valid before {_not_before(certificate).isoformat()}")
    key_text, password = item.get("certificate_key"), item.get("certificate_key_password")
    if not isinstance(key_text, str) or not key_text.strip() or password in (None, ""):
        return errors
    try:
        key = _load_encrypted_private_key(key_text, password)
    except ValueError as exc:
        return errors + [f"{where}.{exc}"]
    if _public_bytes(key.public_key()) != _public_bytes(chain[0].public_key()):
        errors.append(f"{where}.certificate_key: does not match certificate "
                      f"({chain[0].subject.rfc4514_string() or '(empty subject)'}; their public keys differ)")
    return errors


def pacs_tls_client_certificate_errors(settings, now=None):
    """Every problem of the client certificates given as PEM content by the items of
    orthanc_peers and orthanc_dicomweb_servers (see DOCUMENTATION)."""
    _require_crypto()
    if not isinstance(settings, Mapping):
        raise AnsibleFilterError(f"pacs_tls_client_certificate_errors expects a dict, got {settings!r} "
                                 f"of type {type(settings).__name__}")
    now = _now(now)
    errors = []
    for variable in ("orthanc_peers", "orthanc_dicomweb_servers"):
        items = settings.get(variable)
        for index, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, Mapping):
                name = item.get("name")
                label = name if isinstance(name, str) and name else f"#{index}"
                errors.extend(client_certificate_item_errors(item, f"{variable}[{label}]", now))
    return errors


class FilterModule:
    """Maps the filter names to the functions above."""

    def filters(self):
        return {
            "pacs_tls_errors": pacs_tls_errors,
            "pacs_tls_certificate_info": pacs_tls_certificate_info,
            "pacs_tls_client_certificate_errors": pacs_tls_client_certificate_errors,
        }
