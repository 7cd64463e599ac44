"""From another host of the hospital network: HTTPS with the CA in its trust store,
and Orthanc's own HTTP port closed to it by the firewall."""

from conftest import ADDRESS, NAME

testinfra_hosts = ["pp-https-client"]


def test_https_from_the_client_host_with_its_trust_store(host, admin):
    run = host.run(f"curl -sS -o /dev/null -w '%{{http_code}}' --resolve {NAME}:443:{ADDRESS} "
                   f"-u {admin[0]}:{admin[1]} https://{NAME}/system")
    assert run.stdout == "200", run.stderr


def test_orthanc_http_port_is_refused_to_the_client_host(host):
    """The firewall closes Orthanc's own HTTP port to every host but loopback (a TCP reset):
    no request, with or without credentials, reaches Orthanc from here (loopback still
    does: test_10_front_door.py)."""
    run = host.run(f"python3 -c \"import socket; socket.create_connection(('{ADDRESS}', 8042), timeout=5)\"")
    assert run.rc != 0 and "ConnectionRefusedError" in run.stderr, (run.rc, run.stderr)
    curl = host.run(f"curl -sS --max-time 5 -o /dev/null -u x:y http://{ADDRESS}:8042/system")
    assert curl.rc == 7, (curl.rc, curl.stderr)  # could not connect: no HTTP answer at all
    # The control: the same host reaches the PACS's HTTPS port, which the firewall opens.
    https = host.run(f"curl -sS --max-time 5 -o /dev/null -w '%{{http_code}}' https://{ADDRESS}/system")
    assert https.rc == 0 and https.stdout == "401", (https.rc, https.stderr)

