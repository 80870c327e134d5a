"""Tables only OCPP 2.x stations fill: the device model, monitors, display messages, charging
limits set by others, installed certificates, customer-information reports and the raw order
of transaction events.

Everything version-neutral (stations, EVSEs, connectors, transactions, samples, charging
profiles, charging needs, vehicles) lives in the core model, so REST, billing, OCPI and the
portal treat 1.6 and 2.x stations alike.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db.models import Base
from core.db.types import utcnow


def _station_fk() -> Mapped[str]:
    return mapped_column(ForeignKey("charging_station.id", ondelete="CASCADE"))


class TransactionEvent(Base):
    """Each TransactionEvent as received, for ordering by seqNo and spotting repeats."""

    __tablename__ = "ocpp201_transaction_event"
    __table_args__ = (Index("ix_ocpp201_transaction_event_tx", "station_id", "transaction_uid",
                            "seq_no"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = _station_fk()
    transaction_uid: Mapped[str] = mapped_column(String(36))
    seq_no: Mapped[int] = mapped_column(Integer)
    event_type: Mapped[str] = mapped_column(String(16))
    trigger_reason: Mapped[str] = mapped_column(String(32))
    timestamp: Mapped[dt.datetime]
    offline: Mapped[bool] = mapped_column(Boolean, default=False)
    charging_state: Mapped[str | None] = mapped_column(String(32))
    stopped_reason: Mapped[str | None] = mapped_column(String(32))
    evse_number: Mapped[int | None] = mapped_column(Integer)
    connector_number: Mapped[int | None] = mapped_column(Integer)
    id_token: Mapped[str | None] = mapped_column(String(255))
    remote_start_id: Mapped[int | None] = mapped_column(Integer)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class VariableKey:
    """Which variable of which component (OCPP 2.x ComponentType + VariableType).

    Absent instance / EVSE / connector are stored as empty string / 0 so that a natural key
    over these columns is unique on every database.
    """

    component_name: Mapped[str] = mapped_column(String(50))
    component_instance: Mapped[str] = mapped_column(String(50), default="")
    evse_id: Mapped[int] = mapped_column(Integer, default=0)
    connector_id: Mapped[int] = mapped_column(Integer, default=0)
    variable_name: Mapped[str] = mapped_column(String(50))
    variable_instance: Mapped[str] = mapped_column(String(50), default="")


class DeviceVariable(VariableKey, Base):
    """One attribute of one variable of one component, as the station reported or we set it."""

    __tablename__ = "ocpp201_device_variable"
    __table_args__ = (Index("uq_ocpp201_device_variable_key", "station_id", "component_name",
                            "component_instance", "evse_id", "connector_id", "variable_name",
                            "variable_instance", "attribute_type", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = _station_fk()
    attribute_type: Mapped[str] = mapped_column(String(16), default="Actual")
    value: Mapped[str | None] = mapped_column(Text)
    mutability: Mapped[str | None] = mapped_column(String(16))
    persistent: Mapped[bool | None] = mapped_column(Boolean)
    constant: Mapped[bool | None] = mapped_column(Boolean)
    data_type: Mapped[str | None] = mapped_column(String(16))
    unit: Mapped[str | None] = mapped_column(String(16))
    min_limit: Mapped[Decimal | None]
    max_limit: Mapped[Decimal | None]
    values_list: Mapped[str | None] = mapped_column(Text)
    supports_monitoring: Mapped[bool | None] = mapped_column(Boolean)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class VariableMonitor(VariableKey, Base):
    """A monitor on a variable (SetVariableMonitoring / NotifyMonitoringReport)."""

    __tablename__ = "ocpp201_variable_monitor"
    __table_args__ = (Index("ix_ocpp201_variable_monitor_station", "station_id", "monitor_id",
                            unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = _station_fk()
    monitor_id: Mapped[int | None] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(32))
    value: Mapped[Decimal]
    severity: Mapped[int] = mapped_column(Integer)
    transaction: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DisplayMessage(Base):
    """A message shown on a station's display (SetDisplayMessage / NotifyDisplayMessages)."""

    __tablename__ = "ocpp201_display_message"
    __table_args__ = (Index("ix_ocpp201_display_message_station", "station_id", "message_id",
                            unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = _station_fk()
    message_id: Mapped[int] = mapped_column(Integer)
    priority: Mapped[str] = mapped_column(String(16))
    state: Mapped[str | None] = mapped_column(String(16))
    start_at: Mapped[dt.datetime | None]
    end_at: Mapped[dt.datetime | None]
    transaction_uid: Mapped[str | None] = mapped_column(String(36))
    message: Mapped[dict[str, Any]] = mapped_column(JSON)
    display: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ChargingLimit(Base):
    """A limit set by someone other than us (NotifyChargingLimit), until it is cleared."""

    __tablename__ = "ocpp201_charging_limit"
    __table_args__ = (Index("ix_ocpp201_charging_limit_station", "station_id", "evse_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = _station_fk()
    evse_number: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(20))
    grid_critical: Mapped[bool | None] = mapped_column(Boolean)
    schedules: Mapped[list[Any] | None] = mapped_column(JSON)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    cleared_at: Mapped[dt.datetime | None]


class InstalledCertificate(Base):
    """A certificate a station reported as installed (GetInstalledCertificateIds)."""

    __tablename__ = "ocpp201_installed_certificate"
    __table_args__ = (Index("ix_ocpp201_installed_certificate_station", "station_id",
                            "serial_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = _station_fk()
    certificate_type: Mapped[str] = mapped_column(String(40))
    hash_algorithm: Mapped[str] = mapped_column(String(8))
    issuer_name_hash: Mapped[str] = mapped_column(String(128))
    issuer_key_hash: Mapped[str] = mapped_column(String(128))
    serial_number: Mapped[str] = mapped_column(String(40))
    child_certificates: Mapped[list[Any] | None] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CustomerReport(Base):
    """One part of a customer-information report (NotifyCustomerInformation)."""

    __tablename__ = "ocpp201_customer_report"
    __table_args__ = (Index("ix_ocpp201_customer_report_request", "station_id", "request_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = _station_fk()
    request_id: Mapped[int] = mapped_column(Integer)
    seq_no: Mapped[int] = mapped_column(Integer)
    tbc: Mapped[bool] = mapped_column(Boolean, default=False)
    generated_at: Mapped[dt.datetime]
    data: Mapped[str] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
