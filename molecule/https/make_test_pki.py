#!/usr/bin/env python3
"""Make the https scenario's test CA and the certificates it issues, at run time.

Usage: make_test_pki.py FOLDER < password
Writes ca.crt/ca.key (365 days), pacs.crt/pacs.key (server, 90 days, names
pacs.molecule.test and 172.28.90.10), pacs-expiring.crt/pacs-expiring.key (the same
names, 20 days: the smoke's expiry warning), client.crt/client.key (client auth, 90 days),
remote.crt/remote.key (server, 90 days, names dicomweb-remote.molecule.test and
172.28.90.20: the remote DICOMweb server that requires a client certificate) and
orthanc-client.crt/orthanc-client.key (client auth, 90 days, the key encrypted with the
password read from standard input: Orthanc's client certificate for that server).
Nothing is committed: the folder is the scenario's ephemeral one. Keys are 0600.
Keeps existing files (prints "unchanged" when it made none), so prepare can run twice.
"""

import datetime
import ipaddress
import os
import pathlib
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime.now(datetime.timezone.utc)


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pacs-provisioner molecule (test only)"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(folder, label, key, certificate, password=None):
    key_file = folder / f"{label}.key"
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))
    os.chmod(key_file, 0o600)
    (folder / f"{label}.crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def _issue(subject, key, issuer, issuer_key, days, extensions):
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW - datetime.timedelta(hours=1)).not_valid_after(NOW + datetime.timedelta(days=days)))
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer_key, hashes.SHA256())


def _leaves():
    """label, subject, names, extended key usage, days, whether the key is encrypted."""
    pacs_names = [x509.DNSName("pacs.molecule.test"), x509.IPAddress(ipaddress.ip_address("172.28.90.10"))]
    return (("pacs", "pacs.molecule.test", pacs_names, ExtendedKeyUsageOID.SERVER_AUTH, 90, False),
            ("pacs-expiring", "pacs.molecule.test", pacs_names, ExtendedKeyUsageOID.SERVER_AUTH, 20, False),
            ("client", "molecule-dicomweb-client", [x509.DNSName("client.molecule.test")],
             ExtendedKeyUsageOID.CLIENT_AUTH, 90, False),
            ("remote", "dicomweb-remote.molecule.test",
             [x509.DNSName("dicomweb-remote.molecule.test"), x509.IPAddress(ipaddress.ip_address("172.28.90.20"))],
             ExtendedKeyUsageOID.SERVER_AUTH, 90, False),
            ("orthanc-client", "molecule-orthanc-client", [x509.DNSName("orthanc-client.molecule.test")],
             ExtendedKeyUsageOID.CLIENT_AUTH, 90, True))


def _authority(folder):
    """The CA's name and key: read when it exists, else made (ca.crt, ca.key)."""
    ca_name = _name("pacs-provisioner molecule test CA")
    if (folder / "ca.key").exists() and (folder / "ca.crt").exists():
        return ca_name, serialization.load_pem_private_key((folder / "ca.key").read_bytes(), password=None), False
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _issue("pacs-provisioner molecule test CA", ca_key, ca_name, ca_key, 365, [
        (x509.BasicConstraints(ca=True, path_length=0), True),
        (x509.KeyUsage(False, False, False, False, False, True, True, False, False), True),
        (x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)])
    _write(folder, "ca", ca_key, ca)
    return ca_name, ca_key, True


def main(folder, password):
    folder = pathlib.Path(folder)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca_name, ca_key, created = _authority(folder)
    authority = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    for label, subject, names, usage, days, encrypted in _leaves():
        if (folder / f"{label}.crt").exists() and (folder / f"{label}.key").exists():
            continue
        if encrypted and not password:
            sys.exit(f"{label}.key is encrypted: give its password on standard input")
        key = ec.generate_private_key(ec.SECP256R1())
        _write(folder, label, key, _issue(subject, key, ca_name, ca_key, days, [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (x509.KeyUsage(True, False, False, False, False, False, False, False, False), True),
            (x509.ExtendedKeyUsage([usage]), False),
            (x509.SubjectAlternativeName(names), False),
            (authority, False)]), password.encode() if encrypted else None)
        created = True
    print("created" if created else "unchanged")


if __name__ == "__main__":
    main(sys.argv[1], "" if sys.stdin.isatty() else sys.stdin.read().strip())
