"""Unit tests for filter_plugins/pacs_postgresql.py (through FilterModule)."""

import importlib.util
import pathlib

import pytest
from ansible.errors import AnsibleFilterError

_PATH = pathlib.Path(__file__).resolve().parents[2] / "filter_plugins" / "pacs_postgresql.py"
_SPEC = importlib.util.spec_from_file_location("pacs_postgresql_filters", _PATH)
_MOD = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_MOD)
FILTERS = _MOD.FilterModule().filters()

errors = FILTERS["pacs_postgresql_errors"]
hba_source = FILTERS["pacs_postgresql_hba_source"]
orthanc_clients = FILTERS["pacs_postgresql_orthanc_clients"]


def settings(**overrides):
    data = {
        "pacs_postgresql_database": "orthanc",
        "pacs_postgresql_username": "orthanc",
        "pacs_postgresql_password": "a-long-vaulted-secret",
        "pacs_postgresql_port": 5432,
        "pacs_postgresql_listen_addresses": ["localhost", "192.0.2.5"],
        "pacs_postgresql_clients": ["192.0.2.10", "192.0.2.11", "2001:db8::1", "pacs1.example.org"],
    }
    data.update(overrides)
    return data


def test_valid_settings_have_no_errors():
    assert errors(settings()) == []


def test_every_problem_is_reported_at_once():
    found = errors(settings(pacs_postgresql_database="Orthanc-DB", pacs_postgresql_username="",
                            pacs_postgresql_password="orthanc", pacs_postgresql_port=70000,
                            pacs_postgresql_listen_addresses=[],
                            pacs_postgresql_clients=["192.0.2.300", "192.0.3.0/23", "0.0.0.0/0", "bad_host!"]))
    assert found == [
        "pacs_postgresql_database[Orthanc-DB]: must be a lower-case identifier (a-z, 0-9, _), 1-63 characters",
        "pacs_postgresql_username[]: must be a lower-case identifier (a-z, 0-9, _), 1-63 characters",
        "pacs_postgresql_password[]: must be set from Ansible Vault and not a well-known password",
        "pacs_postgresql_port[70000]: must be a port number 1-65535",
        "pacs_postgresql_listen_addresses[[]]: must be a non-empty list",
        found[5],
        found[6],
        "pacs_postgresql_clients[0.0.0.0/0]: opens the database to every address",
        "pacs_postgresql_clients[bad_host!]: 'bad_host!' is not an address, CIDR or host name",
    ]
    assert found[5].startswith("pacs_postgresql_clients[192.0.2.300]: '192.0.2.300' is not a valid address")
    assert found[6].startswith("pacs_postgresql_clients[192.0.3.0/23]: '192.0.3.0/23' is not a valid address or CIDR")


@pytest.mark.parametrize(("password", "message"), [
    ("", "must be set from Ansible Vault"),
    ("Postgres", "not a well-known password"),
    ("short-pw", "at least 12 characters"),
    (None, "must be set from Ansible Vault"),
])
def test_weak_passwords_are_refused(password, message):
    [error] = errors(settings(pacs_postgresql_password=password))
    assert error.startswith("pacs_postgresql_password[]: ") and message in error
    if password:
        assert password not in error, "the error must not echo the password"


def test_listen_star_is_allowed_but_not_as_client():
    assert errors(settings(pacs_postgresql_listen_addresses=["*"])) == []
    assert errors(settings(pacs_postgresql_clients=["*"])) == [
        "pacs_postgresql_clients[*]: '*' is not an address, CIDR or host name"]


@pytest.mark.parametrize(("address", "source"), [
    ("192.0.2.10", "192.0.2.10/32"),
    ("2001:db8::1", "2001:db8::1/128"),
    ("192.0.2.0/24", "192.0.2.0/24"),
    ("pacs1.example.org", "pacs1.example.org"),
])
def test_hba_source(address, source):
    assert hba_source(address) == source


@pytest.mark.parametrize("bad", ["192.0.2.1/24", "", None, 5, "not a host"])
def test_hba_source_refuses_bad_values_naming_them(bad):
    with pytest.raises(AnsibleFilterError, match=type(bad).__name__):
        hba_source(bad)


def test_orthanc_clients_are_the_postgresql_nodes_addresses():
    hostvars = {
        "a": {"orthanc_database": "postgresql", "orthanc_address": "192.0.2.10", "ansible_host": "10.0.0.1"},
        "b": {"orthanc_database": "postgresql", "ansible_host": "192.0.2.11"},
        "c": {"orthanc_database": "postgresql"},
        "d": {"orthanc_database": "sqlite", "orthanc_address": "192.0.2.13"},
        "e": {"orthanc_address": "192.0.2.14"},
        "f": {"orthanc_database": "postgresql", "orthanc_address": "192.0.2.10"},
    }
    assert orthanc_clients(list(hostvars), hostvars) == ["192.0.2.10", "192.0.2.11", "c"]


def test_orthanc_clients_refuses_a_non_list():
    with pytest.raises(AnsibleFilterError, match="got 'a' of type str"):
        orthanc_clients("a", {})


def test_errors_refuses_a_non_dict():
    with pytest.raises(AnsibleFilterError, match="of type list"):
        errors([])
