"""The smoke report of the converge proves the front door: the link "HTTPS <name>" green
(chain, expiry, TLS 1.1 refused, plain HTTP redirected, Orthanc's port closed by the
firewall) and the DICOMweb checks run over HTTPS. Then nginx serves a certificate 20 days
from expiry (made by make_test_pki.py) and the smoke, run again, shows the expiry warning
in an amber cell without failing the run; with the inventory's failure threshold above its
days left (pacs_smoke_tls_expiry_fail_days), the same certificate turns the cell red and
fails the run."""

import base64
import json
import os
import pathlib
import re
import subprocess
import time

import pytest
from conftest import ADDRESS, NAME, PKI, PROJECT, SCENARIO, load_tls_check

testinfra_hosts = ["pp-https-pacs"]
EPHEMERAL = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
LINK = f"HTTPS {NAME}"
TLS_DIR = "/etc/nginx/pacs-https"
TLS = load_tls_check()


def _report(folder, name="pp-https-pacs"):
    data = json.loads((folder / f"{name}.json").read_text())
    html = (folder / f"{name}.html").read_text()
    return {(r["link"], r["check"]): r for r in data["results"]}, data, html


def _cell_class(html, link, check):
    found = re.search(r'<td class="([a-z]+)" data-link="%s" data-check="%s"' % (re.escape(link), re.escape(check)), html)
    return found.group(1) if found else None


def test_converge_report_shows_the_https_link_green():
    results, data, html = _report(EPHEMERAL / "reports" / "https" / "latest")
    tls = {check: r for (link, check), r in results.items() if link == LINK}
    assert sorted(tls) == ["chain", "expiry", "http_closed_8042", "http_redirect", "tls11_refused"]
    for check, result in tls.items():
        assert result["status"] == "pass", result
        assert _cell_class(html, LINK, check) == "pass", check
    assert tls["chain"]["detail"].startswith(f"verified for {NAME} (CN={NAME}), TLSv1.3")
    assert tls["http_closed_8042"]["detail"] == "port 8042 refuses connections"
    assert tls["http_redirect"]["detail"] == f"plain HTTP on port 80 redirects (301) to https://{NAME}/"
    # The DICOMweb checks went through the front door (Orthanc's own port is closed to the probe).
    assert data["orthanc"]["http_url"] == f"https://{ADDRESS}:443"
    for check in ("http_auth", "stow", "qido", "wado", "cleanup"):
        assert results[("DICOMweb", check)]["status"] == "pass", results[("DICOMweb", check)]
    assert data["counts"]["fail"] == 0 and data["counts"]["warn"] == 0
    assert '<span class="n-warn">warn: 0</span>' in html
    # The connection sheet gives users the name they use.
    sheet = (EPHEMERAL / "reports" / "https" / "latest" / "pp-https-pacs-connection-sheet.md").read_text()
    assert f"`https://{NAME}/dicom-web/`" in sheet


def _put(host, path, data):
    encoded = base64.b64encode(data).decode("ascii")
    host.run_expect([0], f"printf '%s' {encoded} | base64 -d > {path}")


def _days_served():
    params = {"link": LINK, "host": ADDRESS, "server_name": NAME, "port": 443, "ca_file": str(PKI / "ca.crt"),
              "ca_pem": None, "http_port": 0, "closed_http_ports": [], "expiry_fail_days": 14,
              "expiry_warn_days": 30, "checks": ["expiry"], "timeout": 5.0}
    return TLS.run(params)[0].get("days_left")


def _serve(host, days):
    """nginx restarted on the certificate files as they are now, until it serves `days` left.

    A restart, not a reload: a reload on a loaded machine was seen to leave the workers on
    the old certificate (an earlier version of this fixture failed so in teardown)."""
    host.run_expect([0], "nginx -t")
    host.run_expect([0], "systemctl restart nginx")
    deadline = time.monotonic() + 30
    while _days_served() != days and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _days_served() == days


@pytest.fixture
def expiring_certificate(host):
    """nginx serves pacs-expiring.crt (20 days left) for the test, then its own again."""
    before = {name: host.file(f"{TLS_DIR}/{name}").content for name in ("server.crt", "server.key")}
    try:
        _put(host, f"{TLS_DIR}/server.crt", (PKI / "pacs-expiring.crt").read_bytes())
        _put(host, f"{TLS_DIR}/server.key", (PKI / "pacs-expiring.key").read_bytes())
        _serve(host, 19)
        yield
    finally:
        for name, content in before.items():
            _put(host, f"{TLS_DIR}/{name}", content)
        _serve(host, 89)


def _smoke(tmp_path, name, *extra):
    """playbooks/smoke.yml on the PACS, its report in tmp_path/<name>; (return code, output)."""
    env = dict(os.environ)
    env.setdefault("ANSIBLE_CONFIG", str(EPHEMERAL / "ansible.cfg"))
    run = subprocess.run(
        [str(PROJECT / ".venv" / "bin" / "ansible-playbook"), "-i", str(EPHEMERAL / "inventory"),
         str(PROJECT / "playbooks" / "smoke.yml"), "--limit", "pp-https-pacs",
         "-e", f"pacs_smoke_report_dir={tmp_path}", "-e", f"pacs_smoke_inventory_name={name}", *extra],
        cwd=SCENARIO, env=env, capture_output=True, text=True, timeout=300, check=False)
    return run.returncode, run.stdout + run.stderr


def test_a_certificate_near_expiry_turns_its_cell_amber_then_red(expiring_certificate, tmp_path):  # pylint: disable=unused-argument
    returncode, output = _smoke(tmp_path, "expiring")
    assert returncode == 0, output  # a warning does not fail the run
    results, data, html = _report(tmp_path / "expiring" / "latest")
    expiry = results[(LINK, "expiry")]
    assert expiry["status"] == "warn" and expiry["days_left"] == 19, expiry
    assert expiry["error"] == "expires in 19 days, below the warning limit of 30"
    assert _cell_class(html, LINK, "expiry") == "warn"
    assert "td.warn { background: #ffbf00; }" in html  # amber
    assert data["counts"]["warn"] == 1 and data["counts"]["fail"] == 0
    assert results[(LINK, "chain")]["status"] == "pass"  # still a valid chain
    # The hospital index marks the link with the warning colour too.
    index = (tmp_path / "expiring" / "index.html").read_text()
    assert re.search(r'<tr data-link="%s">.*?<span class="badge warn">warn</span>' % re.escape(LINK), index, re.S)

    # The inventory's own threshold: 19 days left is below 20, a failure, in red, and the run fails.
    returncode, output = _smoke(tmp_path, "expired-soon", "-e", "pacs_smoke_tls_expiry_fail_days=20")
    assert returncode != 0, output
    results, data, html = _report(tmp_path / "expired-soon" / "latest")
    expiry = results[(LINK, "expiry")]
    assert expiry["status"] == "fail" and expiry["days_left"] == 19, expiry
    assert expiry["error"] == "expires in 19 days, below the limit of 20"
    assert _cell_class(html, LINK, "expiry") == "fail"
    assert "td.fail { background: #f4b4b4; }" in html  # red
    assert data["counts"]["fail"] == 1 and results[(LINK, "chain")]["status"] == "pass"
