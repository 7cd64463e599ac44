"""Certificates and keys made for a test with the cryptography library (no committed key).

Shared by the tests of the TLS checks (front door preflight, smoke's tls_check and DICOMweb
over HTTPS, client certificates): one way to issue a certificate, one way to write PEM.
"""

import datetime
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)
# KeyUsage of a CA: keyCertSign and cRLSign only.
_CA_USAGE = x509.KeyUsage(False, False, False, False, False, True, True, False, False)


def make_key():
    """A fresh P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def _san(name):
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def issue(key, subject, issuer_key=None, issuer=None, ca=False, names=None,
          not_before=None, not_after=None):
    """A certificate for key's public key, named CN=subject, signed by issuer_key (self-signed
    without one) as CN=issuer; a CA when ca; subjectAltName from names (IP addresses or DNS
    names) when given; valid from a day ago for 90 days unless not_before/not_after say."""
    name = lambda cn: x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])  # noqa: E731
    builder = (x509.CertificateBuilder()
               .subject_name(name(subject)).issuer_name(name(issuer or subject))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW - DAY if not_before is None else not_before)
               .not_valid_after(NOW + 90 * DAY if not_after is None else not_after)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(_CA_USAGE, critical=True)
    if names is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName([_san(n) for n in names]), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def pem(obj, password=None):
    """PEM text of a certificate, or of a private key (PKCS#8, encrypted when password is given)."""
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM).decode()
    encryption = (serialization.BestAvailableEncryption(password.encode()) if password
                  else serialization.NoEncryption())
    return obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption).decode()
