"""The ``[ocpp201]`` config section (OCPP 2.0.1 and 2.1 stations)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

_HTTP_URL = validate.URL(require_tld=False, schemes={"http", "https"})


def _empty_or_http_url(value: str) -> None:
    """Empty means "not configured"; anything else must be an http(s) URL."""
    if value:
        try:
            _HTTP_URL(value)
        except ValidationError:
            raise ValidationError("Not an http:// or https:// URL.") from None


class Ocpp201Settings(Schema):
    """Keys of ``[ocpp201]``; each block adds the settings it needs."""

    pki_provider_url = fields.String(
        load_default="", validate=_empty_or_http_url,
        metadata={"help": "Base URL of the Plug & Charge certificate provider that answers "
                          "Get15118EVCertificate, GetCertificateStatus and "
                          "GetCertificateChainStatus (POST {url}/{action}); empty: those "
                          "requests are answered Failed."},
    )
    pki_provider_timeout = fields.Float(
        load_default=10.0, validate=validate.Range(min=0.1, max=120),
        metadata={"help": "Seconds to wait for the certificate provider before answering "
                          "the station Failed."},
    )
