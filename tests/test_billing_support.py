"""Shared helpers of the billing tests (this module has no tests of its own).

The OCPI checks validate our JSON against the EVRoaming Foundation's OpenAPI description of
OCPI 2.2.1 (``../shared/ocpi-openapi/2.2.1`` beside the repository), resolving its
cross-file ``$ref``s, with the JSON Schema 2020-12 validator (OpenAPI 3.1 schemas are JSON
Schema 2020-12).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from sqlalchemy import select

from core import appkeys
from core.db.models import ChargingStation, Connector, Evse, IdToken, Location

ROOT = Path(__file__).resolve().parent.parent
OCPI_OPENAPI = ROOT.parent / "shared" / "ocpi-openapi" / "2.2.1"
PARTY = {"billing": {"country_code": "NL", "party_id": "OVX"}}


def _retrieve(uri: str) -> Resource:
    path = Path(uri.removeprefix("file://"))
    return Resource.from_contents(yaml.safe_load(path.read_text()),
                                  default_specification=DRAFT202012)


@functools.cache
def _validator(module: str, name: str) -> Draft202012Validator:
    if not OCPI_OPENAPI.is_dir():
        pytest.skip(f"the OCPI 2.2.1 OpenAPI description is not at {OCPI_OPENAPI}")
    uri = (OCPI_OPENAPI / "modules" / module / "schema.yaml").as_uri()
    registry = Registry(retrieve=_retrieve)
    return Draft202012Validator({"$ref": f"{uri}#/components/schemas/{name}"},
                                registry=registry,
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def assert_ocpi(obj: dict[str, Any], module: str, name: str) -> None:
    """``obj`` is a valid OCPI 2.2.1 ``name`` object (e.g. cdrs/CDR, tariffs/Tariff)."""
    errors = sorted(_validator(module, name).iter_errors(obj), key=lambda e: e.json_path)
    assert not errors, [f"{e.json_path}: {e.message}" for e in errors]


def component(kind: str, price: float | str, step: int = 1, vat: float | None = None
              ) -> dict[str, Any]:
    out: dict[str, Any] = {"type": kind, "price": price, "step_size": step}
    if vat is not None:
        out["vat"] = vat
    return out


def tariff(tariff_id: str, *elements: dict[str, Any], currency: str = "EUR",
           **extra: Any) -> dict[str, Any]:
    """An OCPI Tariff body as a client sends it (no party: ours is filled in)."""
    return {"id": tariff_id, "currency": currency, "elements": list(elements), **extra}


def energy_tariff(tariff_id: str, price: float | str, vat: float = 20) -> dict[str, Any]:
    return tariff(tariff_id, {"price_components": [component("ENERGY", price, 1, vat)]})


async def add_site(server, *, station_id="CP1", location_id="LOC1", time_zone="Europe/Amsterdam",
                   city="Amsterdam", country="NLD", connectors=(("AC_3_PHASE", 22000),),
                   evse_id=None):
    """A described location and station, with one EVSE per (power type, max power W)."""
    async with server.app[appkeys.DB].transaction() as work:
        session = work.session
        if await session.get(Location, location_id) is None:
            session.add(Location(id=location_id, name=f"{city} central", address="Damrak 1",
                                 city=city, postal_code="1012LG", country=country,
                                 latitude="52.37403", longitude="4.88969", time_zone=time_zone,
                                 country_code="NL", party_id="OVX"))
        session.add(ChargingStation(id=station_id, location_id=location_id,
                                    registration_status="Accepted",
                                    meter_serial_number=f"MTR-{station_id}"))
        await session.flush()
        for number, (power_type, watts) in enumerate(connectors, start=1):
            evse = Evse(station_id=station_id, evse_number=number,
                        evse_id=evse_id or f"NL*OVX*E{station_id}*{number}")
            session.add(evse)
            await session.flush()
            session.add(Connector(
                id=f"{station_id}-{number}", evse_id=evse.id, station_id=station_id,
                connector_number=number,
                standard="IEC_62196_T2_COMBO" if power_type == "DC" else "IEC_62196_T2",
                format="CABLE" if power_type == "DC" else "SOCKET", power_type=power_type,
                max_electric_power=watts, max_amperage=watts // 690 or None,
                max_voltage=400 if power_type in ("AC_3_PHASE", "DC") else 230, tariff_ids=[]))


async def add_token(server, token, **fields):
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(IdToken(id_token=token, **fields))


async def rows(server, model, *where, order=None):
    async with server.app[appkeys.DB].session() as session:
        stmt = select(model).where(*where)
        if order is not None:
            stmt = stmt.order_by(order)
        return list((await session.execute(stmt)).scalars())


async def call(server, method, path, headers, body=None, status=200):
    """One REST call; asserts the status and returns the JSON body (None for 204)."""
    async with server.http.request(method, server.url(path), headers=headers,
                                   json=body) as resp:
        text = await resp.text()
        assert resp.status == status, (method, path, resp.status, text)
        return await resp.json() if text else None
