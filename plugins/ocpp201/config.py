"""The ``[ocpp201]`` config section (OCPP 2.0.1 and 2.1 stations)."""

from __future__ import annotations

from marshmallow import Schema


class Ocpp201Settings(Schema):
    """Keys of ``[ocpp201]``; each block adds the settings it needs."""
