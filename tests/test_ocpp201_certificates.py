"""Plug & Charge certificate management over OCPP 2.0.1 and 2.1, on real sockets.

SignCertificate → CertificateSigned with the operator's CA (station and ISO 15118-2 SECC
profiles), the certificate provider pass-through (a real local HTTP server: good, slow, broken
and invalid), and what stations' answers to InstallCertificate, GetInstalledCertificateIds and
DeleteCertificate change.
"""

import asyncio
import base64
import json

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID
from ocpp.routing import on
from ocpp.v21 import call_result as result21
from ocpp.v201 import call_result as result201
from ocpp201_station import Station21, Station201, connect, disconnect
from sqlalchemy import select
from test_certificates import Pki, _ca_cert, csr_for

from core import appkeys
from core.config import ConfigError
from core.db.models import ChargingStation, Task
from core.ocpp.certificates import (
    V2G,
    CertificateRequestRejected,
    StationCA,
    certificate_hash_data,
    same_certificate,
)
from plugins.ocpp201.models import DeviceVariable, InstalledCertificate

VERSIONS = ["2.0.1", "2.1"]
SECC_ID = "DEABCS1234567890ABCDEF1234567890ABCDEF01"


@pytest.fixture
def pki(tmp_path):
    return Pki(tmp_path)


def v2g_csr(key, secc_id=SECC_ID):
    """A CSR as ISO 15118-2 stations build it: SECC id, CPO organisation and country, DC=CPO."""
    subject = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, secc_id),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ACME Charging"),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
        x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "CPO"),
    ])
    request = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(
        key, hashes.SHA256())
    return request.public_bytes(serialization.Encoding.PEM).decode()


class CertificateStation:
    """Installs what the CSMS sends and reports what it holds, like a Plug & Charge charger."""

    __test__ = False

    def __init__(self, station_id, connection):
        super().__init__(station_id, connection)
        self.signed = asyncio.Queue()
        self.installed = []
        self.install_status = "Accepted"
        self.chains = []
        self.delete_status = "Accepted"
        self.deleted = []

    @on("CertificateSigned")
    def on_certificate_signed(self, certificate_chain, **fields):
        self.signed.put_nowait({"certificate_chain": certificate_chain, **fields})
        return self.results.CertificateSigned(status="Accepted")

    @on("InstallCertificate")
    def on_install_certificate(self, certificate_type, certificate, **_):
        self.installed.append((certificate_type, certificate))
        return self.results.InstallCertificate(status=self.install_status)

    @on("GetInstalledCertificateIds")
    def on_get_installed_certificate_ids(self, certificate_type=None, **_):
        chains = [chain for chain in self.chains
                  if not certificate_type or chain["certificate_type"] in certificate_type]
        if not chains:
            return self.results.GetInstalledCertificateIds(status="NotFound")
        return self.results.GetInstalledCertificateIds(status="Accepted",
                                                       certificate_hash_data_chain=chains)

    @on("DeleteCertificate")
    def on_delete_certificate(self, certificate_hash_data, **_):
        self.deleted.append(certificate_hash_data)
        return self.results.DeleteCertificate(status=self.delete_status)


class CertificateStation201(CertificateStation, Station201):
    results = result201


class CertificateStation21(CertificateStation, Station21):
    results = result21


STATIONS = {"2.0.1": CertificateStation201, "2.1": CertificateStation21}


async def register(server, station_id="CS1"):
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(ChargingStation(id=station_id, registration_status="Accepted"))


async def station_for(server, version, station_id="CS1"):
    await register(server, station_id)
    return await connect(server, station_id, version=version, station_cls=STATIONS[version])


def collect_events(server, prefix="station.certificate"):
    events = []

    async def collect(event):
        if event.name.startswith(prefix):
            events.append(event)

    server.app[appkeys.EVENTS].subscribe(collect)
    return events


async def rows(server, model, *where):
    async with server.app[appkeys.DB].session() as session:
        return (await session.execute(select(model).where(*where).order_by(model.id))
                ).scalars().all()


async def finished_tasks(server):
    for _ in range(200):
        tasks = await rows(server, Task)
        if tasks and all(task.status not in ("pending", "running") for task in tasks):
            return tasks
        await asyncio.sleep(0.02)
    pytest.fail("the CertificateSigned task did not finish")


# ---- the CA's profiles ---------------------------------------------------------------------


def test_v2g_profile_issues_an_iso_15118_2_secc_leaf(pki):
    key = ec.generate_private_key(ec.SECP256R1())
    csr = v2g_csr(key)
    chain = pki.station_ca().sign("CS1", csr, V2G)
    leaf, *rest = x509.load_pem_x509_certificates(chain.encode())
    assert rest == [pki.ca, pki.root]
    leaf.verify_directly_issued_by(pki.ca)
    assert leaf.subject == x509.load_pem_x509_csr(csr.encode()).subject
    assert leaf.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA256
    assert leaf.public_key() == key.public_key()
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.key_agreement
    assert not (usage.value.key_encipherment or usage.value.key_cert_sign)
    constraints = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca is False
    with pytest.raises(x509.ExtensionNotFound):
        leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)


@pytest.mark.parametrize(("key", "reason"), [
    (lambda: rsa.generate_private_key(65537, 2048), "RSA key; only EC keys are accepted"),
    (lambda: ec.generate_private_key(ec.SECP384R1()),
     "EC key on secp384r1; only P-256 is accepted"),
], ids=["rsa", "p384"])
def test_v2g_profile_wants_a_p256_key(pki, key, reason):
    with pytest.raises(CertificateRequestRejected) as info:
        pki.station_ca().sign("CS1", v2g_csr(key()), V2G)
    assert (str(info.value), info.value.reason_code) == (reason, "InvalidCSR")


def test_v2g_profile_needs_a_p256_ca(pki):
    ca = StationCA((pki.root,), pki.root_key)  # the P-384 root signing directly
    with pytest.raises(CertificateRequestRejected) as info:
        ca.sign("CS1", v2g_csr(ec.generate_private_key(ec.SECP256R1())), V2G)
    assert str(info.value) == ("a V2GCertificate must be signed by a CA key on P-256; "
                               "the CA has an EC key on secp384r1")
    assert info.value.reason_code == "UnsupportedRequest"


def test_allowed_names_restrict_the_subject(pki):
    with pytest.raises(CertificateRequestRejected) as info:
        pki.station_ca().sign("CS1", v2g_csr(ec.generate_private_key(ec.SECP256R1()), "OTHER"),
                              V2G, ["SECC2", "SECC1"])
    assert str(info.value) == "the CSR's subject CN 'OTHER' is not a name of this station " \
                              "(SECC1, SECC2)"


def test_certificate_hash_data_is_ocpps(pki):
    data = certificate_hash_data(pki.ca, pki.root, "SHA384")
    name_hash = hashes.Hash(hashes.SHA384())
    name_hash.update(pki.root.subject.public_bytes())
    key_hash = hashes.Hash(hashes.SHA384())
    key_hash.update(pki.root_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))
    assert data == {"hash_algorithm": "SHA384",
                    "issuer_name_hash": name_hash.finalize().hex(),
                    "issuer_key_hash": key_hash.finalize().hex(),
                    "serial_number": f"{pki.ca.serial_number:x}"}
    shouted = {**data, "issuer_key_hash": data["issuer_key_hash"].upper(),
               "serial_number": "00" + data["serial_number"].upper()}
    assert same_certificate(data, shouted)
    assert not same_certificate(data, {**data, "hash_algorithm": "SHA256"})


def test_chains_to_knows_a_configured_root_fully_and_an_absent_one_by_name(pki):
    root = certificate_hash_data(pki.root, pki.root)
    other_root = _ca_cert("Other Root", "Other Root", pki.key, pki.key)
    other = certificate_hash_data(other_root, other_root)
    assert pki.station_ca().chains_to(root)
    assert not pki.station_ca().chains_to(other)
    assert not pki.station_ca().chains_to({**root, "serial_number": "1"})
    without_root = StationCA((pki.ca,), pki.key)
    assert without_root.chains_to({**root, "serial_number": "1"})
    assert not without_root.chains_to(other)


# ---- SignCertificate → CertificateSigned ---------------------------------------------------


@pytest.mark.parametrize("certificate_type", [None, "ChargingStationCertificate",
                                              "V2GCertificate"])
@pytest.mark.parametrize("version", VERSIONS)
async def test_sign_certificate_then_certificate_signed(openv2x_server, pki, version,
                                                        certificate_type):
    server = await openv2x_server(settings={"ocpp": pki.settings()})
    events = collect_events(server)
    station = await station_for(server, version)
    key = ec.generate_private_key(ec.SECP256R1())
    v2g = certificate_type == "V2GCertificate"
    fields = {"csr": v2g_csr(key) if v2g else csr_for(key, "CS1"),
              "certificate_type": certificate_type}
    if version == "2.1":
        fields["request_id"] = 42
    answer = await station.call(station.calls.SignCertificate(**fields))
    assert (answer.status, answer.status_info) == ("Accepted", None)

    signed = await asyncio.wait_for(station.signed.get(), 10)
    chain = signed.pop("certificate_chain")
    expected = {"certificate_type": certificate_type,
                "request_id": 42 if version == "2.1" else None}
    assert signed == {k: v for k, v in expected.items() if v is not None}
    leaf = x509.load_pem_x509_certificates(chain.encode())[0]
    if v2g:
        leaf.verify_directly_issued_by(pki.ca)
        assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == SECC_ID
    else:
        pki.verify(chain, "CS1")
    assert leaf.public_key() == key.public_key()
    [task] = await finished_tasks(server)
    assert (task.action, task.status, task.result) == ("CertificateSigned", "succeeded",
                                                       {"status": "Accepted"})
    assert task.payload == {"certificate_chain": chain, **signed}
    await server.app[appkeys.EVENTS].drain()
    [event] = events
    assert event.name == "station.certificate_issued"
    assert event.data == {"station_id": "CS1", "certificate_type": certificate_type,
                          "serial_number": f"{leaf.serial_number:x}",
                          "not_after": leaf.not_valid_after_utc.isoformat(), "task_id": task.id}
    await disconnect(station)


def _other_station_csr():
    return csr_for(ec.generate_private_key(ec.SECP256R1()), "CS2")


REFUSALS = [
    ({"csr": "-----BEGIN CERTIFICATE REQUEST-----\nnope\n-----END CERTIFICATE REQUEST-----"},
     "InvalidCSR", "the CSR is not a PEM certificate signing request"),
    ({"csr": _other_station_csr()}, "InvalidCSR",
     "the CSR's subject CN 'CS2' is not the station id 'CS1'"),
    ({"csr": _other_station_csr(), "certificate_type": "ChargingStationCertificate"},
     "InvalidCSR", "the CSR's subject CN 'CS2' is not the station id 'CS1'"),
    ({"csr": csr_for(rsa.generate_private_key(65537, 1024), "CS1")}, "InvalidCSR",
     "RSA key of 1024 bits; at least 2048 are required"),
    ({"csr": v2g_csr(rsa.generate_private_key(65537, 2048)), "certificate_type": "V2GCertificate"},
     "InvalidCSR", "RSA key; only EC keys are accepted"),
    ({"csr": v2g_csr(ec.generate_private_key(ec.SECP384R1())),
      "certificate_type": "V2GCertificate"},
     "InvalidCSR", "EC key on secp384r1; only P-256 is accepted"),
]


@pytest.mark.parametrize("version", VERSIONS)
async def test_bad_csrs_are_rejected_with_the_reason(openv2x_server, pki, version):
    server = await openv2x_server(settings={"ocpp": pki.settings()})
    station = await station_for(server, version)
    refusals = list(REFUSALS)
    if version == "2.1":
        refusals.append(({"csr": v2g_csr(ec.generate_private_key(ec.SECP521R1())),
                          "certificate_type": "V2G20Certificate"},
                         "UnsupportedRequest", "this CSMS's CA does not issue V2G20Certificates"))
    for fields, code, reason in refusals:
        answer = await station.call(station.calls.SignCertificate(**fields))
        assert answer.status == "Rejected"
        assert answer.status_info == {"reason_code": code, "additional_info": reason}
    await asyncio.sleep(0.1)
    assert station.signed.empty()
    assert await rows(server, Task) == []
    await disconnect(station)


@pytest.mark.parametrize("version", VERSIONS)
async def test_without_a_ca_every_csr_is_rejected(openv2x_server, version):
    server = await openv2x_server()
    station = await station_for(server, version)
    answer = await station.call(station.calls.SignCertificate(
        csr=csr_for(ec.generate_private_key(ec.SECP256R1()), "CS1")))
    assert (answer.status, answer.status_info["reason_code"]) == ("Rejected", "NotEnabled")
    await disconnect(station)


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_v2g_cn_must_be_a_secc_id_the_station_reported(openv2x_server, pki, version):
    server = await openv2x_server(settings={"ocpp": pki.settings()})
    station = await station_for(server, version)
    async with server.app[appkeys.DB].transaction() as work:
        for evse, secc_id in ((1, SECC_ID), (2, "DEABCS2")):
            work.session.add(DeviceVariable(station_id="CS1", component_name="ISO15118Ctrlr",
                                            evse_id=evse, variable_name="SeccId", value=secc_id))
    key = ec.generate_private_key(ec.SECP256R1())
    refused = await station.call(station.calls.SignCertificate(
        csr=v2g_csr(key, "DEABCS3"), certificate_type="V2GCertificate"))
    assert refused.status == "Rejected"
    assert refused.status_info["additional_info"] == (
        f"the CSR's subject CN 'DEABCS3' is not a name of this station ({SECC_ID}, DEABCS2)")
    answer = await station.call(station.calls.SignCertificate(
        csr=v2g_csr(key, "DEABCS2"), certificate_type="V2GCertificate"))
    assert answer.status == "Accepted"
    signed = await asyncio.wait_for(station.signed.get(), 10)
    assert signed["certificate_type"] == "V2GCertificate"
    await disconnect(station)


async def test_hash_root_certificate_selects_the_root(openv2x_server, pki):
    server = await openv2x_server(settings={"ocpp": pki.settings()})
    station = await station_for(server, "2.1")
    key = ec.generate_private_key(ec.SECP256R1())
    ours = certificate_hash_data(pki.root, pki.root, "SHA512")
    answer = await station.call(station.calls.SignCertificate(
        csr=csr_for(key, "CS1"), hash_root_certificate=ours))
    assert answer.status == "Accepted"
    other = {**ours, "serial_number": "1"}
    refused = await station.call(station.calls.SignCertificate(
        csr=csr_for(key, "CS1"), hash_root_certificate=other))
    assert (refused.status, refused.status_info) == ("Rejected", {
        "reason_code": "NotFound",
        "additional_info": "the CA does not lead to the requested root certificate"})
    await disconnect(station)


# ---- the certificate provider --------------------------------------------------------------


def _good_answer(action, body):
    if action == "Get15118EVCertificate":
        answer = {"status": "Accepted",
                  "exiResponse": base64.b64encode(b"res:" + body["exiRequest"].encode()).decode()}
        if body["ocppVersion"] == "2.1":
            answer["remainingContracts"] = 0
        return answer
    if action == "GetCertificateStatus":
        serial = body["ocspRequestData"]["serialNumber"]
        return {"status": "Accepted", "ocspResult": base64.b64encode(serial.encode()).decode()}
    return {"certificateStatus": [
        {"certificateHashData": asked["certificateHashData"], "source": asked["source"],
         "status": "Good", "nextUpdate": "2030-01-01T00:00:00Z"}
        for asked in body["certificateStatusRequests"]]}


class Provider:
    """A certificate provider on 127.0.0.1 speaking the contract, scripted per test."""

    def __init__(self):
        self.mode = "good"
        self.requests = []
        self.release = asyncio.Event()
        app = web.Application()
        app.router.add_post("/pki/{action}", self.handle)
        self.server = TestServer(app, host="127.0.0.1", port=0)

    @property
    def url(self):
        return str(self.server.make_url("/pki"))

    async def handle(self, request):
        action = request.match_info["action"]
        body = await request.json()
        self.requests.append((action, body))
        if self.mode == "slow":
            await self.release.wait()
        if self.mode == "broken":
            return web.Response(status=502, text="upstream unavailable")
        if self.mode == "garbage":
            return web.Response(text="<html>maintenance</html>", content_type="text/html")
        if self.mode == "invalid":
            return web.json_response({"status": "Maybe", "certificateStatus": []})
        if self.mode == "huge":
            return web.json_response({"status": "Accepted", "ocspResult": "A" * 70000})
        return web.json_response(_good_answer(action, body))


@pytest.fixture
async def provider():
    provider = Provider()
    await provider.server.start_server()
    yield provider
    provider.release.set()
    await provider.server.close()


OCSP_DATA = {"hash_algorithm": "SHA256", "issuer_name_hash": "ab" * 32,
             "issuer_key_hash": "cd" * 32, "serial_number": "1f2e",
             "responder_url": "http://ocsp.example.com/"}
CHAIN_REQUESTS = [{"certificate_hash_data": {k: v for k, v in OCSP_DATA.items()
                                             if k != "responder_url"},
                   "source": "OCSP", "urls": ["http://ocsp.example.com/"]}]


def ev_certificate_request(station, action):
    # The package spells the schema-version field differently per version.
    name = "iso15118_schema_version" if station.calls.__name__.startswith("ocpp.v201") \
        else "iso_15118_schema_version"
    return station.calls.Get15118EVCertificate(
        **{name: "urn:iso:15118:2:2013:MsgDef"}, action=action, exi_request="gAQ=")


async def provider_server(openv2x_server, provider, **ocpp201):
    return await openv2x_server(settings={"ocpp201": {
        "pki_provider_url": provider.url, "pki_provider_timeout": 0.5, **ocpp201}})


@pytest.mark.parametrize("version", VERSIONS)
async def test_provider_answers_are_passed_through(openv2x_server, provider, version):
    server = await provider_server(openv2x_server, provider)
    station = await station_for(server, version)
    calls = station.calls
    ev = await station.call(ev_certificate_request(station, "Install"))
    assert (ev.status, ev.exi_response) == ("Accepted", base64.b64encode(b"res:gAQ=").decode())
    assert getattr(ev, "remaining_contracts", None) == (0 if version == "2.1" else None)
    status = await station.call(calls.GetCertificateStatus(ocsp_request_data=OCSP_DATA))
    assert (status.status, status.ocsp_result) == ("Accepted",
                                                   base64.b64encode(b"1f2e").decode())
    assert provider.requests == [
        ("Get15118EVCertificate", {"iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef",
                                   "action": "Install", "exiRequest": "gAQ=",
                                   "stationId": "CS1", "ocppVersion": version}),
        ("GetCertificateStatus", {"ocspRequestData": {
            "hashAlgorithm": "SHA256", "issuerNameHash": "ab" * 32, "issuerKeyHash": "cd" * 32,
            "serialNumber": "1f2e", "responderURL": "http://ocsp.example.com/"},
            "stationId": "CS1", "ocppVersion": version}),
    ]
    if version == "2.1":
        chain = await station.call(calls.GetCertificateChainStatus(
            certificate_status_requests=CHAIN_REQUESTS))
        assert chain.certificate_status == [{
            "certificate_hash_data": CHAIN_REQUESTS[0]["certificate_hash_data"],
            "source": "OCSP", "status": "Good", "next_update": "2030-01-01T00:00:00Z"}]
    await disconnect(station)


async def test_21_only_names_reach_the_provider_as_the_schema_spells_them(openv2x_server,
                                                                          provider):
    server = await provider_server(openv2x_server, provider)
    await register(server, "CS9")
    request = {"iso15118SchemaVersion": "urn:iso:std:iso:15118:-20:CommonMessages",
               "action": "Install", "exiRequest": "gAQ=", "maximumContractCertificateChains": 2,
               "prioritizedEMAIDs": ["DEABCC1234567", "DEABCC7654321"],
               "customData": {"vendorId": "com.example", "slot": 1}}
    url = server.url("/ocpp/CS9").replace("http://", "ws://")
    async with server.http.ws_connect(url, protocols=("ocpp2.1",)) as ws:
        await ws.send_str(json.dumps([2, "m1", "Get15118EVCertificate", request]))
        answer = json.loads((await ws.receive()).data)
    assert answer[:2] == [3, "m1"] and answer[2]["status"] == "Accepted"
    [(action, body)] = provider.requests
    assert action == "Get15118EVCertificate"
    assert body == {**request, "stationId": "CS9", "ocppVersion": "2.1"}


FAILURES = {
    "unconfigured": ("NotEnabled", "no certificate provider is configured "
                                   "([ocpp201] pki_provider_url)"),
    "slow": ("InternalError", "the certificate provider did not answer within 0.5 s"),
    "broken": ("InternalError", "the certificate provider answered HTTP 502"),
    "garbage": ("InternalError", "the certificate provider's answer is not JSON"),
    "invalid": ("InternalError", "the certificate provider's answer is not a valid OCPP"),
    "huge": ("InternalError", "the certificate provider's answer exceeds 65536 bytes"),
    "unreachable": ("InternalError", "the certificate provider cannot be reached"),
}


@pytest.mark.parametrize("mode", list(FAILURES))
@pytest.mark.parametrize("version", VERSIONS)
async def test_provider_failures_answer_failed(openv2x_server, provider, version, mode, caplog):
    settings = {"unconfigured": {"pki_provider_url": ""},
                "unreachable": {"pki_provider_url": "http://127.0.0.1:1/pki"}}.get(mode, {})
    server = await provider_server(openv2x_server, provider, **settings)
    provider.mode = mode
    station = await station_for(server, version)
    code, reason = FAILURES[mode]
    calls = station.calls
    ev = await station.call(ev_certificate_request(station, "Update"))
    assert (ev.status, ev.exi_response, ev.status_info["reason_code"]) == ("Failed", "", code)
    assert ev.status_info["additional_info"].startswith(reason)
    status = await station.call(calls.GetCertificateStatus(ocsp_request_data=OCSP_DATA))
    assert (status.status, status.ocsp_result) == ("Failed", None)
    assert status.status_info["additional_info"].startswith(reason)
    if version == "2.1":
        chain = await station.call(calls.GetCertificateChainStatus(
            certificate_status_requests=CHAIN_REQUESTS))
        [entry] = chain.certificate_status
        assert (entry["status"], entry["source"]) == ("Failed", "OCSP")
        assert entry["certificate_hash_data"] == CHAIN_REQUESTS[0]["certificate_hash_data"]
    assert f"CS1: GetCertificateStatus answered Failed: {reason}" in caplog.text
    await disconnect(station)


async def test_2_0_1_has_no_certificate_chain_status(openv2x_server, provider):
    server = await provider_server(openv2x_server, provider)
    await register(server)
    url = server.url("/ocpp/CS1").replace("http://", "ws://")
    request = {"certificateStatusRequests": [{"certificateHashData": {
        "hashAlgorithm": "SHA256", "issuerNameHash": "ab", "issuerKeyHash": "cd",
        "serialNumber": "1"}, "source": "OCSP", "urls": ["http://ocsp.example.com/"]}]}
    async with server.http.ws_connect(url, protocols=("ocpp2.0.1",)) as ws:
        await ws.send_str(json.dumps([2, "c1", "GetCertificateChainStatus", request]))
        assert json.loads((await ws.receive()).data)[:3] == [4, "c1", "NotSupported"]
    assert provider.requests == []


@pytest.mark.parametrize(("settings", "message"), [
    ({"pki_provider_url": "ftp://pki.example.com"}, "[ocpp201] pki_provider_url"),
    ({"pki_provider_timeout": 0}, "[ocpp201] pki_provider_timeout"),
])
async def test_provider_settings_are_checked(openv2x_server, settings, message):
    with pytest.raises(ConfigError) as info:
        await openv2x_server(settings={"ocpp201": settings})
    assert str(info.value).startswith(message)


# ---- InstallCertificate, GetInstalledCertificateIds, DeleteCertificate -----------------------


async def command(server, name, body, station_id="CS1"):
    headers = await server.auth_headers("cpo_manager")
    async with server.http.post(server.url(f"/api/ocpp201/{name}/{station_id}/"), json=body,
                                headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def installed(server, query="station_id=CS1", role="support_l1"):
    headers = await server.auth_headers(role)
    async with server.http.get(server.url(f"/api/ocpp201/installedcertificate/?{query}"),
                               headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        return (await resp.json())["results"]


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize("version", VERSIONS)
async def test_install_certificate_accepted_is_an_event(openv2x_server, pki, version):
    server = await openv2x_server()
    events = collect_events(server)
    station = await station_for(server, version)
    body = {"certificate_type": "V2GRootCertificate", "certificate": _pem(pki.root)}
    assert await command(server, "installcertificate", body) == {"status": "Accepted"}
    station.install_status = "Rejected"
    assert await command(server, "installcertificate", body) == {"status": "Rejected"}
    assert station.installed == [("V2GRootCertificate", _pem(pki.root))] * 2
    await server.app[appkeys.EVENTS].drain()
    [event] = events
    assert (event.name, event.data) == ("station.certificate_installed", {
        "station_id": "CS1", "certificate_type": "V2GRootCertificate",
        "subject": "CN=Test Root", "serial_number": f"{pki.root.serial_number:x}",
        "not_after": pki.root.not_valid_after_utc.isoformat()})
    await disconnect(station)


@pytest.mark.parametrize("version", VERSIONS)
async def test_installed_certificates_follow_the_stations_reports(openv2x_server, pki, version):
    server = await openv2x_server()
    await register(server, "CS2")
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(InstalledCertificate(
            station_id="CS2", certificate_type="CSMSRootCertificate",
            **certificate_hash_data(pki.root, pki.root)))
    station = await station_for(server, version)
    root = certificate_hash_data(pki.root, pki.root)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = x509.load_pem_x509_certificates(pki.station_ca().sign(
        "CS1", csr_for(leaf_key, "CS1")).encode())[0]
    station.chains = [
        {"certificate_type": "V2GRootCertificate", "certificate_hash_data": root},
        {"certificate_type": "V2GCertificateChain",
         "certificate_hash_data": certificate_hash_data(leaf, pki.ca),
         "child_certificate_hash_data": [certificate_hash_data(pki.ca, pki.root)]},
        {"certificate_type": "MORootCertificate", "certificate_hash_data": {
            **root, "serial_number": "7"}},
    ]
    answer = await command(server, "getinstalledcertificateids", {})
    assert answer["status"] == "Accepted"
    reported = await installed(server)
    assert [(r["certificate_type"], r["serial_number"]) for r in reported] == [
        ("V2GRootCertificate", root["serial_number"]),
        ("V2GCertificateChain", f"{leaf.serial_number:x}"),
        ("MORootCertificate", "7")]
    assert reported[1]["child_certificates"] == [certificate_hash_data(pki.ca, pki.root)]
    assert reported[0]["child_certificates"] is None
    assert {k: reported[0][k] for k in root} == root

    # Asking for some types replaces only those; NotFound means none of them is installed.
    station.chains = station.chains[1:]
    answer = await command(server, "getinstalledcertificateids",
                           {"certificate_type": ["V2GRootCertificate", "MORootCertificate"]})
    assert answer["status"] == "Accepted"
    assert [r["certificate_type"] for r in await installed(server)] == [
        "V2GCertificateChain", "MORootCertificate"]
    station.chains = station.chains[:1]
    answer = await command(server, "getinstalledcertificateids",
                           {"certificate_type": ["MORootCertificate"]})
    assert answer["status"] == "NotFound"
    assert [r["certificate_type"] for r in await installed(server)] == ["V2GCertificateChain"]
    assert [r["station_id"] for r in await installed(server, "")] == ["CS2", "CS1"]
    assert len(await installed(server, "certificate_type=CSMSRootCertificate")) == 1
    await disconnect(station)


@pytest.mark.parametrize("version", VERSIONS)
async def test_delete_certificate_accepted_removes_the_row(openv2x_server, pki, version):
    server = await openv2x_server()
    events = collect_events(server)
    station = await station_for(server, version)
    root = certificate_hash_data(pki.root, pki.root)
    ca = certificate_hash_data(pki.ca, pki.root)
    station.chains = [{"certificate_type": "V2GRootCertificate", "certificate_hash_data": root},
                      {"certificate_type": "MORootCertificate", "certificate_hash_data": ca}]
    await command(server, "getinstalledcertificateids", {})
    # The same certificate, spelt as another station might: upper case, a leading zero.
    spelt = {**root, "issuer_name_hash": root["issuer_name_hash"].upper(),
             "serial_number": ("0" + root["serial_number"].upper())[-40:]}
    station.delete_status = "NotFound"
    assert await command(server, "deletecertificate", {"certificate_hash_data": spelt}) == {
        "status": "NotFound"}
    assert len(await installed(server)) == 2
    station.delete_status = "Accepted"
    assert await command(server, "deletecertificate", {"certificate_hash_data": spelt}) == {
        "status": "Accepted"}
    assert station.deleted == [spelt, spelt]
    assert [r["certificate_type"] for r in await installed(server)] == ["MORootCertificate"]
    await server.app[appkeys.EVENTS].drain()
    [event] = events
    assert (event.name, event.data) == ("station.certificate_deleted",
                                        {"station_id": "CS1", **spelt})
    await disconnect(station)


async def test_installed_certificates_need_ocpp201_read(openv2x_server):
    server = await openv2x_server()
    for role, status in (("driver", 403), ("vendor", 200), ("cpo_manager", 200)):
        headers = await server.auth_headers(role)
        async with server.http.get(server.url("/api/ocpp201/installedcertificate/"),
                                   headers=headers) as resp:
            assert resp.status == status, role
    async with server.http.get(server.url("/api/ocpp201/installedcertificate/")) as resp:
        assert resp.status == 401
