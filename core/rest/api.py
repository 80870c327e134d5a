"""The core's REST routes, assembled in one place."""

from __future__ import annotations

from core.rest import ocpi_partners
from core.rest.auth_views import auth_routes
from core.rest.openapi import openapi_routes
from core.rest.resources import RESOURCES
from core.rest.routes import Route
from core.rest.transaction_views import transaction_routes


def core_routes() -> list[Route]:
    routes = [*auth_routes(), *openapi_routes(), *transaction_routes(), *ocpi_partners.routes()]
    for resource in RESOURCES:
        routes.extend(resource().routes())
    return routes
