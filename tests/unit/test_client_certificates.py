"""Client certificates of peers and DICOMweb servers given as PEM content (issue 13).

filter_plugins/pacs_tls.py checks the PEM content (certificate valid now, key decrypted by
certificate_key_password and matching the certificate); filter_plugins/orthanc.py checks the
keys come together, lists the files the role writes and renders their paths; and
filter_plugins/pacs_preflight.py, the preflight play's and `make validate`'s one check of a
host, reports them. Certificates and keys are made here with the cryptography library (the
same library OpenSSL-backed curl reads these PEM formats like); no key is committed.
"""

import datetime
import pathlib

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

import filter_plugins_loader  # noqa: F401  pylint: disable=unused-import
import orthanc
import pacs_tls
from pacs_preflight import pacs_preflight_errors
from role_templar import orthanc_role_value

ROOT = pathlib.Path(__file__).resolve().parents[2]

TLS = pacs_tls.FilterModule().filters()
ORTHANC = orthanc.FilterModule().filters()
check = TLS["pacs_tls_client_certificate_errors"]

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)
PASSWORD = "Key-Pass-1"


def _certificate(key, subject="research-client", not_before=NOW - DAY, not_after=NOW + 90 * DAY):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
            .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())


def _key_pem(key, password=PASSWORD, form=serialization.PrivateFormat.PKCS8):
    encryption = (serialization.BestAvailableEncryption(password.encode()) if password
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, form, encryption).decode()


@pytest.fixture(scope="module")
def key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def item(key):
    return {"name": "research", "url": "https://dicomweb.research.example.org/dicom-web/",
            "certificate": _certificate(key), "certificate_key": _key_pem(key),
            "certificate_key_password": PASSWORD}


def _servers(*items):
    return {"orthanc_peers": [], "orthanc_dicomweb_servers": list(items)}


def test_the_filter_is_registered_and_a_sound_certificate_passes(item):
    assert check(_servers(item)) == []
    assert check({"orthanc_peers": [dict(item, name="peer1")], "orthanc_dicomweb_servers": []}) == []


def test_an_rsa_key_in_openssl_traditional_encryption_passes():
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = _key_pem(rsa_key, form=serialization.PrivateFormat.TraditionalOpenSSL)
    assert "Proc-Type: 4,ENCRYPTED" in pem
    assert check(_servers({"name": "rsa", "certificate": _certificate(rsa_key), "certificate_key": pem,
                           "certificate_key_password": PASSWORD})) == []


def test_an_unencrypted_key_passes_the_password_is_then_unused(key, item):
    """OpenSSL only asks for a password for an encrypted key; Orthanc still needs one set."""
    assert check(_servers(dict(item, certificate_key=_key_pem(key, password=None)))) == []


def test_a_key_that_does_not_match_its_certificate_is_refused(item):
    other = ec.generate_private_key(ec.SECP256R1())
    found = check(_servers(dict(item, certificate_key=_key_pem(other))))
    assert found == ["orthanc_dicomweb_servers[research].certificate_key: does not match certificate "
                     "(CN=research-client; their public keys differ)"]


def test_a_wrong_password_is_refused(item):
    found = check(_servers(dict(item, certificate_key_password="not-the-password")))
    assert found == ["orthanc_dicomweb_servers[research].certificate_key_password: does not decrypt "
                     "certificate_key (wrong password, or a cipher OpenSSL cannot read)"]


def test_an_expired_and_a_future_certificate_are_refused(key, item):
    expired = _certificate(key, not_before=NOW - 100 * DAY, not_after=NOW - DAY)
    found = check(_servers(dict(item, certificate=expired)))
    assert len(found) == 1
    assert found[0].startswith("orthanc_dicomweb_servers[research].certificate: CN=research-client expired on ")
    future = _certificate(key, not_before=NOW + DAY, not_after=NOW + 90 * DAY)
    found = check(_servers(dict(item, certificate=future)))
    assert len(found) == 1 and " is not valid before " in found[0]


def test_the_clock_can_be_given(item):
    """The same certificate, checked at a time after its expiry."""
    found = check(_servers(item), now=(NOW + 100 * DAY).isoformat())
    assert len(found) == 1 and " expired on " in found[0]


@pytest.mark.parametrize("text", ["/etc/orthanc/tls/client.crt", "MIIB...base64 without armour",
                                  "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"])
def test_a_certificate_that_is_not_pem_is_refused(item, text):
    found = check(_servers(dict(item, certificate=text)))
    assert len(found) == 1 and found[0].startswith("orthanc_dicomweb_servers[research].certificate: ")
    assert "PEM" in found[0] or "cannot be read" in found[0]


@pytest.mark.parametrize("text", ["a password is not a key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"])
def test_a_key_that_is_not_pem_is_refused(item, text):
    found = check(_servers(dict(item, certificate_key=text)))
    assert len(found) == 1 and found[0].startswith("orthanc_dicomweb_servers[research].certificate_key: ")


def test_messages_never_hold_the_key_or_the_password(key, item):
    other = ec.generate_private_key(ec.SECP256R1())
    for bad in (dict(item, certificate_key=_key_pem(other)), dict(item, certificate_key_password="x-wrong-x"),
                dict(item, certificate_key="junk", certificate="junk")):
        for line in check(_servers(bad)):
            assert "PRIVATE KEY" not in line and PASSWORD not in line and "x-wrong-x" not in line


def test_items_without_content_are_left_to_the_role_checks(item):
    """Paths on the host are Orthanc's to read; missing keys are orthanc_config_errors' to name."""
    assert check(_servers({"name": "paths", "url": "https://x.example.org/",
                           "certificate_file": "/etc/ssl/c.crt", "certificate_key_file": "/etc/ssl/c.key",
                           "certificate_key_password": "p"})) == []
    assert check(_servers(dict(item, certificate_key=""), dict(item, name="nopw", certificate_key_password=""))) == []


def test_an_item_without_a_name_is_labelled_by_its_position(item):
    other = ec.generate_private_key(ec.SECP256R1())
    found = check({"orthanc_peers": [{"certificate": item["certificate"], "certificate_key": _key_pem(other),
                                      "certificate_key_password": PASSWORD}]})
    assert found[0].startswith("orthanc_peers[#0].certificate_key: does not match certificate")


# --- filter_plugins/orthanc.py: the keys together, the files and the rendered paths ---

def _orthanc_errors(*servers, peers=()):
    settings = {"orthanc_dicom_aet": "GH_PACS", "orthanc_dicom_port": 4242, "orthanc_http_port": 8042,
                "orthanc_install_method": "package", "orthanc_database": "sqlite",
                "orthanc_users": [{"name": "admin", "password": "S3cure-Enough"}],
                "orthanc_authentication_enabled": True, "orthanc_modalities": [],
                "orthanc_dependent_modalities": [], "orthanc_peers": list(peers),
                "orthanc_dicomweb_servers": list(servers), "orthanc_webhook_url": "",
                "orthanc_lua_scripts": [], "orthanc_extra_config": {}}
    return ORTHANC["orthanc_config_errors"](settings)


def test_content_keys_are_accepted_by_the_role_checks(item):
    assert _orthanc_errors(item, peers=[dict(item, name="peer1", url="https://peer1.example.org/")]) == []


def test_content_and_paths_together_are_refused(item):
    found = _orthanc_errors(dict(item, certificate_file="/etc/ssl/c.crt"))
    assert found == ["orthanc_dicomweb_servers[research].certificate_file: is set together with "
                     "certificate/certificate_key; give either the PEM content (certificate, certificate_key) "
                     "or paths on the Orthanc host (certificate_file, certificate_key_file), not both"]


@pytest.mark.parametrize(("drop", "line"), [
    ("certificate_key", "orthanc_dicomweb_servers[research].certificate_key: is empty but certificate is set; "
                        "Orthanc needs the client key too: put it in Ansible Vault"),
    ("certificate", "orthanc_dicomweb_servers[research].certificate: is empty but certificate_key is set; "
                    "Orthanc ignores a client key without its certificate"),
    ("certificate_key_password", "orthanc_dicomweb_servers[research].certificate_key_password: is empty but "
                                 "certificate is set; Orthanc refuses a client certificate without a key password "
                                 "(it stops at start-up): put the key's password in Ansible Vault"),
])
def test_a_missing_part_is_named(item, drop, line):
    assert _orthanc_errors({k: v for k, v in item.items() if k != drop}) == [line]


def test_peers_are_held_to_the_same_rule_as_dicomweb_servers(item):
    peer = {k: v for k, v in item.items() if k != "certificate_key_password"}
    found = _orthanc_errors(peers=[dict(peer, name="peer1", url="https://peer1.example.org/")])
    assert found == ["orthanc_peers[peer1].certificate_key_password: is empty but certificate is set; Orthanc "
                     "refuses a client certificate without a key password (it stops at start-up): put the key's "
                     "password in Ansible Vault"]


def test_the_files_to_write_and_the_rendered_paths_agree(item):
    settings = {"orthanc_peers": [dict(item, name="peer1")],
                "orthanc_dicomweb_servers": [item, {"name": "plain", "url": "https://p.example.org/"}]}
    files = ORTHANC["orthanc_client_certificate_files"](settings, "/etc/orthanc")
    assert [(f["path"], f["secret"]) for f in files] == [
        ("/etc/orthanc/tls/client/dicomweb-research.crt", False), ("/etc/orthanc/tls/client/peer-peer1.crt", False),
        ("/etc/orthanc/tls/client/dicomweb-research.key", True), ("/etc/orthanc/tls/client/peer-peer1.key", True)]
    assert files[0]["content"] == item["certificate"] and files[2]["content"] == item["certificate_key"]
    servers = ORTHANC["orthanc_dicomweb_servers"](settings["orthanc_dicomweb_servers"], "/etc/orthanc")
    assert servers["research"] == {"Url": item["url"], "CertificateFile": "/etc/orthanc/tls/client/dicomweb-research.crt",
                                   "CertificateKeyFile": "/etc/orthanc/tls/client/dicomweb-research.key",
                                   "CertificateKeyPassword": PASSWORD}
    assert servers["plain"] == {"Url": "https://p.example.org/"}
    peers = ORTHANC["orthanc_peers"](settings["orthanc_peers"], "/srv/orthanc/")
    assert peers["peer1"]["CertificateFile"] == "/srv/orthanc/tls/client/peer-peer1.crt"


def test_a_pem_stripped_of_its_last_newline_is_written_with_one(item):
    """ansible.builtin.file lookups strip the final newline; the files get it back."""
    stripped = dict(item, certificate=item["certificate"].rstrip("\n"), certificate_key=item["certificate_key"].rstrip())
    files = ORTHANC["orthanc_client_certificate_files"]({"orthanc_dicomweb_servers": [stripped]}, "/etc/orthanc")
    assert [f["content"] for f in files] == [item["certificate"], item["certificate_key"]]


def test_path_keys_still_render_as_they_are():
    server = {"name": "partner", "url": "https://x.example.org/", "certificate_file": "/etc/ssl/c.crt",
              "certificate_key_file": "/etc/ssl/c.key", "certificate_key_password": "p"}
    assert ORTHANC["orthanc_dicomweb_servers"]([server])["partner"]["CertificateFile"] == "/etc/ssl/c.crt"
    assert ORTHANC["orthanc_client_certificate_files"]({"orthanc_dicomweb_servers": [server]}, "/etc/orthanc") == []


def test_content_without_the_configuration_directory_is_an_error(item):
    with pytest.raises(orthanc.AnsibleFilterError, match="needs the configuration directory"):
        ORTHANC["orthanc_dicomweb_servers"]([item])


# --- filter_plugins/pacs_preflight.py: the preflight play and `make validate` report them ---

def test_the_host_preflight_names_variable_item_and_problem(item):
    other = ec.generate_private_key(ec.SECP256R1())
    host = {"inventory_hostname": "pacs1", "ansible_host": "10.0.0.5", "orthanc_dicom_aet": "GH_PACS",
            "orthanc_users": [{"name": "admin", "password": "Correct-Horse-9"}],
            "orthanc_dicomweb_servers": [dict(item, certificate_key=_key_pem(other))],
            "orthanc_peers": [dict(item, name="peer1", url="https://peer1.example.org/",
                                   certificate_key_password="wrong-password")]}
    assert pacs_preflight_errors(host) == [
        "orthanc_peers[peer1].certificate_key_password: does not decrypt certificate_key (wrong password, or a "
        "cipher OpenSSL cannot read)",
        "orthanc_dicomweb_servers[research].certificate_key: does not match certificate (CN=research-client; "
        "their public keys differ)"]
    host.update(orthanc_dicomweb_servers=[item], orthanc_peers=[])
    assert pacs_preflight_errors(host) == []


# --- roles/orthanc: what vars/main.yml renders, and the task file ---

@pytest.mark.parametrize(("method", "config_dir", "seen_at"), [
    ("package", "/etc/orthanc", "/etc/orthanc"), ("package", "/srv/pacs/orthanc", "/srv/pacs/orthanc"),
    ("container", "/srv/pacs/orthanc", "/etc/orthanc")])
def test_orthanc_json_names_the_files_where_orthanc_sees_them(item, method, config_dir, seen_at):
    """The container mounts orthanc_config_dir at /etc/orthanc: the rendered paths are the container's."""
    config = orthanc_role_value("{{ __orthanc_config }}", orthanc_install_method=method, orthanc_config_dir=config_dir,
                         orthanc_dicomweb_servers=[item], orthanc_peers=[dict(item, name="peer1")])
    assert config["DicomWeb"]["Servers"]["research"]["CertificateFile"] == f"{seen_at}/tls/client/dicomweb-research.crt"
    assert config["DicomWeb"]["Servers"]["research"]["CertificateKeyFile"] == f"{seen_at}/tls/client/dicomweb-research.key"
    assert config["OrthancPeers"]["peer1"]["CertificateFile"] == f"{seen_at}/tls/client/peer-peer1.crt"


def test_the_task_file_writes_where_the_configuration_names_and_hides_the_keys():
    tasks = yaml.safe_load((ROOT / "roles" / "orthanc" / "tasks" / "client-certificates.yml").read_text())[0]
    assert "orthanc_client_certificate_files(orthanc_config_dir)" in tasks["vars"]["__orthanc_client_files"]
    by_name = {task["name"]: task for task in tasks["block"]}
    keys = by_name["Install the client keys"]
    assert keys["no_log"] is True and "selectattr('secret')" in keys["loop"]
    assert keys["ansible.builtin.copy"]["mode"] == "0640" and keys["ansible.builtin.copy"]["owner"] == "root"
    assert "rejectattr('secret')" in by_name["Install the client certificates"]["loop"]
    main = (ROOT / "roles" / "orthanc" / "tasks" / "main.yml").read_text()
    assert main.index("client-certificates.yml") < main.index("configure.yml")
