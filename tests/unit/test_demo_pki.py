"""scripts/demo_pki.py: the demo's local CA and front-door certificate, checked with the ssl
module the way a client checks them (a real TLS handshake on loopback for the demo's name)."""

import datetime
import importlib.util
import pathlib
import socket
import ssl
import stat
import threading

import pytest
from cryptography import x509

ROOT = pathlib.Path(__file__).resolve().parents[2]
_SPEC = importlib.util.spec_from_file_location("demo_pki", ROOT / "scripts" / "demo_pki.py")
PKI = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(PKI)


@pytest.fixture
def folder(tmp_path):
    PKI.ensure(tmp_path / "pki")
    return tmp_path / "pki"


def _handshake(folder, server_name):
    """A TLS 1.2+ server on loopback with pacs.crt; a client trusting ca.crt connects for server_name."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(folder / "pacs.crt", folder / "pacs.key")
    client = ssl.create_default_context(cafile=str(folder / "ca.crt"))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve():
            conn, _ = listener.accept()
            try:
                with server.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                with client.wrap_socket(raw, server_hostname=server_name) as tls:
                    return tls.version()
        finally:
            thread.join(5)


@pytest.mark.parametrize("name", ["pacs.demo.test", "172.28.10.10"])
def test_a_client_trusting_the_demo_ca_accepts_the_front_door_for_its_names(folder, name):
    assert _handshake(folder, name) in ("TLSv1.2", "TLSv1.3")


def test_another_name_is_refused(folder):
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(folder, "pacs.other.test")


def test_keys_are_private_and_a_second_run_changes_nothing(folder):
    for name in ("ca.key", "pacs.key"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert PKI.ensure(folder) == []
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_a_certificate_near_its_end_is_renewed_with_the_same_ca(folder):
    ca = (folder / "ca.crt").read_bytes()
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=340)
    assert PKI.ensure(folder, now=later) == ["pacs.key", "pacs.crt"]
    assert (folder / "ca.crt").read_bytes() == ca
    renewed = x509.load_pem_x509_certificate((folder / "pacs.crt").read_bytes())
    assert renewed.not_valid_after_utc - later > datetime.timedelta(days=300)


def test_a_lost_ca_key_makes_a_new_ca_and_a_new_server_certificate(folder):
    (folder / "ca.key").unlink()
    assert PKI.ensure(folder) == ["ca.key", "ca.crt", "pacs.key", "pacs.crt"]
    assert _handshake(folder, "pacs.demo.test")
