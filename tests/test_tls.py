"""OCPP Security Profiles 2 (TLS + Basic auth) and 3 (client certificates), real TLS sockets."""

import datetime as dt
import ipaddress
import ssl

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ocpp16_station import connect, disconnect

from core import appkeys
from core.config import ConfigError
from core.db.models import ChargingStation
from core.passwords import hash_password
from core.testing import config_for_tests
from core.tls import server_context

PASSWORD = "0123456789abcdef"


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject, issuer_name, issuer_key, key, *, ca=False, server=False):
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path, cert=None, key=None):
    data = b""
    if cert is not None:
        data += cert.public_bytes(serialization.Encoding.PEM)
    if key is not None:
        data += key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    path.write_bytes(data)
    return str(path)


@pytest.fixture
def pki(tmp_path):
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("OpenV2X Test CA", _name("OpenV2X Test CA"), ca_key, ca_key, ca=True)
    files = {"ca": _write(tmp_path / "ca.pem", ca)}
    server_key = ec.generate_private_key(ec.SECP256R1())
    files["cert"] = _write(tmp_path / "server.pem",
                           _cert("127.0.0.1", ca.subject, ca_key, server_key, server=True))
    files["key"] = _write(tmp_path / "server.key", key=server_key)
    for cn in ("CP1", "CP2"):
        key = ec.generate_private_key(ec.SECP256R1())
        files[cn] = (_write(tmp_path / f"{cn}.pem", _cert(cn, ca.subject, ca_key, key)),
                     _write(tmp_path / f"{cn}.key", key=key))
    return files


def client_context(pki, client=None):
    context = ssl.create_default_context(cafile=pki["ca"])
    if client is not None:
        context.load_cert_chain(*pki[client])
    return context


async def tls_server(openv2x_server, pki, **ocpp):
    server = await openv2x_server(settings={
        "server": {"tls_cert": pki["cert"], "tls_key": pki["key"], "tls_client_ca": pki["ca"]},
        "ocpp": ocpp})
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(ChargingStation(id="CP1", password_hash=hash_password(PASSWORD),
                                         registration_status="Accepted"))
        work.session.add(ChargingStation(id="CP2", registration_status="Accepted"))
    return server


async def test_profile_2_tls_with_basic_auth(openv2x_server, pki):
    server = await tls_server(openv2x_server, pki)
    assert server.base_url.startswith("https://")
    async with aiohttp.ClientSession() as http:
        async with http.get(server.url("/health"), ssl=client_context(pki)) as resp:
            assert resp.status == 200
        url = server.url("/ocpp/CP1").replace("https://", "wss://")
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(url, protocols=("ocpp1.6",), ssl=client_context(pki))
        assert info.value.status == 401
    async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=client_context(pki))) as http:
        station = await connect(server, "CP1", password=PASSWORD, http=http)
        assert station.ws.protocol == "ocpp1.6"
        await disconnect(station)


async def test_profile_3_client_certificate_must_name_the_station(openv2x_server, pki):
    server = await tls_server(openv2x_server, pki, require_client_certificate=True)
    base = server.url("/ocpp/{}").replace("https://", "wss://")
    async with aiohttp.ClientSession() as http:
        for station_id, cert, status in (("CP2", None, 401), ("CP2", "CP1", 403)):
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await http.ws_connect(base.format(station_id), protocols=("ocpp1.6",),
                                      ssl=client_context(pki, cert))
            assert info.value.status == status
    for station_id in ("CP2", "CP1"):  # CP1's certificate replaces its Basic-auth password
        async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=client_context(pki, station_id))) as http:
            station = await connect(server, station_id, http=http)
            await disconnect(station)


@pytest.mark.parametrize(
    ("server_settings", "ocpp", "message"),
    [({"tls_cert": "/nope.pem", "tls_key": "/nope.key"}, {}, "[server] tls_cert: file"),
     ({"tls_client_ca": "/ca.pem"}, {}, "[server] tls_client_ca: needs tls_cert"),
     ({}, {"require_client_certificate": True}, "[ocpp] require_client_certificate")],
)
def test_tls_settings_are_checked(tmp_path, server_settings, ocpp, message):
    config = config_for_tests(f"sqlite:///{tmp_path / 'x.db'}", tmp_path,
                              settings={"server": server_settings, "ocpp": ocpp})
    with pytest.raises(ConfigError) as info:
        server_context(config)
    assert str(info.value).startswith(message)
