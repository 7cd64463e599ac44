"""Trust a CA in an NSS database, which is what chromium on Linux reads for the
roots a user added (~/.pki/nssdb), without certutil (libnss3-tools is not installed):
the same NSS calls certutil -A -t "C,," makes, through ctypes."""

import ctypes
import sys

from cryptography import x509
from cryptography.hazmat.primitives import serialization


class SECItem(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("data", ctypes.c_void_p), ("len", ctypes.c_uint)]


class CERTCertTrust(ctypes.Structure):
    _fields_ = [("sslFlags", ctypes.c_uint), ("emailFlags", ctypes.c_uint), ("objectSigningFlags", ctypes.c_uint)]


CERTDB_VALID_CA = 1 << 4
CERTDB_TRUSTED_CA = 1 << 7
CERTDB_TRUSTED_CLIENT_CA = 1 << 9


def trust_ca(dbdir, pem_path, nickname):
    nss = ctypes.CDLL("libnss3.so")
    nss.NSS_InitReadWrite.argtypes = [ctypes.c_char_p]
    if nss.NSS_InitReadWrite(f"sql:{dbdir}".encode()) != 0:
        raise RuntimeError("NSS_InitReadWrite failed")
    der = x509.load_pem_x509_certificate(open(pem_path, "rb").read()).public_bytes(serialization.Encoding.DER)
    buf = ctypes.create_string_buffer(der, len(der))
    item = SECItem(0, ctypes.cast(buf, ctypes.c_void_p), len(der))
    nss.CERT_GetDefaultCertDB.restype = ctypes.c_void_p
    nss.CERT_NewTempCertificate.restype = ctypes.c_void_p
    nss.CERT_NewTempCertificate.argtypes = [ctypes.c_void_p, ctypes.POINTER(SECItem), ctypes.c_char_p, ctypes.c_int, ctypes.c_int]
    handle = nss.CERT_GetDefaultCertDB()
    cert = nss.CERT_NewTempCertificate(handle, ctypes.byref(item), None, 0, 1)
    if not cert:
        raise RuntimeError("CERT_NewTempCertificate failed")
    nss.PK11_GetInternalKeySlot.restype = ctypes.c_void_p
    slot = nss.PK11_GetInternalKeySlot()
    nss.PK11_NeedUserInit.argtypes = [ctypes.c_void_p]
    if nss.PK11_NeedUserInit(slot):
        nss.PK11_InitPin.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
        if nss.PK11_InitPin(slot, b"", b"") != 0:
            raise RuntimeError("PK11_InitPin failed")
    nss.PK11_ImportCert.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    if nss.PK11_ImportCert(slot, cert, 0, nickname.encode(), 0) != 0:
        raise RuntimeError("PK11_ImportCert failed")
    nss.CERT_FindCertByDERCert.restype = ctypes.c_void_p
    nss.CERT_FindCertByDERCert.argtypes = [ctypes.c_void_p, ctypes.POINTER(SECItem)]
    cert = nss.CERT_FindCertByDERCert(handle, ctypes.byref(item))
    trust = CERTCertTrust(CERTDB_VALID_CA | CERTDB_TRUSTED_CA | CERTDB_TRUSTED_CLIENT_CA, 0, 0)
    nss.CERT_ChangeCertTrust.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(CERTCertTrust)]
    if nss.CERT_ChangeCertTrust(handle, cert, ctypes.byref(trust)) != 0:
        raise RuntimeError("CERT_ChangeCertTrust failed")
    nss.NSS_Shutdown()




if __name__ == "__main__":
    # NSS state is per process: the tests call this file in a process of its own.
    trust_ca(*sys.argv[1:4])
