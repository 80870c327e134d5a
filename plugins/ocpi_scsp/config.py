"""The ``[ocpi_scsp]`` config section and its typed view: our SCSP party, the horizon and
how often CPOs' SmartChargingOptimisation SENDERs are pulled."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from core import appkeys
from core.ocpi import Party


class ScspSettings(Schema):
    """Keys of ``[ocpi_scsp]``."""

    country_code = fields.String(
        load_default="ZZ", validate=validate.Regexp(r"^[A-Z]{2}$", error="two capital letters"),
        metadata={"help": "Our SCSP party's country code (ISO 3166-1 alpha-2)."},
    )
    party_id = fields.String(
        load_default="SCS",
        validate=validate.Regexp(r"^[A-Z0-9]{3}$", error="three capital letters or digits"),
        metadata={"help": "Our SCSP party id."},
    )
    name = fields.String(load_default="OpenV2X SCSP", validate=validate.Length(min=1, max=100),
                         metadata={"help": "Business name partners see."})
    website = fields.String(load_default="", validate=validate.Length(max=255),
                            metadata={"help": "Business website partners see (optional)."})
    slot_minutes = fields.Integer(
        load_default=15, validate=validate.Range(min=1, max=60),
        metadata={"help": "Length of one optimisation time slot (minutes)."},
    )
    slots = fields.Integer(
        load_default=96, validate=validate.Range(min=1, max=2016),
        metadata={"help": "Number of slots in the optimisation horizon."},
    )
    solver_time_limit = fields.Float(
        load_default=10.0, validate=validate.Range(min=0.1, max=600),
        metadata={"help": "Seconds the solver may take before the greedy schedule is used."},
    )
    pull_interval = fields.Integer(
        load_default=300, validate=validate.Range(min=10, max=86_400),
        metadata={"help": "Seconds between two pulls of a CPO's SmartChargingOptimisation "
                          "SENDER (objects changed since the previous pull)."},
    )
    pull_full_interval = fields.Integer(
        load_default=3600, validate=validate.Range(min=10, max=7 * 86_400),
        metadata={"help": "Seconds between two full pulls, after which the CPO's contexts it "
                          "no longer lists are deleted."},
    )

    @validates_schema
    def _full_not_more_often(self, values: dict[str, Any], **_: Any) -> None:
        """A full pull is one of the periodic pulls, so it cannot come more often than they do."""
        if values["pull_full_interval"] < values["pull_interval"]:
            raise ValidationError("must not be below pull_interval", "pull_full_interval")


@dataclass(frozen=True, slots=True)
class ScspConfig:
    party: Party
    name: str
    website: str
    slot_minutes: int
    slots: int
    solver_time_limit: float
    pull_interval: int
    pull_full_interval: int


CONFIG: web.AppKey[ScspConfig] = web.AppKey("ocpi_scsp_config")


def load(app: web.Application) -> ScspConfig:
    values = {**ScspSettings().load({}), **app[appkeys.CONFIG].get("ocpi_scsp")}
    return ScspConfig(Party(values["country_code"], values["party_id"]), values["name"],
                      values["website"], values["slot_minutes"], values["slots"],
                      values["solver_time_limit"], values["pull_interval"],
                      values["pull_full_interval"])
