"""Client certificates of remote DICOMweb servers (filter_plugins/orthanc.py): what
Orthanc's WebServiceParameters (OrthancFramework, read for every DicomWeb.Servers entry
at start-up) refuses is refused in preflight, naming the item and key; the keys arrive in
DicomWeb.Servers under Orthanc's names, and the password is redacted from diffs."""

import pytest
from orthanc import FilterModule

F = FilterModule().filters()
SERVER = {"name": "partner", "url": "https://dicomweb.partner.example.org/dicom-web/",
          "username": "svc", "password": "Svc-Pass-12"}
CERT = {"certificate_file": "/etc/orthanc/tls/partner-client.crt",
        "certificate_key_file": "/etc/orthanc/tls/partner-client.key",
        "certificate_key_password": "Key-Pass-1"}


def _settings(server):
    return {"orthanc_dicom_aet": "GH_PACS", "orthanc_dicom_port": 4242, "orthanc_http_port": 8042,
            "orthanc_install_method": "package", "orthanc_database": "sqlite",
            "orthanc_users": [{"name": "admin", "password": "S3cure-Enough"}],
            "orthanc_authentication_enabled": True, "orthanc_modalities": [], "orthanc_dependent_modalities": [],
            "orthanc_peers": [], "orthanc_dicomweb_servers": [server], "orthanc_webhook_url": "",
            "orthanc_lua_scripts": [], "orthanc_extra_config": {}}


def _errors(**keys):
    return F["orthanc_config_errors"](_settings(dict(SERVER, **keys)))


def test_a_complete_client_certificate_is_accepted_and_rendered():
    assert _errors(**CERT) == []
    entry = F["orthanc_dicomweb_servers"]([dict(SERVER, **CERT)])["partner"]
    assert entry["CertificateFile"] == CERT["certificate_file"]
    assert entry["CertificateKeyFile"] == CERT["certificate_key_file"]
    assert entry["CertificateKeyPassword"] == "Key-Pass-1"
    redacted = F["orthanc_redact"]({"DicomWeb": {"Servers": {"partner": entry}}})
    assert redacted["DicomWeb"]["Servers"]["partner"]["CertificateKeyPassword"] != "Key-Pass-1"


def test_without_a_key_password_orthanc_would_not_start():
    """WebServiceParameters::SetClientCertificate: 'The password for the HTTPS certificate
    is not provided' (ErrorCode_BadFileFormat) when CertificateKeyPassword is empty."""
    found = _errors(**dict(CERT, certificate_key_password=""))
    assert found == ["orthanc_dicomweb_servers[partner].certificate_key_password: is empty but certificate_file "
                     "is set; Orthanc refuses a client certificate without a key password (it stops at start-up): "
                     "put the key's password in Ansible Vault"]


def test_a_certificate_without_its_key_is_refused():
    assert _errors(certificate_file=CERT["certificate_file"], certificate_key_password="x") == [
        "orthanc_dicomweb_servers[partner].certificate_key_file: is empty but certificate_file is set; "
        "Orthanc needs the client key too"]


@pytest.mark.parametrize("keys, named", [
    ({"certificate_key_file": "/k.pem"}, "certificate_key_file"),
    ({"certificate_key_password": "x"}, "certificate_key_password"),
])
def test_a_key_without_its_certificate_is_refused(keys, named):
    assert _errors(**keys) == [f"orthanc_dicomweb_servers[partner].certificate_file: is empty but {named} is set; "
                               "Orthanc ignores a client key without its certificate"]


@pytest.mark.parametrize("path", ["client.crt", "../tls/c.crt", "/etc/orthanc/tls/c\n.crt", 42])
def test_paths_are_absolute_on_the_orthanc_host(path):
    found = _errors(**dict(CERT, certificate_file=path))
    assert found[0].startswith("orthanc_dicomweb_servers[partner].certificate_file: ")
    assert "must be an absolute path on the Orthanc host" in found[0]


def test_no_client_certificate_is_fine():
    assert _errors() == []
