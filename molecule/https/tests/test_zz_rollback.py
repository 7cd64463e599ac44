"""A front door nginx cannot apply is rolled back. Runs last (file name): the role is
run again with an HTTPS port that another process holds; nginx -t accepts the file (it
does not bind), the reload cannot apply it, and the role's check catches that."""

import os
import pathlib
import subprocess

import pytest
from conftest import ADDRESS, PROJECT, SCENARIO

testinfra_hosts = ["pp-https-pacs"]
TAKEN_PORT = 8443


@pytest.fixture
def port_taken(host):
    host.run_expect([0], f"systemd-run --unit pp-port-blocker python3 -m http.server {TAKEN_PORT}")
    host.run_expect([0], f"timeout 10 sh -c 'until ss -ltn | grep -q :{TAKEN_PORT}; do sleep 0.2; done'")
    yield TAKEN_PORT
    host.run("systemctl stop pp-port-blocker")


def test_a_reload_nginx_cannot_apply_is_rolled_back(host, port_taken, session):
    before = host.file("/etc/nginx/conf.d/pacs-https.conf").content_string
    inventory = pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory"
    env = dict(os.environ)
    env.setdefault("ANSIBLE_CONFIG", str(pathlib.Path(env["MOLECULE_EPHEMERAL_DIRECTORY"]) / "ansible.cfg"))
    run = subprocess.run(
        [str(PROJECT / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory),
         str(PROJECT / "playbooks" / "https.yml"), "--limit", "pp-https-pacs",
         "-e", f"pacs_https_port={port_taken}", "-e", "pacs_https_verify_timeout=5"],
        cwd=SCENARIO, env=env, capture_output=True, text=True, timeout=300, check=False)
    output = run.stdout + run.stderr
    assert run.returncode != 0, output
    assert "did not serve the new front door, so the previous file was restored and nginx reloaded on it" in output
    assert f"bind() to 0.0.0.0:{port_taken} failed (98: Address already in use)" in output, output
    # The previous file is back and served.
    assert host.file("/etc/nginx/conf.d/pacs-https.conf").content_string == before
    assert session.get(f"https://{ADDRESS}/system", timeout=10).status_code == 200
