"""The station CA: CSR checks, what is issued, config errors, and SignCertificate over OCPP 1.6."""

import asyncio
import datetime as dt
import ipaddress
import ssl

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from ocpp.routing import on
from ocpp.v16 import call, call_result
from ocpp16_station import TestStation, connect, disconnect
from sqlalchemy import select

from core import appkeys
from core.app import create_app
from core.config import ConfigError
from core.db.models import ChargingStation, Task
from core.ocpp.certificates import CertificateRequestRejected, StationCA
from core.testing import config_for_tests


def _name(cn, organisation=None):
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if organisation:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    return x509.Name(attrs)


def _ca_cert(subject, issuer, issuer_key, key, *, days=3650, ca=True, sign_usage=True):
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.KeyUsage(
            digital_signature=not sign_usage, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=sign_usage,
            crl_sign=sign_usage, encipher_only=False, decipher_only=False), critical=True)
    )
    if issuer_key is not key:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_key.public_key()), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(*certs):
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def csr_for(key, cn="CP1", *, organisation="ACME Charging", extra_cn=None, ca_extension=False):
    subject = _name(cn, organisation) if cn is not None else x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation)])
    if extra_cn:
        subject = x509.Name([*subject, x509.NameAttribute(NameOID.COMMON_NAME, extra_cn)])
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if ca_extension:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None),
                                        critical=True)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.PEM).decode()


class Pki:
    """A root CA and an issuing (intermediate) CA, written as the operator would configure them."""

    def __init__(self, tmp_path, *, ca_days=3650):
        self.root_key = ec.generate_private_key(ec.SECP384R1())
        self.root = _ca_cert("Test Root", "Test Root", self.root_key, self.root_key)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.ca = _ca_cert("Test Station CA", "Test Root", self.root_key, self.key, days=ca_days)
        self.cert_path = tmp_path / "station-ca.pem"
        self.cert_path.write_bytes(_pem(self.ca, self.root))
        self.key_path = tmp_path / "station-ca.key"
        self.key_path.write_bytes(_key_pem(self.key))
        self.tmp_path = tmp_path

    def settings(self, **extra):
        return {"ca_cert": str(self.cert_path), "ca_key": str(self.key_path), **extra}

    def config(self, **ocpp):
        return config_for_tests(f"sqlite+aiosqlite:///{self.tmp_path / 'x.db'}", self.tmp_path,
                                settings={"ocpp": ocpp})

    def station_ca(self, **extra):
        ca = StationCA.from_config(self.config(**self.settings(**extra)))
        assert ca is not None
        return ca

    def verify(self, chain_pem, station_id="CP1"):
        """Path-validate the chain for client authentication up to the root; returns the leaf."""
        leaf, *intermediates = x509.load_pem_x509_certificates(chain_pem.encode())
        # OCPP station certificates carry no subjectAltName, which the Web PKI profile wants.
        leaf_policy = verification.ExtensionPolicy.webpki_defaults_ee().may_be_present(
            x509.SubjectAlternativeName, verification.Criticality.AGNOSTIC, None)
        verifier = (verification.PolicyBuilder().store(verification.Store([self.root]))
                    .extension_policies(
                        ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
                        ee_policy=leaf_policy)
                    .build_client_verifier())
        verified = verifier.verify(leaf, intermediates)
        assert verified.chain[-1] == self.root
        assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == station_id
        return leaf


@pytest.fixture
def pki(tmp_path):
    return Pki(tmp_path)


@pytest.mark.parametrize("key", [rsa.generate_private_key(65537, 2048),
                                 ec.generate_private_key(ec.SECP256R1())],
                         ids=["rsa-2048", "ec-p256"])
def test_sign_issues_a_client_and_server_certificate_for_the_station(pki, key):
    before = dt.datetime.now(dt.UTC)
    chain = pki.station_ca(certificate_days=30).sign("CP1", csr_for(key, ca_extension=True))
    certs = x509.load_pem_x509_certificates(chain.encode())
    assert certs[1:] == [pki.ca, pki.root]  # leaf first, then the configured chain in order
    leaf = pki.verify(chain)
    assert leaf.subject == _name("CP1", "ACME Charging")
    assert leaf.issuer == pki.ca.subject
    assert leaf.public_key() == key.public_key()
    assert isinstance(leaf.signature_hash_algorithm, hashes.SHA256)
    ext = leaf.extensions
    constraints = ext.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca is False  # the CSR asked for ca=True
    usage = ext.get_extension_for_class(x509.KeyUsage).value
    is_rsa = isinstance(key, rsa.RSAPrivateKey)
    assert usage.digital_signature and not usage.key_cert_sign
    assert (usage.key_encipherment, usage.key_agreement) == (is_rsa, not is_rsa)
    assert list(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert ext.get_extension_for_class(x509.SubjectKeyIdentifier).value == \
        x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    ca_ski = pki.ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == \
        ca_ski.digest
    start, end = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    assert start.tzinfo is not None
    assert before - dt.timedelta(minutes=5, seconds=2) <= start <= before - dt.timedelta(minutes=4)
    assert abs(end - (before + dt.timedelta(days=30))) < dt.timedelta(seconds=5)
    second = x509.load_pem_x509_certificates(
        pki.station_ca().sign("CP1", csr_for(key)).encode())[0]
    assert second.serial_number != leaf.serial_number


def test_validity_never_outlasts_the_ca(tmp_path):
    pki = Pki(tmp_path, ca_days=10)
    chain = pki.station_ca(certificate_days=365).sign("CP1", csr_for(
        ec.generate_private_key(ec.SECP256R1())))
    assert pki.verify(chain).not_valid_after_utc == pki.ca.not_valid_after_utc


def _bad_signature_csr():
    der = bytearray(x509.load_pem_x509_csr(csr_for(rsa.generate_private_key(65537, 2048)).encode())
                    .public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0xFF  # last byte of the signature
    return x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize(("csr", "reason"), [
    (lambda: "-----BEGIN CERTIFICATE REQUEST-----\nnope\n-----END CERTIFICATE REQUEST-----",
     "the CSR is not a PEM certificate signing request"),
    (lambda: "", "the CSR is not a PEM certificate signing request"),
    (_bad_signature_csr, "the CSR's signature does not verify"),
    (lambda: csr_for(ec.generate_private_key(ec.SECP256R1()), "CP2"),
     "the CSR's subject CN 'CP2' is not the station id 'CP1'"),
    (lambda: csr_for(ec.generate_private_key(ec.SECP256R1()), "cp1"),
     "the CSR's subject CN 'cp1' is not the station id 'CP1'"),
    (lambda: csr_for(ec.generate_private_key(ec.SECP256R1()), None),
     "the CSR's subject must have exactly one CN, it has 0"),
    (lambda: csr_for(ec.generate_private_key(ec.SECP256R1()), "CP1", extra_cn="CP2"),
     "the CSR's subject must have exactly one CN, it has 2"),
    (lambda: csr_for(rsa.generate_private_key(65537, 1024)),
     "RSA key of 1024 bits; at least 2048 are required"),
    (lambda: csr_for(ec.generate_private_key(ec.SECP256K1())),
     "EC key on secp256k1; only P-256, P-384 and P-521 are accepted"),
    (lambda: csr_for(ed25519.Ed25519PrivateKey.generate()),
     "Ed25519 key; only RSA and EC keys are accepted"),
], ids=["garbage", "empty", "signature", "other-station", "case", "no-cn", "two-cns",
        "rsa-1024", "secp256k1", "ed25519"])
def test_sign_refuses_csrs_with_a_one_line_reason(pki, csr, reason):
    with pytest.raises(CertificateRequestRejected) as info:
        pki.station_ca().sign("CP1", csr())
    assert str(info.value) == reason


def test_no_ca_configured_means_none(pki):
    assert StationCA.from_config(pki.config()) is None


def _write(path, data):
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize(("settings", "message"), [
    (lambda p: {"ca_cert": str(p.cert_path)}, "[ocpp] ca_cert: needs ca_key"),
    (lambda p: {"ca_key": str(p.key_path)}, "[ocpp] ca_key: needs ca_cert"),
    (lambda p: p.settings(ca_cert=str(p.tmp_path / "missing.pem")),
     "[ocpp] ca_cert: file '{tmp}/missing.pem' does not exist"),
    (lambda p: p.settings(ca_key=str(p.tmp_path / "missing.key")),
     "[ocpp] ca_key: file '{tmp}/missing.key' does not exist"),
    (lambda p: p.settings(ca_cert=str(p.tmp_path)),
     "[ocpp] ca_cert: cannot read '{tmp}': Is a directory"),
    (lambda p: p.settings(ca_cert=_write(p.tmp_path / "junk.pem", b"junk")),
     "[ocpp] ca_cert: '{tmp}/junk.pem' holds no readable PEM certificate"),
    (lambda p: p.settings(ca_key=_write(p.tmp_path / "junk.key", b"junk")),
     "[ocpp] ca_key: '{tmp}/junk.key' is not an unencrypted PEM private key"),
    (lambda p: p.settings(ca_key=_write(p.tmp_path / "enc.key", p.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret")))),
     "[ocpp] ca_key: '{tmp}/enc.key' is not an unencrypted PEM private key"),
    (lambda p: p.settings(ca_key=_write(p.tmp_path / "other.key", _key_pem(
        ec.generate_private_key(ec.SECP256R1())))),
     "[ocpp] ca_key: the key does not belong to the certificate in ca_cert"),
    (lambda p: p.settings(ca_cert=_write(p.tmp_path / "root-first.pem", _pem(p.root, p.ca))),
     "[ocpp] ca_cert: certificate 2 in '{tmp}/root-first.pem' did not issue certificate 1 "
     "(order: CA first, then its issuers)"),
    (lambda p: p.settings(ca_cert=_write(p.tmp_path / "root-only.pem", _pem(p.root))),
     "[ocpp] ca_key: the key does not belong to the certificate in ca_cert"),
    (lambda p: p.settings(ca_cert=_write(p.tmp_path / "wrong-order.pem", _pem(
        p.ca, _ca_cert("Other", "Other", p.root_key, ec.generate_private_key(ec.SECP256R1()))))),
     "[ocpp] ca_cert: certificate 2 in '{tmp}/wrong-order.pem' did not issue certificate 1"),
    (lambda p: p.settings(ca_cert=_write(p.tmp_path / "leaf.pem", _pem(
        _ca_cert("Leaf", "Test Root", p.root_key, p.key, ca=False)))),
     "[ocpp] ca_cert: the certificate is not a CA"),
    (lambda p: p.settings(ca_cert=_write(p.tmp_path / "no-sign.pem", _pem(
        _ca_cert("CA", "Test Root", p.root_key, p.key, sign_usage=False)))),
     "[ocpp] ca_cert: the certificate's key usage does not allow signing certificates"),
    (lambda p: p.settings(ca_cert=_write(p.tmp_path / "expired.pem", _pem(
        _ca_cert("CA", "Test Root", p.root_key, p.key, days=-0.5)))),
     "[ocpp] ca_cert: the certificate expired on"),
], ids=["cert-only", "key-only", "cert-missing", "key-missing", "cert-unreadable", "cert-junk",
        "key-junk", "key-encrypted", "key-mismatch", "root-first", "root-only", "chain-order",
        "not-a-ca", "no-keycertsign", "expired"])
def test_bad_ca_settings_stop_start_up_with_one_line(pki, settings, message):
    config = pki.config(**settings(pki))
    with pytest.raises(ConfigError) as info:
        create_app(config)
    text = str(info.value)
    assert text.startswith(message.format(tmp=pki.tmp_path)), text
    assert "\n" not in text


@pytest.mark.parametrize("days", [0, 3651])
def test_certificate_days_range(pki, days):
    with pytest.raises(ConfigError) as info:
        pki.config(certificate_days=days)
    assert str(info.value).startswith("[ocpp] certificate_days: Must be greater than or equal to 1")


# ---- over a real WebSocket -----------------------------------------------------------------


class CertificateStation(TestStation):
    """Keeps the chain the CSMS sends, like a charger installing its new certificate."""

    def __init__(self, station_id, connection):
        super().__init__(station_id, connection)
        self.chains = asyncio.Queue()

    @on("CertificateSigned")
    def on_certificate_signed(self, certificate_chain):
        self.chains.put_nowait(certificate_chain)
        return call_result.CertificateSigned(status="Accepted")


async def _register(server, station_id="CP1"):
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(ChargingStation(id=station_id, registration_status="Accepted"))


async def _tasks(server):
    for _ in range(200):
        async with server.app[appkeys.DB].session() as session:
            tasks = (await session.execute(select(Task))).scalars().all()
        if tasks and all(t.status not in ("pending", "running") for t in tasks):
            return tasks
        await asyncio.sleep(0.02)
    pytest.fail("the CertificateSigned task did not finish")


async def test_sign_certificate_then_certificate_signed_over_ocpp16(openv2x_server, pki):
    server = await openv2x_server(settings={"ocpp": pki.settings()})
    events = []

    async def collect(event):
        if event.name == "station.certificate_issued":
            events.append(event)

    server.app[appkeys.EVENTS].subscribe(collect)
    await _register(server)
    station = await connect(server, "CP1", station_cls=CertificateStation)
    key = ec.generate_private_key(ec.SECP256R1())
    answer = await station.call(call.SignCertificate(csr=csr_for(key)))
    assert answer.status == "Accepted"
    chain = await asyncio.wait_for(station.chains.get(), 10)
    leaf = pki.verify(chain, "CP1")
    assert leaf.public_key() == key.public_key()
    [task] = await _tasks(server)
    assert (task.station_id, task.action, task.status, task.result) == (
        "CP1", "CertificateSigned", "succeeded", {"status": "Accepted"})
    assert task.payload == {"certificate_chain": chain}
    await server.app[appkeys.EVENTS].drain()
    [event] = events
    assert event.data == {"station_id": "CP1", "serial_number": f"{leaf.serial_number:x}",
                          "not_after": leaf.not_valid_after_utc.isoformat(),
                          "task_id": task.id}

    refused = await station.call(call.SignCertificate(csr=csr_for(key, "CP2")))
    assert refused.status == "Rejected"
    await asyncio.sleep(0.1)
    assert station.chains.empty()
    assert len(await _tasks(server)) == 1
    await disconnect(station)


async def test_issued_certificate_passes_security_profile_3(openv2x_server, pki):
    """What the CA issues is what our own TLS endpoint accepts as the station's identity."""
    server_key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    server_cert = (
        x509.CertificateBuilder().subject_name(_name("127.0.0.1")).issuer_name(pki.ca.subject)
        .public_key(server_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(pki.key, hashes.SHA256()))
    files = {"cert": _write(pki.tmp_path / "server.pem", _pem(server_cert, pki.ca)),
             "key": _write(pki.tmp_path / "server.key", _key_pem(server_key)),
             "root": _write(pki.tmp_path / "root.pem", _pem(pki.root))}
    server = await openv2x_server(settings={
        "server": {"tls_cert": files["cert"], "tls_key": files["key"],
                   "tls_client_ca": str(pki.cert_path)},
        "ocpp": {**pki.settings(), "unknown_stations": "accept"}})
    context = ssl.create_default_context(cafile=files["root"])
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http:
        station = await connect(server, "CP7", station_cls=CertificateStation, http=http)
        key = rsa.generate_private_key(65537, 2048)
        answer = await station.call(call.SignCertificate(csr=csr_for(key, "CP7")))
        assert answer.status == "Accepted"
        chain = await asyncio.wait_for(station.chains.get(), 10)
        await disconnect(station)
    (pki.tmp_path / "cp7.pem").write_text(chain)
    (pki.tmp_path / "cp7.key").write_bytes(_key_pem(key))
    context.load_cert_chain(pki.tmp_path / "cp7.pem", pki.tmp_path / "cp7.key")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http:
        station = await connect(server, "CP7", http=http)
        await disconnect(station)
        url = server.url("/ocpp/CP8").replace("https://", "wss://")
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(url, protocols=("ocpp1.6",))
        assert info.value.status == 403  # the certificate names CP7, not CP8
