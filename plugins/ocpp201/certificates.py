"""ISO 15118 / Plug & Charge certificate management (blocks A and M).

Station certificates are signed by the operator's CA (``[ocpp] ca_cert``): SignCertificate is
answered once the chain exists, and the chain follows as a CertificateSigned task after the
answer, like OCPP 1.6. A ``ChargingStationCertificate`` (or no type) must name the station (the
Security Profile 3 rule); a ``V2GCertificate`` follows the ISO 15118-2 SECC profile, and its CN
must be one of the SECC ids the station reported (``ISO15118Ctrlr.SeccId``) when it reported any.

EV contract certificates and revocation status come from the certificate provider of
``[ocpp201] pki_provider_url``. The contract, for Get15118EVCertificate, GetCertificateStatus
and (2.1) GetCertificateChainStatus::

    POST {pki_provider_url}/{action}
    {...the station's request payload, camelCase as on the wire..., "stationId": "CS1",
     "ocppVersion": "2.0.1" | "2.1"}
    → 200, the OCPP response payload as a JSON object

The answer is checked against the OCPP response schema of the station's version before it is
passed on. No provider, a timeout (``pki_provider_timeout``), a connection error, another HTTP
status or an invalid answer: the station gets ``Failed`` with a reason, and the cause is logged.
Each call opens its own HTTP session: these requests come once per contract installation or
revocation check, so a pooled connection would save nothing the provider's latency does not
dwarf, and no session outlives the request.

What stations answer to InstallCertificate, GetInstalledCertificateIds and DeleteCertificate is
recorded (:data:`CertificateHandlers.OWN_EFFECTS`), readable at
``/api/ocpp201/installedcertificate/``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from cryptography import x509
from marshmallow import Schema, fields
from ocpp.exceptions import NotSupportedError, OCPPError
from ocpp.routing import after, on
from sqlalchemy import delete, select

from core import appkeys
from core.db import Work
from core.db.types import utcnow
from core.events import Event
from core.ocpp.certificates import (
    CHARGING_STATION,
    V2G,
    CertificateRequestRejected,
    same_certificate,
)
from core.ocpp.guard import snake_keys
from core.ocpp.times import iso
from core.ocpp.validation import check, schema
from core.ocpp.wire import to_wire
from core.rest.resource import ModelResource
from core.rest.routes import Route
from plugins.ocpp201.base import Effect, HandlerBase
from plugins.ocpp201.models import DeviceVariable, InstalledCertificate

log = logging.getLogger(__name__)
PROFILES = {profile.name: profile for profile in (CHARGING_STATION, V2G)}
HASH_FIELDS = ("hash_algorithm", "issuer_name_hash", "issuer_key_hash", "serial_number")
# statusInfo.additionalInfo holds 512 characters in OCPP 2.0.1 (1024 in 2.1).
MAX_ADDITIONAL_INFO = 512
# The largest provider answer read; OCPP's biggest field here (2.1 ocspResult) is 18000 chars.
MAX_PROVIDER_BYTES = 65536


class ProviderFailed(Exception):
    """The certificate provider gave no usable answer; the message is one line for the log."""

    def __init__(self, message: str, reason_code: str = "InternalError") -> None:
        super().__init__(message)
        self.reason_code = reason_code


@dataclass(frozen=True)
class Issued:
    """A chain signed for a station and not yet delivered, with what CertificateSigned echoes."""

    chain: str
    certificate_type: str | None
    request_id: int | None


def status_info(reason_code: str, text: str) -> dict[str, str]:
    return {"reason_code": reason_code, "additional_info": text[:MAX_ADDITIONAL_INFO]}


# ---- effects of CSMS requests --------------------------------------------------------------


async def certificate_installed(work: Work, station_id: str, request: dict[str, Any],
                                answer: dict[str, Any]) -> None:
    if answer["status"] != "Accepted":
        return
    work.emit(Event("station.certificate_installed", {
        "station_id": station_id, "certificate_type": request["certificate_type"],
        **_describe(request["certificate"])}))


async def certificates_reported(work: Work, station_id: str, request: dict[str, Any],
                                answer: dict[str, Any]) -> None:
    """Replace what we know of the asked types (all types when none were asked)."""
    asked: list[str] = request.get("certificate_type") or []
    stale = delete(InstalledCertificate).where(InstalledCertificate.station_id == station_id)
    if asked:
        stale = stale.where(InstalledCertificate.certificate_type.in_(asked))
    await work.session.execute(stale)
    accepted = answer["status"] == "Accepted"
    for chain in answer.get("certificate_hash_data_chain", []) if accepted else []:
        if not asked or chain["certificate_type"] in asked:
            work.session.add(_installed_row(station_id, chain))


async def certificate_deleted(work: Work, station_id: str, request: dict[str, Any],
                              answer: dict[str, Any]) -> None:
    if answer["status"] != "Accepted":
        return
    target = _hash_data(request["certificate_hash_data"])
    rows = await work.session.scalars(
        select(InstalledCertificate).where(InstalledCertificate.station_id == station_id))
    for row in rows:
        if same_certificate(_row_hash(row), target):
            await work.session.delete(row)
    work.emit(Event("station.certificate_deleted", {"station_id": station_id, **target}))


def _hash_data(data: Mapping[str, Any]) -> dict[str, str]:
    return {name: data[name] for name in HASH_FIELDS}


def _row_hash(row: InstalledCertificate) -> dict[str, str]:
    return {name: getattr(row, name) for name in HASH_FIELDS}


def _installed_row(station_id: str, chain: dict[str, Any]) -> InstalledCertificate:
    children = [_hash_data(child) for child in chain.get("child_certificate_hash_data", [])]
    return InstalledCertificate(station_id=station_id, certificate_type=chain["certificate_type"],
                                child_certificates=children or None,
                                **_hash_data(chain["certificate_hash_data"]))


def _describe(pem: str) -> dict[str, str]:
    """Subject, serial and expiry of a PEM certificate, for events; nothing if unreadable."""
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        return {}
    return {"subject": cert.subject.rfc4514_string(), "serial_number": f"{cert.serial_number:x}",
            "not_after": cert.not_valid_after_utc.isoformat()}


# ---- station requests ----------------------------------------------------------------------


class CertificateHandlers(HandlerBase):
    OWN_EFFECTS: dict[str, Effect] = {
        "InstallCertificate": certificate_installed,
        "GetInstalledCertificateIds": certificates_reported,
        "DeleteCertificate": certificate_deleted,
    }
    # A chain signed while answering, handed to the after-hook; a newer CSR replaces an
    # undelivered one, since the station only holds the key of its latest request.
    _unsent: Issued | None = None

    @on("SignCertificate")
    async def on_sign_certificate(self, csr: str, certificate_type: str | None = None,
                                  hash_root_certificate: dict[str, str] | None = None,
                                  request_id: int | None = None, **_: Any) -> dict[str, Any]:
        try:
            chain = await self._signed(csr, certificate_type, hash_root_certificate)
        except CertificateRequestRejected as exc:
            log.warning("%s: SignCertificate rejected: %s", self.id, exc)
            return {"status": "Rejected", "status_info": status_info(exc.reason_code, str(exc))}
        self._unsent = Issued(chain, certificate_type, request_id)
        return {"status": "Accepted"}

    @after("SignCertificate")
    async def after_sign_certificate(self, **_: Any) -> None:
        # Runs once the CALLRESULT is sent: the station now expects the chain.
        issued, self._unsent = self._unsent, None
        if issued is not None:
            await send_certificate_signed(self.app, self.id, issued)

    async def _signed(self, csr: str, certificate_type: str | None,
                      root: dict[str, str] | None) -> str:
        """The chain for ``csr``; raises :class:`CertificateRequestRejected` with the reason."""
        ca = self.app[appkeys.STATION_CA]
        if ca is None:
            raise CertificateRequestRejected(
                "no certificate authority is configured ([ocpp] ca_cert, ca_key)", "NotEnabled")
        profile = PROFILES.get(certificate_type or CHARGING_STATION.name)
        if profile is None:
            raise CertificateRequestRejected(
                f"this CSMS's CA does not issue {certificate_type}s", "UnsupportedRequest")
        if root is not None and not ca.chains_to(root):
            raise CertificateRequestRejected(
                "the CA does not lead to the requested root certificate", "NotFound")
        names = await self._secc_ids() if profile is V2G else []
        chain = ca.sign(self.id, csr, profile, names)
        leaf = _leaf(chain)
        log.info("%s: %s issued, serial %x, valid until %s", self.id, profile.name,
                 leaf.serial_number, leaf.not_valid_after_utc.isoformat())
        return chain

    async def _secc_ids(self) -> list[str]:
        """The SECC ids the station reported in its device model (one per ISO 15118 SECC)."""
        async with self.app[appkeys.DB].session() as session:
            values = await session.scalars(select(DeviceVariable.value).where(
                DeviceVariable.station_id == self.id,
                DeviceVariable.component_name == "ISO15118Ctrlr",
                DeviceVariable.variable_name == "SeccId",
                DeviceVariable.attribute_type == "Actual"))
            return [value for value in values if value]

    @on("Get15118EVCertificate")
    async def on_get_15118_ev_certificate(self, **request: Any) -> dict[str, Any]:
        return await self._from_provider("Get15118EVCertificate", request)

    @on("GetCertificateStatus")
    async def on_get_certificate_status(self, **request: Any) -> dict[str, Any]:
        return await self._from_provider("GetCertificateStatus", request)

    @on("GetCertificateChainStatus")
    async def on_get_certificate_chain_status(self, **request: Any) -> dict[str, Any]:
        # Composed into both versions' sessions; OCPP 2.0.1 has no such message.
        if self._ocpp_version == "2.0.1":
            raise NotSupportedError(
                details={"cause": "GetCertificateChainStatus is not an OCPP 2.0.1 message"})
        return await self._from_provider("GetCertificateChainStatus", request)

    async def _from_provider(self, action: str, request: dict[str, Any]) -> dict[str, Any]:
        settings = self.app[appkeys.CONFIG]["ocpp201"]
        try:
            return await ask_provider(settings["pki_provider_url"],
                                      settings["pki_provider_timeout"], self._ocpp_version,
                                      self.id, action, request)
        except ProviderFailed as exc:
            log.warning("%s: %s answered Failed: %s", self.id, action, exc)
            return FAILED[action](request, exc)


async def send_certificate_signed(app: web.Application, station_id: str, issued: Issued) -> None:
    """Send CertificateSigned through the task registry and record the issuance.

    Runs detached from the message loop (the ``ocpp`` package's after-hook), so a failure is
    logged here rather than lost in an unobserved future.
    """
    leaf = _leaf(issued.chain)
    payload: dict[str, Any] = {"certificate_chain": issued.chain}
    if issued.certificate_type is not None:
        payload["certificate_type"] = issued.certificate_type
    if issued.request_id is not None:
        payload["request_id"] = issued.request_id
    try:
        task_id = await app[appkeys.TASKS].submit(
            station_id, "CertificateSigned", payload,
            timeout=app[appkeys.CONFIG]["ocpp"]["call_timeout"])
        async with app[appkeys.DB].transaction() as work:
            work.emit(Event("station.certificate_issued", {
                "station_id": station_id, "certificate_type": issued.certificate_type,
                "serial_number": f"{leaf.serial_number:x}",
                "not_after": leaf.not_valid_after_utc.isoformat(), "task_id": task_id}))
    except Exception:
        log.exception("%s: could not send the signed certificate %x", station_id,
                      leaf.serial_number)


def _leaf(chain_pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificates(chain_pem.encode("ascii"))[0]


# ---- the certificate provider --------------------------------------------------------------


async def ask_provider(url: str, timeout: float, version: str, station_id: str, action: str,
                       request: Mapping[str, Any]) -> dict[str, Any]:
    """The provider's answer to ``request`` (snake_case in and out), valid for ``version``.

    Raises :class:`ProviderFailed` for every way the provider can fail us.
    """
    if not url:
        raise ProviderFailed("no certificate provider is configured ([ocpp201] pki_provider_url)",
                             "NotEnabled")
    # The station's request in its on-the-wire spelling (the schema's own names).
    body = {**to_wire(request, schema(version, action, "request")), "stationId": station_id,
            "ocppVersion": version}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http,
            http.post(f"{url.rstrip('/')}/{action}", json=body) as response,
        ):
            if response.status != 200:
                raise ProviderFailed(f"the certificate provider answered HTTP {response.status}")
            raw = await _read_limited(response)
    except TimeoutError:
        raise ProviderFailed(f"the certificate provider did not answer within {timeout:g} s"
                             ) from None
    except aiohttp.ClientError as exc:
        raise ProviderFailed(f"the certificate provider cannot be reached "
                             f"({type(exc).__name__})") from None
    answer = _json_object(raw)
    try:
        check(version, action, "response", answer)
    except OCPPError as error:
        cause = error.details.get("cause", error.description) if isinstance(
            error.details, dict) else error.description
        raise ProviderFailed(f"the certificate provider's answer is not a valid OCPP {version} "
                             f"{action} response: {cause}") from None
    result: dict[str, Any] = snake_keys(answer)
    return result


async def _read_limited(response: aiohttp.ClientResponse) -> bytes:
    body = bytearray()
    async for chunk in response.content.iter_chunked(16384):
        body += chunk
        if len(body) > MAX_PROVIDER_BYTES:
            raise ProviderFailed(f"the certificate provider's answer exceeds "
                                 f"{MAX_PROVIDER_BYTES} bytes")
    return bytes(body)


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(raw)
    except ValueError:
        raise ProviderFailed("the certificate provider's answer is not JSON") from None
    if not isinstance(answer, dict):
        raise ProviderFailed("the certificate provider's answer is not a JSON object")
    return answer


def _failed_ev_certificate(request: dict[str, Any], failure: ProviderFailed) -> dict[str, Any]:
    return {"status": "Failed", "exi_response": "",
            "status_info": status_info(failure.reason_code, str(failure))}


def _failed_certificate_status(request: dict[str, Any],
                               failure: ProviderFailed) -> dict[str, Any]:
    return {"status": "Failed", "status_info": status_info(failure.reason_code, str(failure))}


def _failed_chain_status(request: dict[str, Any], failure: ProviderFailed) -> dict[str, Any]:
    """Every asked certificate ``Failed``; the response has no statusInfo, so the station may
    ask again right away."""
    now = iso(utcnow())
    return {"certificate_status": [
        {"certificate_hash_data": asked["certificate_hash_data"], "source": asked["source"],
         "status": "Failed", "next_update": now}
        for asked in request["certificate_status_requests"]]}


FAILED: dict[str, Callable[[dict[str, Any], ProviderFailed], dict[str, Any]]] = {
    "Get15118EVCertificate": _failed_ev_certificate,
    "GetCertificateStatus": _failed_certificate_status,
    "GetCertificateChainStatus": _failed_chain_status,
}


# ---- REST ----------------------------------------------------------------------------------


class CertificateHashDataSchema(Schema):
    hash_algorithm = fields.String(dump_only=True)
    issuer_name_hash = fields.String(dump_only=True)
    issuer_key_hash = fields.String(dump_only=True)
    serial_number = fields.String(dump_only=True)


class InstalledCertificateSchema(CertificateHashDataSchema):
    id = fields.Integer(dump_only=True)
    station_id = fields.String(dump_only=True)
    certificate_type = fields.String(dump_only=True, metadata={
        "description": "GetCertificateIdUseEnumType, e.g. V2GRootCertificate."})
    child_certificates = fields.List(fields.Nested(CertificateHashDataSchema), dump_only=True,
                                     allow_none=True, metadata={
                                         "description": "The sub-CA certificates of a "
                                                        "V2GCertificateChain."})
    updated_at = fields.AwareDateTime(dump_only=True)


class InstalledCertificateResource(ModelResource):
    """The certificates stations last reported installed (GetInstalledCertificateIds)."""

    name = "installedcertificate"
    model = InstalledCertificate
    schema = InstalledCertificateSchema
    operations = ("list",)
    filters = ("station_id", "certificate_type", "serial_number")

    def routes(self) -> list[Route]:
        return [Route("GET", "/api/ocpp201/installedcertificate/", self.list_view,
                      "ocpp201:read", "ocpp201-installedcertificate-list",
                      "List the certificates stations reported installed", ("ocpp201",),
                      response_schema=self.schema, query_params=self._query_docs())]


def routes() -> list[Route]:
    """REST routes of this block (read access to what it stores)."""
    return InstalledCertificateResource().routes()
