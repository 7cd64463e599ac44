"""Shared helpers of the https scenario's tests: the test CA made by prepare.yml, the
admin's password from the (test-only) vault, a requests session that verifies with
the CA, and the name users use resolving to the PACS."""

import importlib.util
import os
import pathlib
import socket

import pytest
import requests
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

SCENARIO = pathlib.Path(__file__).resolve().parent.parent
PROJECT = SCENARIO.parent.parent
PKI = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "pki"
ADDRESS = "172.28.90.10"
NAME = "pacs.molecule.test"


def _load(path):
    raw = path.read_bytes()
    if raw.startswith(b"$ANSIBLE_VAULT"):
        secret = (PROJECT / "molecule" / ".vault-password-test-only").read_bytes().strip()
        raw = VaultLib([("default", VaultSecret(secret))]).decrypt(raw)
    return yaml.safe_load(raw) or {}


def load_tls_check():
    """roles/pacs_smoke/library/tls_check.py, the smoke module, as a Python module."""
    spec = importlib.util.spec_from_file_location("pp_https_tls_check",
                                                  PROJECT / "roles" / "pacs_smoke" / "library" / "tls_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def name_resolves(monkeypatch):
    """pacs.molecule.test resolves to the PACS in this process, as DNS would make it."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        return real(ADDRESS if host == NAME else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(scope="session")
def ca_file():
    return str(PKI / "ca.crt")


@pytest.fixture(scope="session")
def admin():
    secrets = _load(SCENARIO / "group_vars" / "orthanc" / "vault.yml")
    return ("admin", secrets["vault_orthanc_admin_password"])


@pytest.fixture
def session(ca_file, admin):
    """Verifies with the test CA; URLs use the address (in the certificate too)."""
    with requests.Session() as s:
        s.trust_env = False  # REQUESTS_CA_BUNDLE would replace the test CA
        s.verify = ca_file
        s.auth = admin
        yield s


@pytest.fixture
def named_session(session, name_resolves):  # pylint: disable=unused-argument
    """The same, for URLs with pacs.molecule.test, the name users use."""
    return session
