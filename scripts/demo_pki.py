#!/usr/bin/env python3
"""Make the demo hospital's local CA and its PACS's HTTPS certificate, on this machine.

Usage: scripts/demo_pki.py FOLDER
Writes into FOLDER (.pki/demo, ignored by git; scripts/bootstrap.sh runs this):
ca.crt and ca.key (the demo's own CA, 5 years) and pacs.crt and pacs.key (the demo PACS's
front door, 1 year, names pacs.demo.test and 172.28.10.10). Keys are 0600 and never
committed: each machine makes its own. Files that exist and are still good for 30 days are
kept, so running it again changes nothing.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import pathlib
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ORGANIZATION = "pacs-provisioner demo (this machine only)"
SERVER_NAMES = ("pacs.demo.test", "172.28.10.10")
RENEW_BEFORE = datetime.timedelta(days=30)


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _san(name):
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def authority(key, now, days=5 * 365):
    """A self-signed CA certificate for key, allowed to sign certificates only."""
    return (x509.CertificateBuilder().subject_name(_name("pacs-provisioner demo CA"))
            .issuer_name(_name("pacs-provisioner demo CA")).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))


def server(key, ca, ca_key, names, now, days=365):
    """A TLS server certificate for key, issued by ca for the given DNS names and IP addresses."""
    return (x509.CertificateBuilder().subject_name(_name(names[0])).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([_san(n) for n in names]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))


def still_good(certificate_file, now):
    """Whether the certificate in that file exists and stays valid for RENEW_BEFORE."""
    try:
        certificate = x509.load_pem_x509_certificate(certificate_file.read_bytes())
    except (OSError, ValueError):
        return False
    return certificate.not_valid_after_utc - now > RENEW_BEFORE


def _write_key(path, key):
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    os.chmod(path, 0o600)


def _write_certificate(path, certificate):
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    os.chmod(path, 0o644)


def ensure(folder, now=None):
    """Make what is missing or about to expire in folder; returns the names of the files written."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    if still_good(folder / "ca.crt", now) and (folder / "ca.key").exists():
        ca_key = serialization.load_pem_private_key((folder / "ca.key").read_bytes(), None)
        ca = x509.load_pem_x509_certificate((folder / "ca.crt").read_bytes())
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = authority(ca_key, now)
        _write_key(folder / "ca.key", ca_key)
        _write_certificate(folder / "ca.crt", ca)
        written += ["ca.key", "ca.crt"]
    if written or not still_good(folder / "pacs.crt", now) or not (folder / "pacs.key").exists():
        key = ec.generate_private_key(ec.SECP256R1())
        _write_key(folder / "pacs.key", key)
        _write_certificate(folder / "pacs.crt", server(key, ca, ca_key, SERVER_NAMES, now))
        written += ["pacs.key", "pacs.crt"]
    return written


def main(argv):
    """Entry point."""
    if len(argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    written = ensure(argv[1])
    print("demo PKI in %s: %s" % (argv[1], ("made " + ", ".join(written)) if written else "unchanged"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
