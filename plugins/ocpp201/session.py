"""One OCPP 2.0.1 or 2.1 connection: the handler mixins composed on the frame guard.

Every station-initiated message is validated against the schema of the version the station
speaks, handled by the mixin that owns its functional block, persisted through the group commit
and answered after the commit. 2.1-only messages are handled only on ``ocpp2.1`` connections
(a 2.0.1 station sending one gets ``NotSupported``).
"""

from __future__ import annotations

from collections.abc import Mapping

from ocpp.v21 import ChargePoint as ChargePoint21
from ocpp.v201 import ChargePoint as ChargePoint201

from core.ocpp.guard import GuardedChargePoint
from core.ocpp.protocol import StationContext
from plugins.ocpp201.authorization import AuthorizationHandlers
from plugins.ocpp201.base import Effect
from plugins.ocpp201.certificates import CertificateHandlers
from plugins.ocpp201.maintenance import MaintenanceHandlers
from plugins.ocpp201.provisioning import ProvisioningHandlers
from plugins.ocpp201.smart_charging import SmartChargingHandlers
from plugins.ocpp201.transactions import TransactionHandlers
from plugins.ocpp201.v2x import V2xHandlers

COMMON = (ProvisioningHandlers, AuthorizationHandlers, TransactionHandlers,
          MaintenanceHandlers, SmartChargingHandlers, CertificateHandlers)


def merged_effects(*mixins: type) -> Mapping[str, Effect]:
    effects: dict[str, Effect] = {}
    for mixin in mixins:
        effects.update(mixin.OWN_EFFECTS)  # type: ignore[attr-defined]
    return effects


class Ocpp201Session(GuardedChargePoint, *COMMON, ChargePoint201):  # type: ignore[misc]
    protocol = "ocpp2.0.1"
    EFFECTS = merged_effects(*COMMON)

    def __init__(self, ctx: StationContext) -> None:
        super().__init__(ctx, response_timeout=3600)
        self.known_transactions = {}


class Ocpp21Session(GuardedChargePoint, *COMMON, V2xHandlers, ChargePoint21):  # type: ignore[misc]
    protocol = "ocpp2.1"
    EFFECTS = merged_effects(*COMMON, V2xHandlers)

    def __init__(self, ctx: StationContext) -> None:
        super().__init__(ctx, response_timeout=3600)
        self.known_transactions = {}
