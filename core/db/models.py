"""The version-neutral domain model (OCPI-aligned; the OCPP plugins map onto it).

Energy is kept in Wh and power in W; money as exact decimals; times as timezone-aware UTC.
Plugins declare their own tables on :class:`Base` and ship Alembic revisions for them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from core.db.types import ExactDecimal, UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_uuid() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        dt.datetime: UTCDateTime(),
        Decimal: ExactDecimal(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class Timestamped:
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_updated: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Location(Timestamped, Base):
    """Where stations are (OCPI Location; ``access`` is public / private / semi_public)."""

    __tablename__ = "location"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    country_code: Mapped[str | None] = mapped_column(String(2))
    party_id: Mapped[str | None] = mapped_column(String(3))
    name: Mapped[str | None] = mapped_column(String(255))
    address: Mapped[str | None] = mapped_column(String(45))
    city: Mapped[str | None] = mapped_column(String(45))
    postal_code: Mapped[str | None] = mapped_column(String(10))
    state: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(3))
    latitude: Mapped[str | None] = mapped_column(String(10))
    longitude: Mapped[str | None] = mapped_column(String(11))
    parking_type: Mapped[str | None] = mapped_column(String(32))
    access: Mapped[str] = mapped_column(String(16), default="public")
    publish: Mapped[bool] = mapped_column(Boolean, default=True)
    time_zone: Mapped[str | None] = mapped_column(String(255))
    opening_times: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    facilities: Mapped[list[Any] | None] = mapped_column(JSON)
    operator_name: Mapped[str | None] = mapped_column(String(255))

    stations: Mapped[list[ChargingStation]] = relationship(back_populates="location")


class ChargingStation(Timestamped, Base):
    """A charge point, keyed by the identity it uses in its OCPP URL."""

    __tablename__ = "charging_station"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    location_id: Mapped[str | None] = mapped_column(
        ForeignKey("location.id", ondelete="SET NULL"), index=True
    )
    ocpp_version: Mapped[str | None] = mapped_column(String(8))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    vendor: Mapped[str | None] = mapped_column(String(50))
    model: Mapped[str | None] = mapped_column(String(50))
    serial_number: Mapped[str | None] = mapped_column(String(50))
    charge_box_serial_number: Mapped[str | None] = mapped_column(String(50))
    firmware_version: Mapped[str | None] = mapped_column(String(50))
    iccid: Mapped[str | None] = mapped_column(String(20))
    imsi: Mapped[str | None] = mapped_column(String(20))
    meter_type: Mapped[str | None] = mapped_column(String(50))
    meter_serial_number: Mapped[str | None] = mapped_column(String(50))
    registration_status: Mapped[str] = mapped_column(String(16), default="Pending")
    connected: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen: Mapped[dt.datetime | None]
    last_boot: Mapped[dt.datetime | None]
    lenient: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text)
    firmware_status: Mapped[str | None] = mapped_column(String(32))
    firmware_status_at: Mapped[dt.datetime | None]
    diagnostics_status: Mapped[str | None] = mapped_column(String(32))
    diagnostics_status_at: Mapped[dt.datetime | None]
    log_status: Mapped[str | None] = mapped_column(String(32))
    log_status_at: Mapped[dt.datetime | None]
    local_list_version: Mapped[int | None] = mapped_column(Integer)
    local_list_sent_at: Mapped[dt.datetime | None]

    location: Mapped[Location | None] = relationship(back_populates="stations")
    evses: Mapped[list[Evse]] = relationship(
        back_populates="station", cascade="all, delete-orphan", passive_deletes=True
    )


class Evse(Base):
    """An EVSE (OCPP 2.0.1 evseId; in OCPP 1.6 each connector is its own EVSE)."""

    __tablename__ = "evse"
    __table_args__ = (UniqueConstraint("station_id", "evse_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(
        ForeignKey("charging_station.id", ondelete="CASCADE"), index=True
    )
    evse_number: Mapped[int] = mapped_column(Integer)
    uid: Mapped[str] = mapped_column(String(36), default=new_uuid, unique=True)
    evse_id: Mapped[str | None] = mapped_column(String(48))
    status: Mapped[str | None] = mapped_column(String(32))
    capabilities: Mapped[list[Any] | None] = mapped_column(JSON)
    physical_reference: Mapped[str | None] = mapped_column(String(16))
    floor_level: Mapped[str | None] = mapped_column(String(4))
    parking_restrictions: Mapped[list[Any] | None] = mapped_column(JSON)
    last_updated: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    station: Mapped[ChargingStation] = relationship(back_populates="evses")
    connectors: Mapped[list[Connector]] = relationship(
        back_populates="evse", cascade="all, delete-orphan", passive_deletes=True
    )


class Connector(Base):
    """A socket or cable (OCPI Connector fields; OCPP status kept live)."""

    __tablename__ = "connector"
    __table_args__ = (UniqueConstraint("evse_id", "connector_number"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    evse_id: Mapped[int] = mapped_column(ForeignKey("evse.id", ondelete="CASCADE"), index=True)
    station_id: Mapped[str] = mapped_column(
        ForeignKey("charging_station.id", ondelete="CASCADE"), index=True
    )
    connector_number: Mapped[int] = mapped_column(Integer)
    standard: Mapped[str | None] = mapped_column(String(32))
    format: Mapped[str | None] = mapped_column(String(8))
    power_type: Mapped[str | None] = mapped_column(String(16))
    max_voltage: Mapped[int | None] = mapped_column(Integer)
    max_amperage: Mapped[int | None] = mapped_column(Integer)
    max_electric_power: Mapped[int | None] = mapped_column(Integer)
    tariff_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str | None] = mapped_column(String(32))
    error_code: Mapped[str | None] = mapped_column(String(64))
    status_at: Mapped[dt.datetime | None]
    last_updated: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    evse: Mapped[Evse] = relationship(back_populates="connectors")


class User(Timestamped, Base):
    """A person who signs in. Personal fields are stored encrypted; email is found by its HMAC."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email_digest: Mapped[str] = mapped_column(String(64), unique=True)
    email_enc: Mapped[bytes] = mapped_column(LargeBinary)
    first_name_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    last_name_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32), index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    tariff_preference: Mapped[Decimal | None]
    socket_type: Mapped[str | None] = mapped_column(String(32))
    battery_capacity_wh: Mapped[int | None] = mapped_column(Integer)
    token_epoch: Mapped[int] = mapped_column(Integer, default=0)
    last_login: Mapped[dt.datetime | None]


class IdToken(Timestamped, Base):
    """An identifier a driver presents (RFID uid, app id, eMAID, …), OCPP IdTag / IdToken."""

    __tablename__ = "id_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id_token: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(20), default="ISO14443")
    status: Mapped[str] = mapped_column(String(16), default="Accepted")
    expiry_date: Mapped[dt.datetime | None]
    group_id_token: Mapped[str | None] = mapped_column(String(255), index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    visual_number: Mapped[str | None] = mapped_column(String(64))
    issuer: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(8))
    country_code: Mapped[str | None] = mapped_column(String(2))
    party_id: Mapped[str | None] = mapped_column(String(3))
    # OCPP 2.x IdTokenInfo options (seed 001 Table 2)
    charging_priority: Mapped[int | None] = mapped_column(Integer)
    personal_message: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    cache_expiry_date: Mapped[dt.datetime | None]


class Vehicle(Timestamped, Base):
    """An EV known by the identifier it presents over ISO 15118 (EVCCID) or its MAC address.

    Linking it to a driver (and a token) lets a plug-in with no card be attributed and billed.
    """

    __tablename__ = "vehicle"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    identifier: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="EVCCID")  # EVCCID or MacAddress
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    id_token: Mapped[str | None] = mapped_column(String(255))
    label: Mapped[str | None] = mapped_column(String(64))
    battery_capacity_wh: Mapped[int | None] = mapped_column(Integer)
    last_seen: Mapped[dt.datetime | None]


class ChargingNeed(Base):
    """What an EV asked for (OCPP 2.x NotifyEVChargingNeeds, a driver's target, …).

    Version-neutral input of smart charging: energy in Wh, power in W, current in A.
    """

    __tablename__ = "charging_need"
    __table_args__ = (Index("ix_charging_need_station_evse", "station_id", "evse_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(
        ForeignKey("charging_station.id", ondelete="CASCADE")
    )
    evse_number: Mapped[int | None] = mapped_column(Integer)
    transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("transaction.id", ondelete="SET NULL"), index=True
    )
    source: Mapped[str] = mapped_column(String(32), default="ev")  # ev, driver, ocpi
    energy_transfer: Mapped[str | None] = mapped_column(String(32))
    departure_time: Mapped[dt.datetime | None]
    energy_amount_wh: Mapped[int | None] = mapped_column(Integer)
    min_current_a: Mapped[Decimal | None]
    max_current_a: Mapped[Decimal | None]
    max_voltage_v: Mapped[Decimal | None]
    max_power_w: Mapped[Decimal | None]
    max_discharge_power_w: Mapped[Decimal | None]
    soc: Mapped[int | None] = mapped_column(Integer)
    target_soc: Mapped[int | None] = mapped_column(Integer)
    battery_capacity_wh: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Reservation(Base):
    """A reservation of a connector/EVSE (seed 004 adds the driver's target SoC and departure)."""

    __tablename__ = "reservation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(
        ForeignKey("charging_station.id", ondelete="CASCADE"), index=True
    )
    evse_number: Mapped[int | None] = mapped_column(Integer)
    connector_number: Mapped[int | None] = mapped_column(Integer)
    id_token: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    expiry_date: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(16), default="Requested")
    target_soc: Mapped[int | None] = mapped_column(Integer)
    departure_time: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Transaction(Base):
    """A charging session. ``id`` is the OCPP 1.6 integer id; ``transaction_uid`` the 2.0.1 id."""

    __tablename__ = "transaction"
    __table_args__ = (
        UniqueConstraint("station_id", "transaction_uid"),
        Index("ix_transaction_active", "station_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transaction_uid: Mapped[str] = mapped_column(String(36), default=new_uuid)
    station_id: Mapped[str] = mapped_column(
        ForeignKey("charging_station.id", ondelete="CASCADE")
    )
    evse_number: Mapped[int | None] = mapped_column(Integer)
    connector_number: Mapped[int | None] = mapped_column(Integer)
    id_token: Mapped[str | None] = mapped_column(String(255), index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    reservation_id: Mapped[int | None] = mapped_column(
        ForeignKey("reservation.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(16), default="Active")
    started_at: Mapped[dt.datetime]
    stopped_at: Mapped[dt.datetime | None]
    meter_start_wh: Mapped[int | None] = mapped_column(Integer)
    meter_stop_wh: Mapped[int | None] = mapped_column(Integer)
    energy_wh: Mapped[int | None] = mapped_column(Integer)
    stop_reason: Mapped[str | None] = mapped_column(String(32))
    soc_start: Mapped[int | None] = mapped_column(Integer)
    soc_last: Mapped[int | None] = mapped_column(Integer)
    cost: Mapped[Decimal | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    remote_start_id: Mapped[int | None] = mapped_column(Integer)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_reason: Mapped[str | None] = mapped_column(String(255))
    # station (it sent the stop), csms (closed as a ghost) or operator (force-stopped)
    closed_by: Mapped[str | None] = mapped_column(String(16))
    last_updated: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MeterValue(Base):
    """One sampled value exactly as the station reported it (value in the reported unit).

    Signed readings keep the station's signature in ``signed_data`` and have no plain ``value``.
    """

    __tablename__ = "meter_value"
    __table_args__ = (Index("ix_meter_value_tx_time", "transaction_id", "timestamp"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("transaction.id", ondelete="CASCADE")
    )
    station_id: Mapped[str] = mapped_column(
        ForeignKey("charging_station.id", ondelete="CASCADE"), index=True
    )
    evse_number: Mapped[int | None] = mapped_column(Integer)
    connector_number: Mapped[int | None] = mapped_column(Integer)
    timestamp: Mapped[dt.datetime]
    measurand: Mapped[str] = mapped_column(String(64), default="Energy.Active.Import.Register")
    phase: Mapped[str | None] = mapped_column(String(8))
    unit: Mapped[str | None] = mapped_column(String(16))
    context: Mapped[str | None] = mapped_column(String(32))
    location: Mapped[str | None] = mapped_column(String(8))
    value: Mapped[Decimal | None]
    signed_data: Mapped[str | None] = mapped_column(Text)


class ChargingProfile(Base):
    """A charging profile, where it was sent and what the station answered."""

    __tablename__ = "charging_profile"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str | None] = mapped_column(
        ForeignKey("charging_station.id", ondelete="CASCADE"), index=True
    )
    evse_number: Mapped[int | None] = mapped_column(Integer)
    transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("transaction.id", ondelete="SET NULL")
    )
    ocpp_profile_id: Mapped[int | None] = mapped_column(Integer)
    stack_level: Mapped[int] = mapped_column(Integer, default=0)
    # OCPP 2.x purposes reach 34 characters (ChargingStationExternalConstraints)
    purpose: Mapped[str] = mapped_column(String(40), default="TxDefaultProfile")
    kind: Mapped[str] = mapped_column(String(16), default="Absolute")
    recurrency_kind: Mapped[str | None] = mapped_column(String(16))
    valid_from: Mapped[dt.datetime | None]
    valid_to: Mapped[dt.datetime | None]
    schedule: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(32), default="operator")
    status: Mapped[str | None] = mapped_column(String(32))
    sent_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class StatusNotification(Base):
    """History of every status a station reported for itself (connector 0) or a connector."""

    __tablename__ = "status_notification"
    __table_args__ = (Index("ix_status_notification_station_time", "station_id", "timestamp"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(
        ForeignKey("charging_station.id", ondelete="CASCADE")
    )
    evse_number: Mapped[int | None] = mapped_column(Integer)
    connector_number: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(32))
    error_code: Mapped[str | None] = mapped_column(String(64))
    info: Mapped[str | None] = mapped_column(String(255))
    vendor_id: Mapped[str | None] = mapped_column(String(255))
    vendor_error_code: Mapped[str | None] = mapped_column(String(64))
    timestamp: Mapped[dt.datetime]
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class StationSetting(Base):
    """A station's configuration key as last read or set (OCPP 1.6 GetConfiguration etc.)."""

    __tablename__ = "station_setting"
    __table_args__ = (UniqueConstraint("station_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(
        ForeignKey("charging_station.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(128))
    value: Mapped[str | None] = mapped_column(Text)
    readonly: Mapped[bool | None] = mapped_column(Boolean)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SecurityEvent(Base):
    """The security log a station reports (SecurityEventNotification)."""

    __tablename__ = "security_event"
    __table_args__ = (Index("ix_security_event_station_time", "station_id", "timestamp"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(
        ForeignKey("charging_station.id", ondelete="CASCADE")
    )
    type: Mapped[str] = mapped_column(String(50))
    timestamp: Mapped[dt.datetime]
    tech_info: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ProtocolDeviation(Base):
    """A message a lenient station sent against the schema, and how it was repaired to be used.

    Kept so that accepting a non-compliant charger stays visible: which messages, how often, and
    the evidence to send its vendor.
    """

    __tablename__ = "protocol_deviation"
    __table_args__ = (Index("ix_protocol_deviation_station_time", "station_id", "received_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(
        ForeignKey("charging_station.id", ondelete="CASCADE")
    )
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(String(64))
    unique_id: Mapped[str] = mapped_column(String(36))
    error: Mapped[str] = mapped_column(Text)
    fixes: Mapped[list[Any]] = mapped_column(JSON, default=list)


class Task(Base):
    """An asynchronous command sent to a station and its outcome."""

    __tablename__ = "task"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    station_id: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]


class JournalEntry(Base):
    """A committed domain event that a durable subscriber has not handled yet.

    Written in the same transaction as the change that emitted the event and removed once the
    subscriber handled it, so a crash between the commit and the delivery loses nothing: the
    next process hands the entry over again (:mod:`core.journal`).
    """

    __tablename__ = "event_journal"
    __table_args__ = (Index("ix_event_journal_subscriber_event", "subscriber", "event_id"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscriber: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(64))
    data: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[dt.datetime]


class OcpiPartner(Timestamped, Base):
    """A platform we exchange OCPI credentials with, for one of our OCPI platforms (``platform``:
    ``cpo`` or ``scsp``).

    Tokens: ``token_digest`` recognises the token the partner calls us with (token C we issued,
    or token B while we register with it); ``next_token_digest`` is the new one while a
    credentials update is in flight. ``token_out`` (encrypted) is what we call it with.
    ``roles`` are its OCPI CredentialsRole objects; ``endpoints`` its version details.
    """

    __tablename__ = "ocpi_partner"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(16), default="registering", index=True)
    versions_url: Mapped[str] = mapped_column(String(255))
    version: Mapped[str | None] = mapped_column(String(16))
    version_url: Mapped[str | None] = mapped_column(String(255))
    endpoints: Mapped[list[Any]] = mapped_column(JSON, default=list)
    roles: Mapped[list[Any]] = mapped_column(JSON, default=list)
    token_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    next_token_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_out: Mapped[bytes | None] = mapped_column(LargeBinary)
    raw_tokens: Mapped[bool] = mapped_column(Boolean, default=False)
    # Accept its requests without X-Request-ID / X-Correlation-ID (answered with new ids).
    allow_missing_ids: Mapped[bool] = mapped_column(Boolean, default=False)
    outbox_owner: Mapped[str | None] = mapped_column(String(64))
    outbox_lease_until: Mapped[dt.datetime | None]


class OcpiTokenA(Base):
    """A token A an operator issued for a partner's registration; valid until it is used."""

    __tablename__ = "ocpi_token_a"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(String(16))
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    # The partner registering with it may omit the request ids (and keeps that once registered).
    allow_missing_ids: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    used_at: Mapped[dt.datetime | None]
    partner_id: Mapped[int | None] = mapped_column(
        ForeignKey("ocpi_partner.id", ondelete="SET NULL"))


class OcpiOutbox(Base):
    """A push to a partner, kept until the partner accepted it (or refused it for good).

    Delivered in ``id`` order per partner, so the changes of one object arrive in the order
    they were made; ``url`` is resolved from the partner's endpoints when it is sent, so a
    partner that re-registered with new URLs still gets it.
    """

    __tablename__ = "ocpi_outbox"
    __table_args__ = (Index("ix_ocpi_outbox_partner_state", "partner_id", "state", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("ocpi_partner.id", ondelete="CASCADE"))
    module: Mapped[str] = mapped_column(String(64))
    interface_role: Mapped[str] = mapped_column(String(16), default="RECEIVER")
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(512), default="")
    body: Mapped[Any] = mapped_column(JSON, nullable=True)
    to_country_code: Mapped[str | None] = mapped_column(String(2))
    to_party_id: Mapped[str | None] = mapped_column(String(3))
    from_country_code: Mapped[str | None] = mapped_column(String(2))
    from_party_id: Mapped[str | None] = mapped_column(String(3))
    object_key: Mapped[str] = mapped_column(String(255), default="")
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    done_at: Mapped[dt.datetime | None]


class OcpiClientInfo(Base):
    """A hub's ClientInfo about one party behind it (the hub owns the object), on whichever of
    our OCPI platforms the hub is registered: ``partner_id`` says both."""

    __tablename__ = "ocpi_client_info"
    __table_args__ = (
        UniqueConstraint("partner_id", "country_code", "party_id",
                         name="uq_ocpi_client_info_hub_party"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("ocpi_partner.id", ondelete="CASCADE"))
    country_code: Mapped[str] = mapped_column(String(2))
    party_id: Mapped[str] = mapped_column(String(3))
    role: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    last_updated: Mapped[dt.datetime]
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
