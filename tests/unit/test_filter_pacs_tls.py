"""Unit tests for filter_plugins/pacs_tls.py (through FilterModule).

Certificates are made here with the cryptography library: no key is committed.
"""

import importlib.util
import pathlib

import pytest
from ansible.errors import AnsibleFilterError
from cryptography.hazmat.primitives import serialization
from pki import DAY, NOW, issue, make_key, pem

_PATH = pathlib.Path(__file__).resolve().parents[2] / "filter_plugins" / "pacs_tls.py"
_SPEC = importlib.util.spec_from_file_location("pacs_tls_filters", _PATH)
_MOD = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_MOD)
FILTERS = _MOD.FilterModule().filters()

errors = FILTERS["pacs_tls_errors"]
certificate_info = FILTERS["pacs_tls_certificate_info"]



def _certificate(key, subject, issuer=None, issuer_key=None, names=None, ca=False,
                 not_before=NOW - DAY, not_after=NOW + 90 * DAY):
    return issue(key, subject, issuer_key, issuer, ca=ca, names=names, not_before=not_before, not_after=not_after)


@pytest.fixture(scope="module")
def pki():
    ca_key = make_key()
    ca = _certificate(ca_key, "Test CA", ca=True)
    key = make_key()
    cert = _certificate(key, "pacs.example.org", "Test CA", ca_key, names=["pacs.example.org", "192.0.2.5"])
    return {"ca": ca, "ca_key": ca_key, "key": key, "cert": cert}


def settings(pki, **overrides):
    data = {
        "pacs_https_server_name": "pacs.example.org",
        "pacs_https_server_aliases": ["192.0.2.5"],
        "pacs_https_port": 443,
        "pacs_https_http_port": 80,
        "pacs_https_http_redirect": True,
        "pacs_https_certificate": pem(pki["cert"]),
        "pacs_https_private_key": pem(pki["key"]),
        "pacs_https_ca_certificate": pem(pki["ca"]),
        "pacs_https_client_verify": "off",
        "pacs_https_client_ca_certificate": "",
        "pacs_https_client_certificate_locations": [],
        "pacs_https_upstreams": [{"host": "127.0.0.1", "port": 8042}],
        "pacs_https_client_max_body_size": "4g",
    }
    data.update(overrides)
    return data


def test_valid_settings_have_no_errors(pki):
    assert errors(settings(pki)) == []


def test_a_key_that_does_not_match_the_certificate_is_refused(pki):
    found = errors(settings(pki, pacs_https_private_key=pem(make_key())))
    assert len(found) == 1
    assert found[0].startswith("pacs_https_private_key[]: does not match the certificate CN=pacs.example.org")


def test_an_expired_certificate_is_refused(pki):
    key = make_key()
    old = _certificate(key, "pacs.example.org", "Test CA", pki["ca_key"], names=["pacs.example.org", "192.0.2.5"],
                       not_before=NOW - 400 * DAY, not_after=NOW - 2 * DAY)
    found = errors(settings(pki, pacs_https_certificate=pem(old), pacs_https_private_key=pem(key)))
    assert len(found) == 1 and found[0].startswith("pacs_https_certificate[CN=pacs.example.org]: expired on ")


def test_validity_is_checked_at_the_given_time(pki):
    later = NOW + 120 * DAY
    assert any("expired on" in e for e in errors(settings(pki), now=later))
    assert any("expired on" in e for e in errors(settings(pki), now=later.isoformat()))
    assert any("is not valid before" in e for e in errors(settings(pki), now=NOW - 10 * DAY))


def test_names_must_include_the_server_name_and_aliases(pki):
    found = errors(settings(pki, pacs_https_server_name="pacs2.example.org",
                            pacs_https_server_aliases=["192.0.2.6", "192.0.2.5"]))
    assert found == [
        "pacs_https_certificate[CN=pacs.example.org]: its names (pacs.example.org, 192.0.2.5) do not include "
        "pacs2.example.org (pacs_https_server_name)",
        "pacs_https_certificate[CN=pacs.example.org]: its names (pacs.example.org, 192.0.2.5) do not include "
        "192.0.2.6 (pacs_https_server_aliases)",
    ]


def test_the_common_name_alone_is_not_enough(pki):
    key = make_key()
    cert = _certificate(key, "pacs.example.org", "Test CA", pki["ca_key"], names=None)
    found = errors(settings(pki, pacs_https_certificate=pem(cert), pacs_https_private_key=pem(key)))
    assert found == ["pacs_https_certificate[CN=pacs.example.org]: has no subjectAltName; "
                     "clients check the names there, not the CN"]


def test_wildcards_cover_one_label_only(pki):
    key = make_key()
    cert = _certificate(key, "wild", "Test CA", pki["ca_key"], names=["*.example.org"])
    base = settings(pki, pacs_https_certificate=pem(cert), pacs_https_private_key=pem(key),
                    pacs_https_server_aliases=[])
    assert errors(base) == []
    found = errors(dict(base, pacs_https_server_name="a.pacs.example.org"))
    assert len(found) == 1 and "do not include a.pacs.example.org" in found[0]


def test_a_ca_that_is_not_pem_is_refused(pki):
    der = pki["ca"].public_bytes(serialization.Encoding.DER)
    for bad in ("not a certificate", str(der)):
        found = errors(settings(pki, pacs_https_ca_certificate=bad))
        assert found == ["pacs_https_ca_certificate[]: is not PEM (no -----BEGIN CERTIFICATE----- block)"]
    broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    found = errors(settings(pki, pacs_https_ca_certificate=broken))
    assert len(found) == 1 and found[0].startswith("pacs_https_ca_certificate[]: certificate 1 of the PEM text cannot be read")


def test_a_certificate_from_another_ca_is_refused(pki):
    other_key = make_key()
    other = _certificate(other_key, "Other CA", ca=True)
    found = errors(settings(pki, pacs_https_ca_certificate=pem(other)))
    assert found == ["pacs_https_certificate[CN=pacs.example.org]: was not issued by pacs_https_ca_certificate (CN=Other CA)"]
    # A bundle holding the right CA among others is fine.
    assert errors(settings(pki, pacs_https_ca_certificate=pem(other) + pem(pki["ca"]))) == []


def test_a_chain_with_intermediates(pki):
    inter_key = make_key()
    inter = _certificate(inter_key, "Intermediate", "Test CA", pki["ca_key"], ca=True)
    key = make_key()
    leaf = _certificate(key, "pacs.example.org", "Intermediate", inter_key, names=["pacs.example.org", "192.0.2.5"])
    good = settings(pki, pacs_https_certificate=pem(leaf) + pem(inter), pacs_https_private_key=pem(key))
    assert errors(good) == []
    swapped = dict(good, pacs_https_certificate=pem(inter) + pem(leaf))
    found = errors(swapped)
    assert any("does not match the certificate CN=Intermediate" in e for e in found)
    assert any("certificate 2 of the chain did not issue certificate 1" in e for e in found)


def test_missing_and_unreadable_material(pki):
    found = errors(settings(pki, pacs_https_certificate="", pacs_https_private_key=""))
    assert found == ["pacs_https_certificate[]: is empty",
                     "pacs_https_private_key[]: is empty; put the key in Ansible Vault"]
    found = errors(settings(pki, pacs_https_private_key="-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
    assert found == ["pacs_https_private_key[]: cannot be read as a PEM private key (ValueError)"]
    encrypted = pki["key"].private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.BestAvailableEncryption(b"passphrase")).decode()
    found = errors(settings(pki, pacs_https_private_key=encrypted))
    assert len(found) == 1 and "is encrypted with a passphrase" in found[0]


def test_messages_never_hold_the_key(pki):
    wrong = pem(make_key())
    for found in (errors(settings(pki, pacs_https_private_key=wrong)),
                  errors(settings(pki, pacs_https_private_key=wrong[:-40]))):
        assert found
        body = "".join(wrong.splitlines()[1:-1])
        assert all(body[:20] not in e for e in found)


def test_client_certificate_settings(pki):
    found = errors(settings(pki, pacs_https_client_verify="optional",
                            pacs_https_client_certificate_locations=["/dicom-web/", "modalities"]))
    assert found == [
        "pacs_https_client_ca_certificate[]: is empty (pacs_https_client_verify is optional)",
        "pacs_https_client_certificate_locations[modalities]: must be a URI prefix starting with / "
        "without spaces, quotes, braces or semicolons",
    ]
    assert errors(settings(pki, pacs_https_client_verify="optional", pacs_https_client_ca_certificate=pem(pki["ca"]),
                           pacs_https_client_certificate_locations=["/dicom-web/"])) == []
    found = errors(settings(pki, pacs_https_client_verify="off", pacs_https_client_certificate_locations=["/x/"]))
    assert found == ["pacs_https_client_certificate_locations[/x/]: needs pacs_https_client_verify optional (it is off)"]
    assert errors(settings(pki, pacs_https_client_verify="maybe")) == [
        "pacs_https_client_verify[maybe]: must be one of off, optional, on"]


def test_every_problem_is_reported_at_once(pki):
    found = errors(settings(pki, pacs_https_private_key=pem(make_key()), pacs_https_server_name="x.example.org",
                            pacs_https_ca_certificate="junk", pacs_https_port=443, pacs_https_http_port=443,
                            pacs_https_upstreams=[{"host": "127.0.0.1", "port": 99999}, {"port": 1}],
                            pacs_https_client_max_body_size="4 GB"))
    assert [e.split("[")[0] for e in found] == [
        "pacs_https_private_key", "pacs_https_certificate", "pacs_https_ca_certificate", "pacs_https_http_port",
        "pacs_https_upstreams", "pacs_https_upstreams", "pacs_https_client_max_body_size"]


def test_upstreams(pki):
    assert errors(settings(pki, pacs_https_upstreams=[])) == [
        "pacs_https_upstreams[[]]: must list at least one Orthanc node"]
    two = [{"host": "10.0.0.1", "port": 8042}, {"host": "10.0.0.1", "port": "8042"}]
    assert errors(settings(pki, pacs_https_upstreams=two)) == ["pacs_https_upstreams[10.0.0.1:8042]: is listed twice"]


def test_certificate_info(pki):
    info = certificate_info(pem(pki["cert"]), now=NOW)
    assert info["subject"] == "CN=pacs.example.org" and info["issuer"] == "CN=Test CA"
    assert info["common_name"] == "pacs.example.org"
    assert info["names"] == ["pacs.example.org", "192.0.2.5"]
    assert info["days_left"] in (89, 90)
    with pytest.raises(AnsibleFilterError, match="is not PEM"):
        certificate_info("nothing")


def test_wrong_input_types_raise():
    with pytest.raises(AnsibleFilterError, match="expects a dict"):
        errors(["not", "a", "dict"])
    with pytest.raises(AnsibleFilterError, match="ISO 8601"):
        errors({}, now="yesterday")


@pytest.mark.parametrize("overrides, fragment", [
    ({"pacs_https_server_aliases": ["192.0.2.5", "x; return 200"]},
     "pacs_https_server_aliases['x; return 200']: is not a host name or IP address"),
    ({"pacs_https_ciphers": ["ECDHE-RSA-AES128-GCM-SHA256", "x;\n ssl_verify_client off"]},
     "pacs_https_ciphers['x;\\n ssl_verify_client off']: is not an OpenSSL cipher name"),
    ({"pacs_https_ciphers": []}, "pacs_https_ciphers[[]]: must be a non-empty list"),
])
def test_what_would_be_nginx_syntax_is_refused(pki, overrides, fragment):
    assert any(fragment in e for e in errors(settings(pki, **overrides))), errors(settings(pki, **overrides))


def test_default_ciphers_pass(pki):
    import yaml
    spec = yaml.safe_load((pathlib.Path(__file__).resolve().parents[2] / "roles" / "pacs_https" / "meta"
                           / "argument_specs.yml").read_text())
    ciphers = spec["argument_specs"]["main"]["options"]["pacs_https_ciphers"]["default"]
    assert errors(settings(pki, pacs_https_ciphers=ciphers)) == []


@pytest.mark.parametrize("host", ["127.0.0.1\n", "a\nserver evil.example:80", "node 2", "a;b", "a\tb", "x#y", "$h"])
def test_an_upstream_host_that_would_be_nginx_syntax_is_refused(pki, host):
    found = errors(settings(pki, pacs_https_upstreams=[{"host": host, "port": 8042}]))
    assert any(e.startswith("pacs_https_upstreams[") and "host must be an address or host name" in e for e in found)


def test_plain_upstream_hosts_pass(pki):
    for host in ("127.0.0.1", "pacs2.example.org", "[2001:db8::5]"):
        assert errors(settings(pki, pacs_https_upstreams=[{"host": host, "port": 8042}])) == []
