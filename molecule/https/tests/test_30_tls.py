"""TLS as a client on the hospital network sees it: the smoke module's checks against
the real nginx, TLS 1.1 refused by the server (with a control proving this client can
speak TLS 1.1), plain HTTP redirected, HSTS, client certificates where required."""

import socket
import ssl
import threading

import pytest
import requests
from conftest import ADDRESS, NAME, PKI, load_tls_check

testinfra_hosts = ["pp-https-pacs"]
TLS = load_tls_check()


def _params(**overrides):
    data = {"link": "https", "host": ADDRESS, "server_name": NAME, "port": 443, "ca_file": str(PKI / "ca.crt"),
            "ca_pem": None, "http_port": 80, "closed_http_ports": [8042], "expiry_fail_days": 14,
            "expiry_warn_days": 30, "checks": list(TLS.ALL_CHECKS), "timeout": 5.0}
    data.update(overrides)
    return data


def test_smoke_tls_checks_against_the_front_door():
    results = {r["check"]: r for r in TLS.run(_params())}
    assert results["chain"]["status"] == "pass", results["chain"]
    assert results["chain"]["detail"].startswith(f"verified for {NAME} (CN={NAME}), TLSv1.3")
    assert results["expiry"]["status"] == "pass" and 88 <= results["expiry"]["days_left"] <= 90
    assert results["tls11_refused"]["status"] == "pass", results["tls11_refused"]
    assert results["http_redirect"]["status"] == "pass"
    assert results["http_redirect"]["detail"] == f"plain HTTP on port 80 redirects (301) to https://{NAME}/"
    # The firewall closes Orthanc's own port to this host (the controller): refused.
    assert results["http_closed_8042"]["status"] == "pass", results["http_closed_8042"]
    assert results["http_closed_8042"]["detail"] == "port 8042 refuses connections"
    # A threshold above the days left turns the expiry check red.
    expiry = TLS.run(_params(checks=["expiry"], expiry_fail_days=120))[0]
    assert expiry["status"] == "fail" and "below the limit of 120" in expiry["error"]


class _Tls11Server:
    """The control: a TLS server on the controller's loopback that accepts TLS 1.1."""

    def __init__(self):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(PKI / "pacs.crt"), str(PKI / "pacs.key"))
        self.context.set_ciphers("DEFAULT:@SECLEVEL=0")
        self.context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                if self.sock.fileno() < 0:
                    return


def _handshake(host, port, context):
    with socket.create_connection((host, port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=NAME) as tls:
            return tls.version()


def test_tls11_is_refused_by_the_server_not_by_this_client():
    client = TLS.tls11_context()
    control = _Tls11Server()
    try:
        assert _handshake("127.0.0.1", control.port, client) == "TLSv1.1"  # this client speaks TLS 1.1
    finally:
        control.sock.close()
    with pytest.raises(ssl.SSLError) as refused:
        _handshake(ADDRESS, 443, client)
    assert "PROTOCOL_VERSION" in str(refused.value.reason).upper() or "UNSUPPORTED_PROTOCOL" in str(refused.value.reason).upper()
    # The same client configuration, allowed TLS 1.2, is served.
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    assert _handshake(ADDRESS, 443, client) == "TLSv1.2"


def test_plain_http_redirects_every_path():
    answer = requests.get(f"http://{ADDRESS}/dicom-web/studies?PatientID=X", allow_redirects=False, timeout=10)
    assert answer.status_code == 301
    assert answer.headers["Location"] == f"https://{ADDRESS}/dicom-web/studies?PatientID=X"


def test_hsts_and_forwarded_headers(session):
    answer = session.get(f"https://{ADDRESS}/system", timeout=10)
    assert answer.status_code == 200 and answer.json()["DicomAet"] == "HTTPS_PACS"
    assert answer.headers["Strict-Transport-Security"] == "max-age=31536000"
    # Also on errors (nginx's "always").
    anonymous = requests.get(f"https://{ADDRESS}/system", verify=session.verify, timeout=10)
    assert anonymous.status_code == 401 and "Strict-Transport-Security" in anonymous.headers


def test_a_client_forwarded_header_is_not_trusted(session):
    answer = session.get(f"https://{ADDRESS}/dicom-web/studies", timeout=10,
                         headers={"Forwarded": "host=evil.example.org;proto=http"})
    assert answer.status_code == 200
    assert "evil.example.org" not in answer.text


def test_client_certificate_required_on_chosen_locations(session):
    url = f"https://{ADDRESS}/modalities"
    assert session.get(url, timeout=10).status_code == 403  # from nginx, before Orthanc
    with_cert = session.get(url, timeout=10, cert=(str(PKI / "client.crt"), str(PKI / "client.key")))
    assert with_cert.status_code == 200 and with_cert.json() == []
    # A certificate from elsewhere (the server's own, not issued for clients) does not open it.
    assert session.get(url, timeout=10, cert=(str(PKI / "pacs.crt"), str(PKI / "pacs.key"))).status_code in (400, 403)
    # Other locations need no client certificate.
    assert session.get(f"https://{ADDRESS}/system", timeout=10).status_code == 200
