#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: TLS checks of an HTTPS front door, as smoke-report rows."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: tls_check
short_description: Prove the TLS of an HTTPS endpoint (chain, expiry, protocol, plain HTTP)
description:
  - Connects to an HTTPS endpoint from where the module runs and reports one result per
    check, in the shape of the other smoke modules (link, check, status, error, detail,
    duration), so the results go into the smoke report as they are.
  - C(chain) - the certificate chain verifies with the given CA (or the system's trust
    store) for the name users use (C(server_name), sent as SNI), and the negotiated
    protocol is TLS 1.2 or newer.
  - C(expiry) - days until the server certificate expires; C(fail) below
    O(expiry_fail_days), C(warn) below O(expiry_warn_days). Read even when the chain
    does not verify.
  - C(tls11_refused) - a handshake offering TLS 1.1 only (with OpenSSL's security level 0,
    so the client itself can offer it) must be refused by the server. When this machine's
    OpenSSL cannot offer TLS 1.1 at all the check is C(skipped), never passed.
  - C(http_redirect) - plain HTTP on O(http_port) redirects to https:// (301, 302, 307,
    308) or is refused (no listener); serving anything else fails.
  - >-
    C(http_closed) - for each of O(closed_http_ports) (Orthanc's own HTTP port behind the
    front door): refused or silently dropped passes; an HTTP 401 or 403 answer (Orthanc
    with C(RemoteAccessAllowed) false answers 401 to every other host, even with valid
    credentials) is C(warn), because the port is still reachable and a client may send
    its password there in clear; anything else fails.
  - Statuses are pass, warn, fail and skipped; only fail counts in C(failed_count).
    The module never fails because a check failed. In check mode every check is skipped.
version_added: "1.0.0"
author: pacs-provisioner
requirements: [cryptography]
options:
  link:
    description: Name of the link shown in the report.
    type: str
    default: https
  host:
    description: Address to connect to.
    type: str
    required: true
  server_name:
    description: The name users use (SNI and certificate name check); default O(host).
    type: str
  port:
    description: HTTPS port.
    type: int
    default: 443
  ca_file:
    description: PEM file of the CA(s) to verify with, on the machine running the module.
    type: path
  ca_pem:
    description: PEM text of the CA(s), instead of O(ca_file). With neither, the system's trust store is used.
    type: str
  http_port:
    description: Plain HTTP port that must redirect or refuse; 0 skips that check.
    type: int
    default: 80
  closed_http_ports:
    description: Plain HTTP ports that must not be reachable (Orthanc's HttpPort).
    type: list
    elements: int
    default: []
  expiry_fail_days:
    description: The expiry check fails when fewer days are left.
    type: int
    default: 14
  expiry_warn_days:
    description: The expiry check warns when fewer days are left.
    type: int
    default: 30
  checks:
    description: Which checks to run.
    type: list
    elements: str
    choices: [chain, expiry, tls11_refused, http_redirect, http_closed]
    default: [chain, expiry, tls11_refused, http_redirect, http_closed]
  timeout:
    description: Seconds per connection.
    type: float
    default: 5
"""

EXAMPLES = r"""
- name: Prove the front door's TLS from the controller
  tls_check:
    link: "HTTPS {{ pacs_https_server_name }}"
    host: "{{ orthanc_address }}"
    server_name: "{{ pacs_https_server_name }}"
    port: "{{ pacs_https_port }}"
    ca_pem: "{{ pacs_https_ca_certificate }}"
    closed_http_ports: ["{{ orthanc_http_port }}"]
    expiry_fail_days: "{{ pacs_smoke_tls_expiry_fail_days | default(14) }}"
  register: tls
"""

RETURN = r"""
results:
  description: One result per check (http_closed one per port), in the order of O(checks).
  returned: always
  type: list
  elements: dict
  contains:
    link: {description: The link name., type: str}
    check: {description: The check name., type: str}
    status: {description: "pass, warn, fail or skipped.", type: str}
    error: {description: Why the check failed, warned or was skipped (empty on pass)., type: str}
    detail: {description: What happened (also on pass)., type: str}
    duration: {description: Seconds the check took., type: float}
    days_left: {description: "Expiry check only: whole days until the certificate expires.", type: int}
failed_count:
  description: Number of results with status fail.
  returned: always
  type: int
warned_count:
  description: Number of results with status warn.
  returned: always
  type: int
"""

import datetime
import http.client
import socket
import ssl
import time
import traceback
import warnings

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

CRYPTOGRAPHY_IMPORT_ERROR = None
try:
    from cryptography import x509
except ImportError:  # pragma: no cover - reported through fail_json
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()

ALL_CHECKS = ["chain", "expiry", "tls11_refused", "http_redirect", "http_closed"]
# What OpenSSL says when the server, not this client, refuses a protocol version.
SERVER_REFUSALS = ("ALERT_PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL", "WRONG_VERSION_NUMBER",
                   "ALERT_HANDSHAKE_FAILURE", "ALERT_INSUFFICIENT_SECURITY")
CLIENT_CANNOT = ("NO_PROTOCOLS_AVAILABLE", "NO_CIPHERS_AVAILABLE", "NO_SUITABLE_SIGNATURE_ALGORITHM")


def new_result(link, check):
    return {"link": link, "check": check, "status": "fail", "error": "", "detail": "", "duration": 0.0}


def _timed(func):
    def wrapper(params, *args):
        start = time.monotonic()
        result = func(params, *args)
        result["duration"] = round(time.monotonic() - start, 3)
        return result
    return wrapper


def _verify_context(params):
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=params.get("ca_file") or None,
                                         cadata=params.get("ca_pem") or None)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _handshake(params, context):
    """Open a TLS connection; returns the SSL socket (the caller closes it)."""
    raw = socket.create_connection((params["host"], params["port"]), timeout=params["timeout"])
    try:
        return context.wrap_socket(raw, server_hostname=params["server_name"])
    except BaseException:
        raw.close()
        raise


def _reason(exc):
    return getattr(exc, "reason", None) or type(exc).__name__


@_timed
def check_chain(params):
    result = new_result(params["link"], "chain")
    name = params["server_name"]
    try:
        with _handshake(params, _verify_context(params)) as tls:
            version, cipher = tls.version(), tls.cipher()[0]
            subject = dict(item[0] for item in tls.getpeercert().get("subject", ()))
    except ssl.SSLCertVerificationError as exc:
        result["error"] = f"the certificate does not verify for {name}: {exc.verify_message or exc}"
        return result
    except (OSError, ssl.SSLError) as exc:
        result["error"] = f"no TLS connection to {params['host']}:{params['port']}: {exc}"
        return result
    result["detail"] = f"verified for {name} (CN={subject.get('commonName', '')}), {version}, {cipher}"
    if version not in ("TLSv1.2", "TLSv1.3"):
        result["error"] = f"negotiated {version}; at least TLSv1.2 is required"
        return result
    result["status"] = "pass"
    return result


def _peer_certificate(params):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with _handshake(params, context) as tls:
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


@_timed
def check_expiry(params, now=None):
    result = new_result(params["link"], "expiry")
    try:
        certificate = _peer_certificate(params)
    except (OSError, ssl.SSLError) as exc:
        result["error"] = f"no TLS connection to {params['host']}:{params['port']}: {exc}"
        return result
    not_after = getattr(certificate, "not_valid_after_utc", None) or \
        certificate.not_valid_after.replace(tzinfo=datetime.timezone.utc)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    days = (not_after - now).days
    result["days_left"] = days
    result["detail"] = f"expires {not_after.date().isoformat()}, in {days} days"
    if not_after <= now:
        result["error"] = f"expired on {not_after.isoformat()}"
    elif days < params["expiry_fail_days"]:
        result["error"] = f"expires in {days} days, below the limit of {params['expiry_fail_days']}"
    elif days < params["expiry_warn_days"]:
        result["status"] = "warn"
        result["error"] = f"expires in {days} days, below the warning limit of {params['expiry_warn_days']}"
    else:
        result["status"] = "pass"
    return result


def tls11_context():
    """A client that offers TLS 1.1 and nothing else, at security level 0."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():  # deprecated on purpose: this client must offer it
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1_1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


@_timed
def check_tls11_refused(params):
    result = new_result(params["link"], "tls11_refused")
    try:
        context = tls11_context()
    except (ValueError, ssl.SSLError) as exc:
        result.update(status="skipped", error=f"this machine's OpenSSL cannot offer TLS 1.1 ({exc})")
        return result
    try:
        with _handshake(params, context) as tls:
            result["error"] = f"the server accepted {tls.version()} ({tls.cipher()[0]})"
            return result
    except ssl.SSLError as exc:
        reason = _reason(exc)
        if any(token in str(reason).upper() for token in CLIENT_CANNOT):
            result.update(status="skipped", error=f"this machine's OpenSSL cannot offer TLS 1.1 ({reason})")
            return result
        if any(token in str(reason).upper() for token in SERVER_REFUSALS):
            result.update(status="pass", detail=f"the server refused TLS 1.1 ({reason})")
            return result
        result.update(status="pass", detail=f"the server ended the TLS 1.1 handshake ({reason})")
        return result
    except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError) as exc:
        result.update(status="pass", detail=f"the server closed the TLS 1.1 handshake ({type(exc).__name__})")
        return result
    except OSError as exc:
        result["error"] = f"no connection to {params['host']}:{params['port']}: {exc}"
        return result


def _plain_get(host, port, server_name, timeout):
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", "/", headers={"Host": server_name})
        answer = connection.getresponse()
        return answer.status, answer.getheader("Location") or ""
    finally:
        connection.close()


@_timed
def check_http_redirect(params):
    result = new_result(params["link"], "http_redirect")
    port = params["http_port"]
    try:
        status, location = _plain_get(params["host"], port, params["server_name"], params["timeout"])
    except ConnectionRefusedError:
        result.update(status="pass", detail=f"plain HTTP on port {port} is refused (no listener)")
        return result
    except (OSError, http.client.HTTPException) as exc:
        result["error"] = f"plain HTTP on port {port}: {exc}"
        return result
    if status in (301, 302, 307, 308) and location.lower().startswith("https://"):
        result.update(status="pass", detail=f"plain HTTP on port {port} redirects ({status}) to {location}")
    else:
        result["error"] = f"plain HTTP on port {port} answers {status}{' to ' + location if location else ''}, not a redirect to https://"
    return result


@_timed
def check_http_closed(params, port):
    result = new_result(params["link"], f"http_closed_{port}")
    try:
        status, _location = _plain_get(params["host"], port, params["server_name"], params["timeout"])
    except ConnectionRefusedError:
        result.update(status="pass", detail=f"port {port} refuses connections")
        return result
    except (socket.timeout, TimeoutError):
        result.update(status="pass", detail=f"port {port} drops connections (no answer in {params['timeout']} s)")
        return result
    except (OSError, http.client.HTTPException) as exc:
        result.update(status="pass", detail=f"port {port} does not serve HTTP ({exc})")
        return result
    if status in (401, 403):
        result.update(status="warn", detail=f"port {port} answers {status}",
                      error=f"port {port} is reachable from here: it refuses with {status} but should be closed by the firewall")
    else:
        result["error"] = f"port {port} serves plain HTTP to this host (status {status})"
    return result


def run(params):
    """Every requested check, in order; the caller has filled the defaults."""
    params = dict(params)
    params["server_name"] = params.get("server_name") or params["host"]
    results = []
    for check in params["checks"]:
        if check == "chain":
            results.append(check_chain(params))
        elif check == "expiry":
            results.append(check_expiry(params))
        elif check == "tls11_refused":
            results.append(check_tls11_refused(params))
        elif check == "http_redirect" and params.get("http_port"):
            results.append(check_http_redirect(params))
        elif check == "http_closed":
            results.extend(check_http_closed(params, int(port)) for port in params.get("closed_http_ports") or [])
    return results


def main():
    module = AnsibleModule(
        argument_spec=dict(
            link=dict(type="str", default="https"),
            host=dict(type="str", required=True),
            server_name=dict(type="str"),
            port=dict(type="int", default=443),
            ca_file=dict(type="path"),
            ca_pem=dict(type="str"),
            http_port=dict(type="int", default=80),
            closed_http_ports=dict(type="list", elements="int", default=[]),
            expiry_fail_days=dict(type="int", default=14),
            expiry_warn_days=dict(type="int", default=30),
            checks=dict(type="list", elements="str", choices=ALL_CHECKS, default=list(ALL_CHECKS)),
            timeout=dict(type="float", default=5.0),
        ),
        mutually_exclusive=[("ca_file", "ca_pem")],
        supports_check_mode=True,
    )
    if CRYPTOGRAPHY_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMPORT_ERROR)
    if module.check_mode:
        results = [dict(new_result(module.params["link"], check), status="skipped", error="check mode")
                   for check in module.params["checks"]]
    else:
        results = run(module.params)
    module.exit_json(changed=False, results=results,
                     failed_count=sum(1 for r in results if r["status"] == "fail"),
                     warned_count=sum(1 for r in results if r["status"] == "warn"))


if __name__ == "__main__":
    main()
