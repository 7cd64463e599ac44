"""The DICOMweb roundtrip through an HTTPS front door (its HTTP session, made in
roles/pacs_smoke/module_utils/pacs_smoke_checks.py for module_utils/pacs_smoke_dicomweb.py):
its session connects to an address, verifies the certificate with the inventory's CA for
the name users use, and sends that name as Host. Served by a real TLS server on loopback
(Python's http.server with a certificate made here for the name only, not the address)."""

import datetime
import http.server
import importlib.util
import json
import pathlib
import ssl
import sys
import threading

import pytest
import requests
from pki import NOW, issue, make_key, pem

ROOT = pathlib.Path(__file__).resolve().parents[2]
NAME = "pacs.smoke-https.test"


def _load(name, path, register=False):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


WEB = _load("ansible.module_utils.pacs_smoke_checks", ROOT / "roles/pacs_smoke/module_utils/pacs_smoke_checks.py", True)
_DICOMWEB = _load("pps_https_dicomweb", ROOT / "roles/pacs_smoke/module_utils/pacs_smoke_dicomweb.py")


class _EchoHost(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802  (http.server's name)
        body = json.dumps({"host": self.headers.get("Host"), "auth": bool(self.headers.get("Authorization"))}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    ca_key, leaf_key = make_key(), make_key()
    ca = issue(ca_key, "smoke https test CA", ca=True)
    leaf = issue(leaf_key, NAME, ca_key, "smoke https test CA", names=[NAME],  # the name only
                 not_after=NOW + datetime.timedelta(days=30))
    (folder / "leaf.pem").write_text(pem(leaf) + pem(leaf_key))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoHost)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(folder / "leaf.pem"))
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield {"url": "https://127.0.0.1:%d" % httpd.server_address[1], "ca_pem": pem(ca), "folder": folder}
    httpd.shutdown()


def _params(url, **overrides):
    return dict({"url": url, "validate_certs": True, "server_name": None}, **overrides)


def test_the_roundtrip_makes_its_sessions_with_these_functions():
    assert _DICOMWEB.make_session is WEB.make_session and _DICOMWEB.write_ca_file is WEB.write_ca_file


def test_host_header_keeps_a_port_that_is_not_the_default():
    assert WEB.host_header("https://10.0.0.5:443", NAME) == NAME
    assert WEB.host_header("https://10.0.0.5", NAME) == NAME
    assert WEB.host_header("https://10.0.0.5:8443/", NAME) == NAME + ":8443"
    assert WEB.host_header("http://10.0.0.5:80", NAME) == NAME


def test_write_ca_file(tmp_path):
    path = WEB.write_ca_file("  -----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n\n", str(tmp_path))
    assert pathlib.Path(path).read_text() == "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n"


def test_session_verifies_the_address_for_the_name_users_use(server, tmp_path):
    ca_file = WEB.write_ca_file(server["ca_pem"], str(tmp_path))
    session = WEB.make_session(_params(server["url"], server_name=NAME), ("admin", "pw"), ca_file)
    answer = session.get(server["url"] + "/system", timeout=5).json()
    port = server["url"].rsplit(":", 1)[1]
    assert answer == {"host": "%s:%s" % (NAME, port), "auth": True}
    anonymous = WEB.make_session(_params(server["url"], server_name=NAME), None, ca_file)
    assert anonymous.get(server["url"] + "/system", timeout=5).json()["auth"] is False


def test_session_without_the_name_refuses_the_address(server, tmp_path):
    """The certificate names the server, not its address: without server_name it does not verify."""
    ca_file = WEB.write_ca_file(server["ca_pem"], str(tmp_path))
    session = WEB.make_session(_params(server["url"]), None, ca_file)
    with pytest.raises(requests.exceptions.SSLError, match="127.0.0.1"):
        session.get(server["url"] + "/system", timeout=5)


def test_session_refuses_a_name_the_certificate_lacks(server, tmp_path):
    ca_file = WEB.write_ca_file(server["ca_pem"], str(tmp_path))
    session = WEB.make_session(_params(server["url"], server_name="other.smoke-https.test"), None, ca_file)
    with pytest.raises(requests.exceptions.SSLError, match="other.smoke-https.test"):
        session.get(server["url"] + "/system", timeout=5)


def test_session_without_the_ca_refuses_the_test_ca(server):
    session = WEB.make_session(_params(server["url"], server_name=NAME), None, None)
    with pytest.raises(requests.exceptions.SSLError):
        session.get(server["url"] + "/system", timeout=5)


# --- a warning in the report: the matrix counts it, the index shows the link amber -------------

def _index_plugin():
    return _load("pps_https_report_index", ROOT / "roles/pacs_smoke/callback_plugins/pacs_report_index.py")


def _smoke_filters():
    return _load("pps_https_smoke_filters", ROOT / "filter_plugins/pacs_smoke.py").FilterModule().filters()


def _result(link, check, status, error=""):
    return {"link": link, "check": check, "status": status, "error": error, "detail": "", "duration": 0.0}


TLS_RESULTS = [_result("HTTPS pacs.example.org", "chain", "pass"),
               _result("HTTPS pacs.example.org", "expiry", "warn", "expires in 19 days, below the warning limit of 30"),
               _result("HTTPS pacs.example.org", "http_closed_8042", "pass"),
               _result("DICOMweb", "stow", "pass")]


def test_matrix_counts_a_warning_and_orders_the_tls_checks():
    matrix = _smoke_filters()["pacs_smoke_matrix"](TLS_RESULTS)
    assert matrix["counts"] == {"fail": 0, "warn": 1, "skipped": 0, "pass": 3}
    assert matrix["checks"] == ["stow", "chain", "expiry", "http_closed_8042"]
    # A warning is not a failure: the run does not fail on it.
    assert _smoke_filters()["pacs_smoke_failures"](TLS_RESULTS) == []


def test_index_shows_a_warned_link_amber_and_a_failure_above_it():
    statuses = _index_plugin().link_statuses(TLS_RESULTS)
    assert statuses[0] == ("HTTPS pacs.example.org", "warn",
                           "expiry: expires in 19 days, below the warning limit of 30")
    failed = TLS_RESULTS + [_result("HTTPS pacs.example.org", "tls11_refused", "fail", "the server accepted TLSv1.1")]
    assert _index_plugin().link_statuses(failed)[0] == ("HTTPS pacs.example.org", "fail",
                                                        "tls11_refused: the server accepted TLSv1.1")


def test_the_amber_colour_is_in_both_pages_styles():
    assert ".warn{background:#ffbf00;" in (ROOT / "templates/site/_style.css.j2").read_text()
    assert "td.warn { background: #ffbf00; }" in (ROOT / "roles/pacs_smoke/templates/report.html.j2").read_text()
