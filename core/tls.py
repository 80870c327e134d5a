"""TLS for the one HTTP server: HTTPS/WSS (OCPP Security Profile 2) and client certificates (3).

Client certificates are optional at the TLS layer so browsers and API clients without one still
connect; the OCPP endpoint then decides per station (its CN must equal the station id).
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from core.config import Config, ConfigError


def server_context(config: Config) -> ssl.SSLContext | None:
    """The server's SSL context, or ``None`` when TLS is not configured."""
    server = config["server"]
    cert, key, client_ca = server["tls_cert"], server["tls_key"], server["tls_client_ca"]
    if not cert and not key:
        if client_ca:
            raise ConfigError("[server] tls_client_ca: needs tls_cert and tls_key")
        if config["ocpp"]["require_client_certificate"]:
            raise ConfigError("[ocpp] require_client_certificate: needs [server] tls_client_ca")
        return None
    for name, path in (("tls_cert", cert), ("tls_key", key), ("tls_client_ca", client_ca)):
        if (name != "tls_client_ca" or path) and not Path(path).is_file():
            raise ConfigError(f"[server] {name}: file {path!r} does not exist")
    if config["ocpp"]["require_client_certificate"] and not client_ca:
        raise ConfigError("[ocpp] require_client_certificate: needs [server] tls_client_ca")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
        if client_ca:
            context.load_verify_locations(client_ca)
            context.verify_mode = ssl.CERT_OPTIONAL
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"[server] tls_cert: cannot load the certificate or key: {exc}"
                          ) from None
    return context


def common_name(peercert: dict[str, Any] | None) -> str | None:
    """The subject CN of a verified peer certificate (``transport.get_extra_info``)."""
    if not peercert:
        return None
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None
