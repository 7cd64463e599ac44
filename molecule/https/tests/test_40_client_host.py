"""From another host of the hospital network: HTTPS with the CA in its trust store,
and Orthanc's own HTTP port refusing it."""

import pytest
from conftest import ADDRESS, NAME

testinfra_hosts = ["pp-https-client"]


def test_https_from_the_client_host_with_its_trust_store(host, admin):
    run = host.run(f"curl -sS -o /dev/null -w '%{{http_code}}' --resolve {NAME}:443:{ADDRESS} "
                   f"-u {admin[0]}:{admin[1]} https://{NAME}/system")
    assert run.stdout == "200", run.stderr


@pytest.mark.parametrize("credentials", [False, True])
def test_orthanc_http_port_refuses_the_client_host(host, admin, credentials):
    """Orthanc 1.10.1 cannot bind to loopback only; RemoteAccessAllowed false makes it
    refuse every request from elsewhere with 401, even with valid credentials (which
    work over loopback). Closing the port itself is the firewall's job."""
    auth = f"-u {admin[0]}:{admin[1]} " if credentials else ""
    run = host.run(f"curl -s -o /dev/null -w '%{{http_code}}' {auth}http://{ADDRESS}:8042/system")
    assert run.stdout == "401"
    body = host.run(f"curl -s {auth}http://{ADDRESS}:8042/dicom-web/studies")
    assert "00100010" not in body.stdout  # no patient data over plain HTTP
