"""The ``[billing]`` config section and its typed view."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import fields as dataclass_fields

from aiohttp import web
from marshmallow import Schema, fields, validate

from core import appkeys


class BillingSettings(Schema):
    """Keys of ``[billing]``."""

    country_code = fields.String(
        load_default="ZZ", validate=validate.Regexp(r"^[A-Z]{2}$", error="two capital letters"),
        metadata={"help": "OCPI country_code of the CPO that owns tariffs and CDRs; tariffs "
                          "created without one get it. ZZ means not configured."},
    )
    party_id = fields.String(
        load_default="ZZZ",
        validate=validate.Regexp(r"^[A-Z0-9]{3}$", error="three capital letters or digits"),
        metadata={"help": "OCPI party_id of that CPO (ISO 15118 operator id)."},
    )
    currency = fields.String(
        load_default="EUR", validate=validate.Regexp(r"^[A-Z]{3}$", error="ISO 4217 code"),
        metadata={"help": "Currency of the zero-cost CDR of a session no tariff applies to."},
    )
    cost_updates = fields.Boolean(
        load_default=True,
        metadata={"help": "Send OCPP 2.x stations CostUpdated with the running cost of their "
                          "sessions as meter values arrive."},
    )
    cost_update_interval = fields.Integer(
        load_default=300, validate=validate.Range(min=0, max=86400),
        metadata={"help": "Least seconds between two CostUpdated for one session (0: on "
                          "every meter sample)."},
    )


@dataclass(frozen=True, slots=True)
class BillingConfig:
    country_code: str
    party_id: str
    currency: str
    cost_updates: bool
    cost_update_interval: int


def billing_config(app: web.Application) -> BillingConfig:
    section = app[appkeys.CONFIG].get("billing")
    defaults = BillingSettings().load({})
    values = {**defaults, **section}
    return BillingConfig(**{f.name: values[f.name] for f in dataclass_fields(BillingConfig)})
