"""Tests of roles/pacs_smoke/library/tls_check.py against real TLS servers on loopback.

Python's ssl module serves certificates made here with the cryptography library (no
committed key); plain HTTP servers answer redirects or content.
"""

import datetime
import http.server
import importlib.util
import pathlib
import socket
import ssl
import threading
import warnings

import pytest
from module_run import run_module_file
from pki import issue, make_key, pem

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODULE_PATH = ROOT / "roles" / "pacs_smoke" / "library" / "tls_check.py"
_SPEC = importlib.util.spec_from_file_location("pp_tls_check", MODULE_PATH)
TLS = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(TLS)

NOW = datetime.datetime.now(datetime.timezone.utc)
NAME = "pacs.tls-check.test"


def _certificate(key, subject, issuer_key, issuer=None, ca=False, days=90, names=()):
    return issue(key, subject, issuer_key, issuer, ca=ca, names=list(names) or None,
                 not_after=NOW + datetime.timedelta(days=days, hours=12))


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    ca_key = make_key()
    ca = _certificate(ca_key, "tls_check test CA", ca_key, ca=True, days=365)
    (folder / "ca.crt").write_text(pem(ca))
    other_key = make_key()
    (folder / "other-ca.crt").write_text(pem(_certificate(other_key, "another CA", other_key, ca=True)))

    def leaf(label, days=90, names=(NAME, "127.0.0.1")):
        key = make_key()
        cert = _certificate(key, NAME, ca_key, "tls_check test CA", days=days, names=names)
        (folder / f"{label}.pem").write_text(pem(cert) + pem(key))
        return str(folder / f"{label}.pem")

    return {"dir": folder, "ca_file": str(folder / "ca.crt"), "ca_pem": pem(ca),
            "other_ca": str(folder / "other-ca.crt"), "leaf": leaf}


class _TLSServer:
    """A TLS server on loopback that completes handshakes and answers one HTTP line."""

    def __init__(self, certfile, minimum=ssl.TLSVersion.TLSv1_2, ciphers=None):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(certfile)
        if ciphers:
            self.context.set_ciphers(ciphers)
        with warnings.catch_warnings():  # TLS 1.1 on purpose: the control server
            warnings.simplefilter("ignore", DeprecationWarning)
            self.context.minimum_version = minimum
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.running = True
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        try:
            with self.context.wrap_socket(conn, server_side=True) as tls:
                tls.settimeout(2)
                tls.recv(1024)
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        except (OSError, ssl.SSLError):
            pass

    def close(self):
        self.running = False
        self.sock.close()


class _PlainHandler(http.server.BaseHTTPRequestHandler):
    status = 301
    location = f"https://{NAME}/"

    def do_GET(self):  # noqa: N802 - http.server's API
        self.send_response(self.status)
        if self.location:
            self.send_header("Location", self.location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def _plain_server(status, location):
    handler = type("Handler", (_PlainHandler,), {"status": status, "location": location})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server(pki):
    servers = []

    def start(label="good", days=90, **kwargs):
        started = _TLSServer(pki["leaf"](label, days=days), **kwargs)
        servers.append(started)
        return started

    yield start
    for started in servers:
        started.close()


def params(port, **overrides):
    data = {"link": "https", "host": "127.0.0.1", "server_name": NAME, "port": port, "ca_file": None,
            "ca_pem": None, "http_port": 0, "closed_http_ports": [], "expiry_fail_days": 14,
            "expiry_warn_days": 30, "checks": list(TLS.ALL_CHECKS), "timeout": 3.0}
    data.update(overrides)
    return data


def by_check(results):
    return {r["check"]: r for r in results}


def _openssl_can_offer_tls11():
    """Whether this machine's OpenSSL handshakes TLS 1.1 at all (client and server)."""
    try:
        TLS.tls11_context()
    except (ValueError, ssl.SSLError):
        return False
    return True


def test_a_good_front_door_passes_every_tls_check(pki, server):
    good = server()
    results = by_check(TLS.run(params(good.port, ca_file=pki["ca_file"])))
    assert results["chain"]["status"] == "pass", results["chain"]
    assert results["chain"]["detail"].startswith(f"verified for {NAME} (CN={NAME}), TLSv1.3")
    assert results["expiry"]["status"] == "pass" and results["expiry"]["days_left"] == 90
    if _openssl_can_offer_tls11():
        assert results["tls11_refused"]["status"] == "pass", results["tls11_refused"]
        assert "refused TLS 1.1" in results["tls11_refused"]["detail"]


def test_the_ca_can_be_given_as_pem_text(pki, server):
    good = server()
    results = by_check(TLS.run(params(good.port, ca_pem=pki["ca_pem"], checks=["chain"])))
    assert results["chain"]["status"] == "pass"


@pytest.mark.skipif(not _openssl_can_offer_tls11(), reason="this OpenSSL cannot offer TLS 1.1 at all")
def test_a_server_that_accepts_tls11_fails(pki, server):
    """The control: the same client gets TLS 1.1 from a server that allows it, so a
    refusal by the good server above is the server's, not the client's."""
    old = server("old", minimum=ssl.TLSVersion.TLSv1_1, ciphers="DEFAULT:@SECLEVEL=0")
    results = by_check(TLS.run(params(old.port, ca_file=pki["ca_file"], checks=["tls11_refused", "chain"])))
    assert results["tls11_refused"]["status"] == "fail"
    assert results["tls11_refused"]["error"].startswith("the server accepted TLSv1.1")
    assert results["chain"]["status"] == "pass"  # modern clients still get TLS 1.3 there


def test_a_wrong_name_or_ca_fails_the_chain(pki, server):
    good = server()
    results = by_check(TLS.run(params(good.port, ca_file=pki["ca_file"], server_name="other.example.org",
                                      checks=["chain"])))
    assert results["chain"]["status"] == "fail"
    assert "does not verify for other.example.org" in results["chain"]["error"]
    results = by_check(TLS.run(params(good.port, ca_file=pki["other_ca"], checks=["chain", "expiry"])))
    assert results["chain"]["status"] == "fail" and "unable to get local issuer" in results["chain"]["error"]
    # The expiry is read even when the chain does not verify.
    assert results["expiry"]["status"] == "pass"


@pytest.mark.parametrize("days,status", [(10, "fail"), (20, "warn"), (40, "pass")])
def test_days_to_expiry_against_the_thresholds(pki, server, days, status):
    soon = server(f"soon{days}", days=days)
    result = by_check(TLS.run(params(soon.port, ca_file=pki["ca_file"], checks=["expiry"])))["expiry"]
    assert result["status"] == status, result
    assert result["days_left"] == days
    if status == "fail":
        assert result["error"] == f"expires in {days} days, below the limit of 14"
    if status == "warn":
        assert result["error"] == f"expires in {days} days, below the warning limit of 30"


def test_thresholds_come_from_the_inventory(pki, server):
    soon = server("soon20b", days=20)
    result = TLS.run(params(soon.port, ca_file=pki["ca_file"], checks=["expiry"], expiry_fail_days=21))[0]
    assert result["status"] == "fail"


def test_plain_http_redirected_refused_or_served(pki):
    redirect = _plain_server(301, f"https://{NAME}/")
    served = _plain_server(200, "")
    elsewhere = _plain_server(302, f"http://{NAME}:8080/")
    try:
        def http_result(port):
            return TLS.run(params(1, http_port=port, checks=["http_redirect"]))[0]
        assert http_result(redirect.server_address[1])["status"] == "pass"
        assert http_result(_free_port())["status"] == "pass"
        assert "refused" in http_result(_free_port())["detail"]
        result = http_result(served.server_address[1])
        assert result["status"] == "fail" and "answers 200" in result["error"]
        assert http_result(elsewhere.server_address[1])["status"] == "fail"
    finally:
        for started in (redirect, served, elsewhere):
            started.shutdown()


def test_orthanc_port_must_be_closed(pki):
    forbidden = _plain_server(403, "")
    unauthorized = _plain_server(401, "")
    served = _plain_server(200, "")
    try:
        ports = [_free_port(), forbidden.server_address[1], unauthorized.server_address[1], served.server_address[1]]
        results = TLS.run(params(1, closed_http_ports=ports, checks=["http_closed"]))
        assert [r["status"] for r in results] == ["pass", "warn", "warn", "fail"]
        assert [r["check"] for r in results] == [f"http_closed_{p}" for p in ports]
    finally:
        for started in (forbidden, unauthorized, served):
            started.shutdown()


def test_unreachable_endpoint_fails_not_crashes(pki):
    results = by_check(TLS.run(params(_free_port(), ca_file=pki["ca_file"], checks=["chain", "expiry", "tls11_refused"])))
    assert all(r["status"] == "fail" for r in results.values()), results
    assert "no TLS connection" in results["chain"]["error"]


def _run_module(args, check_mode=False):
    return run_module_file(MODULE_PATH, args, check=check_mode)


def test_as_an_ansible_module(pki, server):
    good = server()
    answer = _run_module({"host": "127.0.0.1", "server_name": NAME, "port": good.port, "ca_file": pki["ca_file"],
                          "http_port": 0, "checks": ["chain", "expiry"]})
    assert answer["changed"] is False and answer["failed_count"] == 0, answer
    assert [r["check"] for r in answer["results"]] == ["chain", "expiry"]
    answer = _run_module({"host": "127.0.0.1", "port": good.port, "checks": ["chain"]}, check_mode=True)
    assert answer["results"][0]["status"] == "skipped" and answer["failed_count"] == 0
    answer = _run_module({"host": "127.0.0.1", "ca_file": "/x", "ca_pem": "y"})
    assert answer["failed"] and "mutually exclusive" in answer["msg"]
