"""The operator's certificate authority for charging stations (OCPP SignCertificate).

Stations of OCPP 1.6 (security extension), 2.0.1 and 2.1 send a CSR and receive a certificate
chain in a later CertificateSigned. Each kind of certificate follows a :class:`LeafProfile`: a
station's OCPP certificate must pass our own Security Profile 3 check, so its subject CN has to
be the station id; an ISO 15118-2 SECC certificate (OCPP ``V2GCertificate``) follows the V2G
PKI's rules instead. The CSR is checked before anything is signed, so a station can never obtain
a certificate for another identity, for a weak key, or one that can sign others.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from core.config import Config, ConfigError

CaKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
MIN_RSA_BITS = 2048
EC_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
# certificateChain of CertificateSigned is limited to 10000 characters in 1.6 and 2.0.1 alike.
MAX_CHAIN_CHARS = 10000
# Stations' clocks drift; a certificate valid "from now" would be refused by a station behind.
BACKDATE = dt.timedelta(minutes=5)
# OCPP HashAlgorithmEnumType.
HASH_ALGORITHMS: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA256": hashes.SHA256, "SHA384": hashes.SHA384, "SHA512": hashes.SHA512}


class CertificateRequestRejected(Exception):
    """A CSR we refuse to sign; the message is one line, safe to log with the station id.

    ``reason_code`` is the OCPP ``statusInfo.reasonCode`` for the station: ``InvalidCSR`` when
    the request itself is at fault, another code when our CA cannot serve it.
    """

    def __init__(self, message: str, reason_code: str = "InvalidCSR") -> None:
        super().__init__(message)
        self.reason_code = reason_code


@dataclass(frozen=True)
class LeafProfile:
    """The rules one kind of station certificate follows, checked on the CSR before signing."""

    name: str
    # Accepted EC curves (cryptography's names) and the smallest RSA key; None refuses RSA.
    curves: tuple[str, ...]
    min_rsa_bits: int | None
    # Whether the subject CN must be the station id (what Security Profile 3 checks).
    cn_is_station_id: bool
    extended_key_usage: tuple[x509.ObjectIdentifier, ...]
    # Curves the CA's own key must be on for the chain to be valid; empty: any CA key.
    issuer_curves: tuple[str, ...] = ()


# The station's certificate towards the CSMS (TLS client, and server on local links).
CHARGING_STATION = LeafProfile(
    "ChargingStationCertificate", tuple(EC_CURVES), MIN_RSA_BITS, cn_is_station_id=True,
    extended_key_usage=(ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH))
# ISO 15118-2 SECC leaf (the station's TLS server certificate towards EVs): EC secp256r1 signed
# with ecdsa-with-SHA256 by a P-256 CPO sub-CA, key usage digitalSignature and keyAgreement, no
# extended key usage. Its CN is the SECC id, which EVs do not match against anything.
V2G = LeafProfile("V2GCertificate", ("secp256r1",), None, cn_is_station_id=False,
                  extended_key_usage=(), issuer_curves=("secp256r1",))


@dataclass(frozen=True)
class StationCA:
    """The signing CA (``chain[0]``, whose key is ``key``) and the certificates above it."""

    chain: tuple[x509.Certificate, ...]
    key: CaKey = field(repr=False)
    certificate_days: int = 365

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]

    @classmethod
    def from_config(cls, config: Config) -> StationCA | None:
        """The CA from ``[ocpp] ca_cert``/``ca_key``, or ``None`` when neither is set.

        Every problem is a :class:`ConfigError` at start-up, not a surprise at the first CSR.
        """
        ocpp = config["ocpp"]
        cert_path, key_path = ocpp["ca_cert"], ocpp["ca_key"]
        if not cert_path and not key_path:
            return None
        if not key_path:
            raise ConfigError("[ocpp] ca_cert: needs ca_key")
        if not cert_path:
            raise ConfigError("[ocpp] ca_key: needs ca_cert")
        chain = _load_chain(cert_path)
        key = _load_key(key_path)
        _check_ca(chain, key)
        return cls(chain, key, ocpp["certificate_days"])

    def sign(self, station_id: str, csr_pem: str, profile: LeafProfile = CHARGING_STATION,
             allowed_names: Collection[str] = ()) -> str:
        """The PEM chain (station certificate first, then the CA's chain) for ``csr_pem``.

        ``allowed_names``, when given, further restricts the subject CN (a station's SECC ids).
        Raises :class:`CertificateRequestRejected` when the CSR is not one we may sign.
        """
        self._check_issuer(profile)
        request = _checked_request(station_id, csr_pem, profile, allowed_names)
        public_key = request.public_key()
        now = dt.datetime.now(dt.UTC)
        # A certificate outliving its issuer would fail validation from that day on anyway.
        not_after = min(now + dt.timedelta(days=self.certificate_days),
                        self.certificate.not_valid_after_utc)
        if not_after <= now:
            raise CertificateRequestRejected("the CA certificate has expired", "InternalError")
        is_rsa = isinstance(public_key, rsa.RSAPublicKey)
        builder = (
            x509.CertificateBuilder()
            .subject_name(request.subject)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False,
                    key_encipherment=is_rsa, data_encipherment=False,
                    key_agreement=not is_rsa, key_cert_sign=False, crl_sign=False,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(self._authority_key_id(), critical=False)
        )
        if profile.extended_key_usage:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage(list(profile.extended_key_usage)), critical=False)
        leaf = builder.sign(self.key, hashes.SHA256())
        pem = "".join(cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
                      for cert in (leaf, *self.chain))
        if len(pem) > MAX_CHAIN_CHARS:
            raise CertificateRequestRejected(
                f"the signed chain has {len(pem)} characters, more than OCPP's {MAX_CHAIN_CHARS}",
                "InternalError")
        return pem

    def chains_to(self, root: Mapping[str, str]) -> bool:
        """Whether ``root`` (an OCPP CertificateHashData) may be the root our chain leads to.

        A root configured at the end of ``ca_cert`` is compared in full; otherwise only its
        name is known (the issuer of the last configured certificate).
        """
        top = self.chain[-1]
        algorithm = root["hash_algorithm"]
        if top.issuer == top.subject:
            return same_certificate(certificate_hash_data(top, top, algorithm), root)
        digest = hashes.Hash(HASH_ALGORITHMS[algorithm]())
        digest.update(top.issuer.public_bytes())
        return digest.finalize().hex() == root["issuer_name_hash"].lower()

    def _check_issuer(self, profile: LeafProfile) -> None:
        """Refuse a kind of certificate whose chain this CA's key would make invalid."""
        if not profile.issuer_curves:
            return
        key = self.key
        if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in profile.issuer_curves:
            return
        kind = (f"EC key on {key.curve.name}" if isinstance(key, ec.EllipticCurvePrivateKey)
                else f"RSA key of {key.key_size} bits")
        raise CertificateRequestRejected(
            f"a {profile.name} must be signed by a CA key on "
            f"{_listing(EC_CURVES[c] for c in profile.issuer_curves)}; the CA has an {kind}",
            "UnsupportedRequest")

    def _authority_key_id(self) -> x509.AuthorityKeyIdentifier:
        """Copy the CA's own key id when it has one, so path building matches it exactly."""
        try:
            ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        except x509.ExtensionNotFound:
            return x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key())
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value)


def certificate_hash_data(cert: x509.Certificate, issuer: x509.Certificate,
                          algorithm: str = "SHA256") -> dict[str, str]:
    """``cert``'s OCPP CertificateHashData (snake_case), computed as for an OCSP request."""
    request = ocsp.OCSPRequestBuilder().add_certificate(
        cert, issuer, HASH_ALGORITHMS[algorithm]()).build()
    return {"hash_algorithm": algorithm, "issuer_name_hash": request.issuer_name_hash.hex(),
            "issuer_key_hash": request.issuer_key_hash.hex(),
            "serial_number": f"{cert.serial_number:x}"}


def same_certificate(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    """Whether two CertificateHashData name one certificate.

    Stations differ in the case of hex digits and in leading zeros of the serial number.
    """
    return _hash_key(a) == _hash_key(b)


def _hash_key(data: Mapping[str, str]) -> tuple[str, str, str, str]:
    return (data["hash_algorithm"], data["issuer_name_hash"].lower(),
            data["issuer_key_hash"].lower(), data["serial_number"].lower().lstrip("0") or "0")


def _listing(names: Iterable[str]) -> str:
    """``"A"``, ``"A and B"``, ``"A, B and C"``."""
    items = list(names)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _checked_request(station_id: str, csr_pem: str, profile: LeafProfile,
                     allowed_names: Collection[str]) -> x509.CertificateSigningRequest:
    try:
        request = x509.load_pem_x509_csr(csr_pem.encode("utf-8"))
        subject = request.subject
        public_key = request.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise CertificateRequestRejected("the CSR is not a PEM certificate signing request"
                                         ) from None
    try:
        valid = request.is_signature_valid
    except (InvalidSignature, UnsupportedAlgorithm, ValueError):
        valid = False
    if not valid:
        raise CertificateRequestRejected("the CSR's signature does not verify")
    names = [attr.value for attr in subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if len(names) != 1:
        raise CertificateRequestRejected(
            f"the CSR's subject must have exactly one CN, it has {len(names)}")
    if profile.cn_is_station_id and names[0] != station_id:
        raise CertificateRequestRejected(
            f"the CSR's subject CN {names[0]!r} is not the station id {station_id!r}")
    if allowed_names and names[0] not in allowed_names:
        raise CertificateRequestRejected(
            f"the CSR's subject CN {names[0]!r} is not a name of this station "
            f"({', '.join(sorted(allowed_names))})")
    _check_key(public_key, profile)
    return request


def _check_key(public_key: object, profile: LeafProfile) -> None:
    if isinstance(public_key, rsa.RSAPublicKey) and profile.min_rsa_bits is not None:
        if public_key.key_size < profile.min_rsa_bits:
            raise CertificateRequestRejected(
                f"RSA key of {public_key.key_size} bits; "
                f"at least {profile.min_rsa_bits} are required")
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        if public_key.curve.name not in profile.curves:
            verb = "is" if len(profile.curves) == 1 else "are"
            raise CertificateRequestRejected(
                f"EC key on {public_key.curve.name}; only "
                f"{_listing(EC_CURVES[c] for c in profile.curves)} {verb} accepted")
    else:
        kinds = "EC" if profile.min_rsa_bits is None else "RSA and EC"
        raise CertificateRequestRejected(
            f"{type(public_key).__name__.removesuffix('PublicKey') or 'unknown'} key; "
            f"only {kinds} keys are accepted")


def _read(name: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"[ocpp] {name}: file {path!r} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"[ocpp] {name}: cannot read {path!r}: {exc.strerror}") from None


def _load_chain(path: str) -> tuple[x509.Certificate, ...]:
    try:
        chain = tuple(x509.load_pem_x509_certificates(_read("ca_cert", path)))
    except ValueError:
        raise ConfigError(f"[ocpp] ca_cert: {path!r} holds no readable PEM certificate"
                          ) from None
    for index, (cert, issuer) in enumerate(itertools.pairwise(chain), start=1):
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            raise ConfigError(f"[ocpp] ca_cert: certificate {index + 1} in {path!r} did not "
                              f"issue certificate {index} (order: CA first, then its issuers)"
                              ) from None
    return chain


def _load_key(path: str) -> CaKey:
    try:
        key = serialization.load_pem_private_key(_read("ca_key", path), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigError(f"[ocpp] ca_key: {path!r} is not an unencrypted PEM private key"
                          ) from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ConfigError(f"[ocpp] ca_key: {type(key).__name__} keys cannot sign for stations; "
                          "use an RSA or EC key")
    return key


def _check_ca(chain: tuple[x509.Certificate, ...], key: CaKey) -> None:
    ca = chain[0]
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, spki) != ca.public_key().public_bytes(der, spki):
        raise ConfigError("[ocpp] ca_key: the key does not belong to the certificate in ca_cert")
    try:
        constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise ConfigError("[ocpp] ca_cert: the certificate is not a CA (BasicConstraints ca)")
    try:
        usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not usage.key_cert_sign:
        raise ConfigError("[ocpp] ca_cert: the certificate's key usage does not allow "
                          "signing certificates (keyCertSign)")
    if ca.not_valid_after_utc <= dt.datetime.now(dt.UTC):
        raise ConfigError(f"[ocpp] ca_cert: the certificate expired on "
                          f"{ca.not_valid_after_utc:%Y-%m-%d}")
