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


def sign_for_station(app: web.Application, station_id: str, csr: str) -> str | None:
    """The chain signed for ``station_id`` from ``csr``; ``None`` means answer ``Rejected``."""
    ca = app[appkeys.STATION_CA]
    if ca is None:
        log.warning("%s: SignCertificate rejected: no certificate authority is configured "
                    "([ocpp] ca_cert, ca_key)", station_id)
        return None
    try:
        chain = ca.sign(station_id, csr)
    except CertificateRequestRejected as exc:
        log.warning("%s: SignCertificate rejected: %s", station_id, exc)
        return None
    leaf = _leaf(chain)
    log.info("%s: certificate issued, serial %x, valid until %s", station_id,
             leaf.serial_number, leaf.not_valid_after_utc.isoformat())
    return chain


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
