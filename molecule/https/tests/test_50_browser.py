"""Chromium (installed on the controller by scripts/bootstrap.sh) loads Orthanc Explorer
through the front door, at the name users use, with the test CA trusted in the user's
NSS database, and refuses it without. The screenshot is kept under the scenario's
ephemeral folder: artefacts/orthanc-explorer-https.png."""

import os
import pathlib
import shutil
import subprocess
import sys

from cdp import load_page
from conftest import ADDRESS, NAME, PKI

testinfra_hosts = ["pp-https-pacs"]
ARTEFACTS = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp")) / "artefacts"
CHROMIUM = shutil.which("chromium")
URL = f"https://{NAME}/app/explorer.html"
RESOLVE = [f"--host-resolver-rules=MAP {NAME} {ADDRESS}"]


def test_chromium_loads_orthanc_explorer_over_https(tmp_path, admin):
    # Without the test CA, chromium refuses the certificate.
    untrusted = tmp_path / "untrusted"
    untrusted.mkdir()
    title, _text, error = load_page(CHROMIUM, untrusted, URL, admin, extra_args=RESOLVE)
    assert error == "net::ERR_CERT_AUTHORITY_INVALID" and title == ""
    # With the test CA in the user's NSS database (what certutil -A -t C,, does).
    home = tmp_path / "trusted"
    (home / ".pki" / "nssdb").mkdir(parents=True)
    subprocess.run([sys.executable, str(pathlib.Path(__file__).with_name("nss_trust.py")),
                    str(home / ".pki" / "nssdb"), str(PKI / "ca.crt"), "pacs-provisioner molecule test CA"],
                   check=True, timeout=60)
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTEFACTS / "orthanc-explorer-https.png"
    shot.unlink(missing_ok=True)
    title, text, error = load_page(CHROMIUM, home, URL, admin, extra_args=RESOLVE, screenshot=shot)
    assert error == ""
    assert title == "Orthanc Explorer"
    # Filled in by the Explorer's own calls to the REST API through the front door.
    assert "Molecule HTTPS PACS » Lookup studies" in text
    assert shot.stat().st_size > 20000
