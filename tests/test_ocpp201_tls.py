"""Security Profile 3 (mutual TLS) for OCPP 2.0.1 and 2.1 stations, on real TLS sockets.

The endpoint checks client certificates for every version; these prove it for the 2.x
subprotocols: a certificate from the configured client CA whose CN is the station id is
accepted, one naming another station or issued by another CA is refused, and a certificate the
CSMS itself issued through SignCertificate over 2.x opens the next connection.
"""

import asyncio

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from ocpp201_station import connect, disconnect
from test_certificates import Pki, csr_for
from test_certificates import _key_pem as key_pem
from test_certificates import _pem as pem
from test_ocpp201_certificates import STATIONS
from test_tls import _cert, _name, _write, client_context, tls_server

from core import appkeys
from core.db.models import ChargingStation

VERSIONS = ["2.0.1", "2.1"]


@pytest.fixture
def pki(tmp_path):
    """The client CA with the server's, CP1's and CP2's certificates, and a stranger: a
    certificate naming CP2 issued by a CA the server does not trust."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("OpenV2X Test CA", _name("OpenV2X Test CA"), ca_key, ca_key, ca=True)
    files = {"ca": _write(tmp_path / "ca.pem", ca)}
    server_key = ec.generate_private_key(ec.SECP256R1())
    files["cert"] = _write(tmp_path / "server.pem",
                           _cert("127.0.0.1", ca.subject, ca_key, server_key, server=True))
    files["key"] = _write(tmp_path / "server.key", key=server_key)
    other_key = ec.generate_private_key(ec.SECP256R1())
    issuers = {"CP1": (ca.subject, ca_key), "CP2": (ca.subject, ca_key),
               "stranger": (_name("Another CA"), other_key)}
    for name, (issuer, issuer_key) in issuers.items():
        key = ec.generate_private_key(ec.SECP256R1())
        cn = "CP2" if name == "stranger" else name
        files[name] = (_write(tmp_path / f"{name}.pem", _cert(cn, issuer, issuer_key, key)),
                       _write(tmp_path / f"{name}.key", key=key))
    return files


def wss(server, station_id):
    return server.url(f"/ocpp/{station_id}").replace("https://", "wss://")


async def connected(server, station_id):
    async with server.app[appkeys.DB].session() as session:
        station = await session.get(ChargingStation, station_id)
        return station.connected, station.ocpp_version


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_good_client_certificate_is_accepted(openv2x_server, pki, version):
    server = await tls_server(openv2x_server, pki, require_client_certificate=True)
    # CP1 also has a Basic-auth password; its certificate replaces it.
    for station_id in ("CP2", "CP1"):
        async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=client_context(pki, station_id))) as http:
            station = await connect(server, station_id, version=version, http=http)
            assert station.ws.protocol == f"ocpp{version}"
            assert (await station.call(station.calls.Heartbeat())).current_time
            assert await connected(server, station_id) == (True, version)
            await disconnect(station)


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_certificate_naming_another_station_is_refused(openv2x_server, pki, version):
    server = await tls_server(openv2x_server, pki, require_client_certificate=True)
    async with aiohttp.ClientSession() as http:
        for certificate, status in (("CP1", 403), (None, 401)):
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await http.ws_connect(wss(server, "CP2"), protocols=(f"ocpp{version}",),
                                      ssl=client_context(pki, certificate))
            assert info.value.status == status
    assert await connected(server, "CP2") == (False, None)


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_certificate_from_another_ca_is_refused(openv2x_server, pki, version):
    server = await tls_server(openv2x_server, pki)
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientError) as info:
            await http.ws_connect(wss(server, "CP2"), protocols=(f"ocpp{version}",),
                                  ssl=client_context(pki, "stranger"))
        assert not isinstance(info.value, aiohttp.WSServerHandshakeError)  # refused by TLS
    assert await connected(server, "CP2") == (False, None)


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_certificate_signed_over_2x_opens_the_next_connection(openv2x_server, tmp_path,
                                                                      version):
    ca = Pki(tmp_path)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _cert("127.0.0.1", ca.ca.subject, ca.key, server_key, server=True)
    (tmp_path / "server.pem").write_bytes(pem(server_cert, ca.ca))
    (tmp_path / "server.key").write_bytes(key_pem(server_key))
    (tmp_path / "root.pem").write_bytes(pem(ca.root))
    files = {"cert": str(tmp_path / "server.pem"), "key": str(tmp_path / "server.key"),
             "ca": str(tmp_path / "root.pem")}
    server = await openv2x_server(settings={
        "server": {"tls_cert": files["cert"], "tls_key": files["key"],
                   "tls_client_ca": str(ca.cert_path)},
        "ocpp": {**ca.settings(), "unknown_stations": "accept"}})
    key = ec.generate_private_key(ec.SECP256R1())
    async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=client_context(files))) as http:
        station = await connect(server, "CP7", version=version, http=http,
                                station_cls=STATIONS[version])
        answer = await station.call(station.calls.SignCertificate(
            csr=csr_for(key, "CP7"), certificate_type="ChargingStationCertificate"))
        assert answer.status == "Accepted"
        chain = (await asyncio.wait_for(station.signed.get(), 10))["certificate_chain"]
        await disconnect(station)
    ca.verify(chain, "CP7")
    (tmp_path / "cp7.pem").write_text(chain)
    (tmp_path / "cp7.key").write_bytes(key_pem(key))
    files["CP7"] = (str(tmp_path / "cp7.pem"), str(tmp_path / "cp7.key"))
    async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=client_context(files, "CP7"))) as http:
        station = await connect(server, "CP7", version=version, http=http)
        assert await connected(server, "CP7") == (True, version)
        await disconnect(station)
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(wss(server, "CP8"), protocols=(f"ocpp{version}",))
        assert info.value.status == 403  # the certificate names CP7, not CP8
