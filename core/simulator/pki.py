"""The certificates a simulated OCPP 2.x station handles: CSRs for its own keys, and the roots
the CSMS installs (named by their OCPP CertificateHashData)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

PUBLIC = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def signing_request(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, str]:
    """A new P-256 key and its PEM CSR; the CSMS's CA checks the CN (the station id)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "OpenV2X")])
    request = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(
        key, hashes.SHA256())
    return key, request.public_bytes(serialization.Encoding.PEM).decode()


def root_hash_data(pem: str) -> dict[str, str] | None:
    """A self-signed root's CertificateHashData (snake_case), computed as for an OCSP request;
    None when ``pem`` is not a certificate."""
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        return None
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, cert, hashes.SHA256()).build()
    return {"hash_algorithm": "SHA256", "issuer_name_hash": request.issuer_name_hash.hex(),
            "issuer_key_hash": request.issuer_key_hash.hex(),
            "serial_number": f"{cert.serial_number:x}"}


def same_hash_data(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    """Stations and CSMSs differ in hex case and in leading zeros of the serial number."""
    def norm(data: Mapping[str, str]) -> tuple[str, ...]:
        return (data["hash_algorithm"], data["issuer_name_hash"].lower(),
                data["issuer_key_hash"].lower(), data["serial_number"].lower().lstrip("0"))
    return norm(a) == norm(b)


def signed_key(chain_pem: str,
               keys: Iterable[ec.EllipticCurvePrivateKey]) -> ec.EllipticCurvePrivateKey | None:
    """Which of our pending keys the chain's first (leaf) certificate is for, if any."""
    try:
        leaf = x509.load_pem_x509_certificates(chain_pem.encode())[0]
    except (ValueError, IndexError):
        return None
    wanted = leaf.public_key().public_bytes(*PUBLIC)
    return next((key for key in keys if key.public_key().public_bytes(*PUBLIC) == wanted), None)
