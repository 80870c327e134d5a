"""The OCPP 2.x device model of a simulated station: a few components, each with variables.

Only ``Actual`` attributes exist, as on most real chargers. Values are kept as the strings OCPP
carries and checked against their data type when the CSMS writes them, so a station refuses
what a careful charger would refuse (a heartbeat interval of ``"soon"``, a measurand it cannot
sample).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# (component, component instance, EVSE id or 0, variable, variable instance)
Key = tuple[str, str, int, str, str]

MEASURANDS = ("Energy.Active.Import.Register,Energy.Active.Export.Register,Power.Active.Import,"
              "Current.Import,Voltage,SoC")
SUMMARY = frozenset({"AvailabilityState", "Available", "Problem"})
STRING_LIMIT = 1000


@dataclass
class Variable:
    component: str
    name: str
    value: str
    data_type: str = "string"
    mutability: str = "ReadWrite"
    evse: int = 0
    instance: str = ""
    unit: str | None = None
    min_limit: float | None = None
    values_list: str | None = None

    @property
    def key(self) -> Key:
        return (self.component, "", self.evse, self.name, self.instance)

    def accepts(self, value: str) -> bool:
        """Whether ``value`` is a valid value of this variable's data type and limits."""
        if self.data_type == "integer":
            return _number(value, int) and _at_least(int(value), self.min_limit)
        if self.data_type == "decimal":
            return _number(value, float) and _at_least(float(value), self.min_limit)
        if self.data_type == "boolean":
            return value in ("true", "false")
        allowed = (self.values_list or "").split(",")
        if self.data_type == "OptionList":
            return value in allowed
        if self.data_type == "MemberList":
            return all(member in allowed for member in value.split(",") if member)
        return len(value) <= STRING_LIMIT

    def report(self) -> dict[str, Any]:
        """This variable as NotifyReport's ReportData (snake_case); a write-only value is never
        reported."""
        component: dict[str, Any] = {"name": self.component}
        if self.evse:
            component["evse"] = {"id": self.evse}
        variable: dict[str, Any] = {"name": self.name}
        if self.instance:
            variable["instance"] = self.instance
        attribute: dict[str, Any] = {"type": "Actual", "mutability": self.mutability,
                                     "persistent": True, "constant": False}
        if self.mutability != "WriteOnly":
            attribute["value"] = self.value
        traits: dict[str, Any] = {"data_type": self.data_type, "supports_monitoring": True,
                                  "unit": self.unit, "min_limit": self.min_limit,
                                  "values_list": self.values_list}
        return {"component": component, "variable": variable, "variable_attribute": [attribute],
                "variable_characteristics": {k: v for k, v in traits.items() if v is not None}}


def _number(value: str, kind: type[int] | type[float]) -> bool:
    try:
        kind(value)
    except ValueError:
        return False
    return True


def _at_least(number: float, limit: float | None) -> bool:
    return limit is None or number >= limit


def key_of(component: Mapping[str, Any], variable: Mapping[str, Any]) -> Key:
    """The key a CSMS request's component and variable (snake_case) name."""
    evse = component.get("evse") or {}
    return (component["name"], component.get("instance") or "", evse.get("id", 0),
            variable["name"], variable.get("instance") or "")


class DeviceModel:
    def __init__(self, variables: Iterable[Variable]) -> None:
        self.variables = {v.key: v for v in variables}

    def value(self, component: str, name: str, evse: int = 0) -> str:
        return self.variables[(component, "", evse, name, "")].value

    def update(self, component: str, name: str, value: str, evse: int = 0) -> None:
        """What the station itself changes (availability, the interval the CSMS gave at boot)."""
        self.variables[(component, "", evse, name, "")].value = value

    def lookup(self, key: Key) -> tuple[str, Variable | None]:
        """The variable and ``Accepted``, or which part of the name is unknown."""
        variable = self.variables.get(key)
        if variable is not None:
            return "Accepted", variable
        known_component = any(k[:3] == key[:3] for k in self.variables)
        return ("UnknownVariable" if known_component else "UnknownComponent"), None

    def get(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """One GetVariableResult for one GetVariableData (snake_case)."""
        status, variable = self.lookup(key_of(request["component"], request["variable"]))
        result = {"component": request["component"], "variable": request["variable"],
                  "attribute_type": request.get("attribute_type", "Actual")}
        if variable is not None and result["attribute_type"] != "Actual":
            status = "NotSupportedAttributeType"
        elif variable is not None and variable.mutability == "WriteOnly":
            status = "Rejected"
        elif variable is not None:
            result["attribute_value"] = variable.value
        return {**result, "attribute_status": status}

    def set(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """One SetVariableResult for one SetVariableData (snake_case); accepted values apply at
        once."""
        status, variable = self.lookup(key_of(request["component"], request["variable"]))
        attribute_type = request.get("attribute_type", "Actual")
        if variable is not None and attribute_type != "Actual":
            status = "NotSupportedAttributeType"
        elif variable is not None and (variable.mutability == "ReadOnly"
                                       or not variable.accepts(request["attribute_value"])):
            status = "Rejected"
        elif variable is not None:
            variable.value = request["attribute_value"]
        return {"component": request["component"], "variable": request["variable"],
                "attribute_type": attribute_type, "attribute_status": status}

    def base_report(self, report_base: str) -> list[Variable]:
        """What GetBaseReport's ConfigurationInventory, SummaryInventory or FullInventory
        covers."""
        every = list(self.variables.values())
        if report_base == "ConfigurationInventory":
            return [v for v in every if v.mutability != "ReadOnly"]
        if report_base == "SummaryInventory":
            return [v for v in every if v.name in SUMMARY]
        return every

    def select(self, criteria: Iterable[Mapping[str, Any]]) -> list[Variable]:
        """The variables GetReport's componentVariable entries name (a component alone: all of
        its variables)."""
        chosen: dict[Key, Variable] = {}
        for entry in criteria:
            component = entry["component"]
            evse = (component.get("evse") or {}).get("id")
            for key, variable in self.variables.items():
                if key[0] != component["name"] or (evse is not None and key[2] != evse):
                    continue
                wanted = entry.get("variable")
                if wanted is None or (wanted["name"] == key[3]
                                      and (wanted.get("instance") or "") == key[4]):
                    chosen[key] = variable
        return list(chosen.values())


def standard_model(station_id: str, evses: Iterable[int], *, meter_interval: int,
                   power_w: float, phases: int, v2x: bool) -> DeviceModel:
    """The variables a small AC charger reports; V2X ones on OCPP 2.1 stations."""
    updated = MEASURANDS if v2x else MEASURANDS.replace("Energy.Active.Export.Register,", "")
    ended = ("Energy.Active.Import.Register,Energy.Active.Export.Register" if v2x
             else "Energy.Active.Import.Register")
    variables = [
        Variable("ChargingStation", "AvailabilityState", "Available", "OptionList", "ReadOnly",
                 values_list="Available,Occupied,Reserved,Unavailable,Faulted"),
        Variable("ChargingStation", "Available", "true", "boolean", "ReadOnly"),
        Variable("ChargingStation", "SupplyPhases", str(phases), "integer", "ReadOnly"),
        Variable("OCPPCommCtrlr", "HeartbeatInterval", "300", "integer", unit="s", min_limit=1),
        Variable("OCPPCommCtrlr", "MessageTimeout", "30", "integer", "ReadOnly",
                 instance="Default", unit="s"),
        Variable("OCPPCommCtrlr", "OfflineThreshold", "60", "integer", unit="s", min_limit=0),
        Variable("OCPPCommCtrlr", "ResetRetries", "1", "integer", min_limit=0),
        Variable("SampledDataCtrlr", "Enabled", "true", "boolean"),
        Variable("SampledDataCtrlr", "TxUpdatedInterval", str(meter_interval), "integer",
                 unit="s", min_limit=0),
        Variable("SampledDataCtrlr", "TxStartedMeasurands", "Energy.Active.Import.Register",
                 "MemberList", values_list=MEASURANDS),
        Variable("SampledDataCtrlr", "TxUpdatedMeasurands", updated, "MemberList",
                 values_list=MEASURANDS),
        Variable("SampledDataCtrlr", "TxEndedMeasurands", ended, "MemberList",
                 values_list=MEASURANDS),
        Variable("AlignedDataCtrlr", "Interval", "0", "integer", unit="s", min_limit=0),
        Variable("AuthCtrlr", "Enabled", "true", "boolean"),
        Variable("AuthCtrlr", "AuthorizeRemoteStart", "false", "boolean"),
        Variable("AuthCtrlr", "LocalPreAuthorize", "false", "boolean"),
        Variable("LocalAuthListCtrlr", "Enabled", "true", "boolean"),
        Variable("TxCtrlr", "EVConnectionTimeOut", "60", "integer", unit="s", min_limit=0),
        Variable("TxCtrlr", "TxStartPoint", "EVConnected", "MemberList",
                 values_list="ParkingBayOccupancy,EVConnected,Authorized,PowerPathClosed,"
                             "EnergyTransfer,DataSigned"),
        Variable("TxCtrlr", "TxStopPoint", "EVConnected,Authorized", "MemberList",
                 values_list="ParkingBayOccupancy,EVConnected,Authorized,PowerPathClosed,"
                             "EnergyTransfer"),
        Variable("SecurityCtrlr", "Identity", station_id, "string", "ReadOnly"),
        Variable("SecurityCtrlr", "OrganizationName", "OpenV2X", "string"),
        Variable("SecurityCtrlr", "BasicAuthPassword", "", "string", "WriteOnly"),
        Variable("SmartChargingCtrlr", "Enabled", "true", "boolean"),
        Variable("SmartChargingCtrlr", "RateUnit", "A,W", "MemberList", "ReadOnly",
                 values_list="A,W"),
        Variable("ISO15118Ctrlr", "PnCEnabled", "true", "boolean"),
    ]
    for evse in evses:
        variables += [
            Variable("EVSE", "AvailabilityState", "Available", "OptionList", "ReadOnly",
                     evse=evse, values_list="Available,Occupied,Reserved,Unavailable,Faulted"),
            Variable("EVSE", "Power", f"{power_w:g}", "decimal", "ReadOnly", evse=evse,
                     unit="W"),
            Variable("EVSE", "SupplyPhases", str(phases), "integer", "ReadOnly", evse=evse),
        ]
        if v2x:
            variables.append(Variable(
                "V2XChargingCtrlr", "SupportedOperationModes",
                "ChargingOnly,CentralSetpoint,ExternalSetpoint,Idle", "MemberList", "ReadOnly",
                evse=evse, values_list="ChargingOnly,CentralSetpoint,ExternalSetpoint,Idle"))
    return DeviceModel(variables)
