"""The ``[ocpi_cpo]`` config section and its typed view."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from marshmallow import Schema, fields, validate

from core import appkeys
from core.ocpi import Party


class CpoSettings(Schema):
    """Keys of ``[ocpi_cpo]``."""

    country_code = fields.String(
        load_default="", validate=validate.Regexp(r"^([A-Z]{2})?$", error="two capital letters"),
        metadata={"help": "Our CPO party's country code; empty: [billing] country_code (the "
                          "owner of tariffs and CDRs), which should be the same party."},
    )
    party_id = fields.String(
        load_default="",
        validate=validate.Regexp(r"^([A-Z0-9]{3})?$", error="three capital letters or digits"),
        metadata={"help": "Our CPO party id; empty: [billing] party_id."},
    )
    name = fields.String(load_default="OpenV2X CPO", validate=validate.Length(min=1, max=100),
                         metadata={"help": "Business name partners see."})
    website = fields.String(load_default="", validate=validate.Length(max=255),
                            metadata={"help": "Business website partners see (optional)."})
    session_update_interval = fields.Integer(
        load_default=60, validate=validate.Range(min=0, max=3600),
        metadata={"help": "Least seconds between two Session PATCHes (kWh, cost) pushed for "
                          "one session while it charges (0: on every meter sample)."},
    )
    command_timeout = fields.Integer(
        load_default=60, validate=validate.Range(min=5, max=600),
        metadata={"help": "Seconds an OCPI command waits for the station before its "
                          "CommandResult is TIMEOUT."},
    )
    authorization_timeout = fields.Float(
        load_default=5.0, validate=validate.Range(min=0.5, max=60),
        metadata={"help": "Seconds to wait for an eMSP's real-time authorization."},
    )
    authorization_fallback = fields.String(
        load_default="reject", validate=validate.OneOf(("reject", "accept")),
        metadata={"help": "When the eMSP does not answer a real-time authorization in time: "
                          "refuse the token, or let it charge (the eMSP still gets the CDR)."},
    )


@dataclass(frozen=True, slots=True)
class CpoConfig:
    party: Party
    name: str
    website: str
    session_update_interval: int
    command_timeout: int
    authorization_timeout: float
    authorization_fallback: str


CONFIG: web.AppKey[CpoConfig] = web.AppKey("ocpi_cpo_config")


def load(app: web.Application) -> CpoConfig:
    config = app[appkeys.CONFIG]
    values = {**CpoSettings().load({}), **config.get("ocpi_cpo")}
    billing = config.get("billing")
    country = values["country_code"] or billing.get("country_code") or "ZZ"
    party_id = values["party_id"] or billing.get("party_id") or "ZZZ"
    return CpoConfig(Party(country, party_id), values["name"], values["website"],
                     values["session_update_interval"], values["command_timeout"],
                     values["authorization_timeout"], values["authorization_fallback"])
