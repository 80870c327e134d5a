"""SignCertificate → CertificateSigned for OCPP 1.6 (security extension).

The CSR is checked and signed while answering, so ``Accepted`` is only said for a certificate
that exists. The chain goes out afterwards as its own CertificateSigned request: the station
expects it only once it has the CALLRESULT, and sending it as a task keeps a record of the
delivery and of the station's answer at ``/api/task/{id}/``.
"""

from __future__ import annotations

import logging

from aiohttp import web
from cryptography import x509

from core import appkeys
from core.events import Event
from core.ocpp.certificates import CertificateRequestRejected

log = logging.getLogger(__name__)
ACCEPTED, REJECTED = "Accepted", "Rejected"

# The after-hook only gets the request's payload back, so the chain signed while answering
# waits here. One per station: a station only holds the key of its latest CSR, so a newer
# chain replaces an undelivered older one, and nothing piles up if a CALLRESULT never went out.
_unsent: dict[str, str] = {}


def answer_sign_certificate(app: web.Application, station_id: str, csr: str) -> str:
    """Sign ``csr`` for ``station_id``; the SignCertificate status to answer with."""
    ca = app[appkeys.STATION_CA]
    if ca is None:
        log.warning("%s: SignCertificate rejected: no certificate authority is configured "
                    "([ocpp] ca_cert, ca_key)", station_id)
        return REJECTED
    try:
        chain = ca.sign(station_id, csr)
    except CertificateRequestRejected as exc:
        log.warning("%s: SignCertificate rejected: %s", station_id, exc)
        return REJECTED
    leaf = _leaf(chain)
    log.info("%s: certificate issued, serial %x, valid until %s", station_id,
             leaf.serial_number, leaf.not_valid_after_utc.isoformat())
    _unsent[station_id] = chain
    return ACCEPTED


def take_signed_chain(station_id: str) -> str | None:
    """The chain signed for ``station_id`` and not yet sent, which the caller now sends."""
    return _unsent.pop(station_id, None)


async def send_certificate_signed(app: web.Application, station_id: str, chain_pem: str) -> None:
    """Send CertificateSigned through the task registry and record the issuance.

    Runs detached from the message loop (the ``ocpp`` package's after-hook), so a failure is
    logged here rather than lost in an unobserved future.
    """
    leaf = _leaf(chain_pem)
    try:
        task_id = await app[appkeys.TASKS].submit(
            station_id, "CertificateSigned", {"certificate_chain": chain_pem},
            timeout=app[appkeys.CONFIG]["ocpp"]["call_timeout"])
        async with app[appkeys.DB].transaction() as work:
            work.emit(Event("station.certificate_issued", {
                "station_id": station_id, "serial_number": f"{leaf.serial_number:x}",
                "not_after": leaf.not_valid_after_utc.isoformat(), "task_id": task_id}))
    except Exception:
        log.exception("%s: could not send the signed certificate %x", station_id,
                      leaf.serial_number)


def _leaf(chain_pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificates(chain_pem.encode("ascii"))[0]
