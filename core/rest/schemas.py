"""Marshmallow schemas of the core REST resources (field names are the API's, snake_case)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from core.rbac import ROLES

# OCPI 2.2.1 enumerations used by locations and connectors.
PARKING_TYPES = (
    "ALONG_MOTORWAY", "PARKING_GARAGE", "PARKING_LOT", "ON_DRIVEWAY", "ON_STREET",
    "UNDERGROUND_GARAGE",
)
ACCESS = ("public", "private", "semi_public")
CONNECTOR_STANDARDS = (
    "CHADEMO", "CHAOJI", "DOMESTIC_A", "DOMESTIC_B", "DOMESTIC_C", "DOMESTIC_D", "DOMESTIC_E",
    "DOMESTIC_F", "DOMESTIC_G", "DOMESTIC_H", "DOMESTIC_I", "DOMESTIC_J", "DOMESTIC_K",
    "DOMESTIC_L", "DOMESTIC_M", "DOMESTIC_N", "DOMESTIC_O", "GBT_AC", "GBT_DC",
    "IEC_60309_2_single_16", "IEC_60309_2_three_16", "IEC_60309_2_three_32",
    "IEC_60309_2_three_64", "IEC_62196_T1", "IEC_62196_T1_COMBO", "IEC_62196_T2",
    "IEC_62196_T2_COMBO", "IEC_62196_T3A", "IEC_62196_T3C", "NEMA_5_20", "NEMA_6_30",
    "NEMA_6_50", "NEMA_10_30", "NEMA_10_50", "NEMA_14_30", "NEMA_14_50", "PANTOGRAPH_BOTTOM_UP",
    "PANTOGRAPH_TOP_DOWN", "TESLA_R", "TESLA_S",
)
CONNECTOR_FORMATS = ("SOCKET", "CABLE")
CAPABILITIES = (
    "CHARGING_PROFILE_CAPABLE", "CHARGING_PREFERENCES_CAPABLE", "CHIP_CARD_SUPPORT",
    "CONTACTLESS_CARD_SUPPORT", "CREDIT_CARD_PAYABLE", "DEBIT_CARD_PAYABLE", "PED_TERMINAL",
    "REMOTE_START_STOP_CAPABLE", "RESERVABLE", "RFID_READER", "START_SESSION_CONNECTOR_REQUIRED",
    "TOKEN_GROUP_CAPABLE", "UNLOCK_CAPABLE",
)
PARKING_RESTRICTIONS = ("EV_ONLY", "PLUGGED", "DISABLED", "CUSTOMERS", "MOTORCYCLES")
# OCPI EVSE id (ISO 15118-2 / eMI3): country, operator, "E", the EVSE's own part.
EVSE_ID = validate.Regexp(r"^[A-Za-z]{2}\*?[A-Za-z0-9]{3}\*?E[A-Za-z0-9*]{1,30}$",
                          error="an eMI3 EVSE id such as NL*OVX*E12345*1")
POWER_TYPES = ("AC_1_PHASE", "AC_2_PHASE", "AC_2_PHASE_SPLIT", "AC_3_PHASE", "DC")
OCPP_VERSIONS = ("1.6", "2.0.1", "2.1")
ID_TOKEN_TYPES = (
    "Central", "eMAID", "ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress",
    "NoAuthorization",
)
ID_TOKEN_STATUSES = ("Accepted", "Blocked", "Expired", "Invalid", "NoCredit")
REGISTRATION_STATUSES = ("Accepted", "Pending", "Rejected")
STATION_ID = validate.Regexp(
    r"^[A-Za-z0-9*\-_=:+|@.]{1,64}$",
    error="1-64 characters of letters, digits and *-_=:+|@.",
)


def one_of(values: tuple[str, ...]) -> validate.OneOf:
    return validate.OneOf(values)


class LocationSchema(Schema):
    id = fields.String(dump_only=True)
    country_code = fields.String(
        allow_none=True, validate=validate.Regexp(r"^[A-Z]{2}$", error="two capital letters")
    )
    party_id = fields.String(
        allow_none=True, validate=validate.Regexp(r"^[A-Z0-9]{3}$", error="three characters")
    )
    name = fields.String(allow_none=True, validate=validate.Length(max=255))
    address = fields.String(allow_none=True, validate=validate.Length(max=45))
    city = fields.String(allow_none=True, validate=validate.Length(max=45))
    postal_code = fields.String(allow_none=True, validate=validate.Length(max=10))
    state = fields.String(allow_none=True, validate=validate.Length(max=20))
    country = fields.String(
        allow_none=True, validate=validate.Regexp(r"^[A-Z]{3}$", error="ISO 3166 alpha-3 code")
    )
    latitude = fields.String(
        allow_none=True,
        validate=validate.Regexp(r"^-?[0-9]{1,2}\.[0-9]{5,7}$", error="like 52.37452 (OCPI)"),
    )
    longitude = fields.String(
        allow_none=True,
        validate=validate.Regexp(r"^-?[0-9]{1,3}\.[0-9]{5,7}$", error="like 4.89231 (OCPI)"),
    )
    parking_type = fields.String(allow_none=True, validate=one_of(PARKING_TYPES))
    access = fields.String(load_default="public", validate=one_of(ACCESS))
    publish = fields.Boolean(load_default=True)
    time_zone = fields.String(allow_none=True, validate=validate.Length(max=255))
    opening_times = fields.Dict(allow_none=True)
    facilities = fields.List(fields.String(validate=validate.Length(max=64)), allow_none=True)
    operator_name = fields.String(allow_none=True, validate=validate.Length(max=255))
    created_at = fields.AwareDateTime(dump_only=True)
    last_updated = fields.AwareDateTime(dump_only=True)

    @validates_schema
    def _both_coordinates(self, data: dict[str, object], **_: object) -> None:
        if ("latitude" in data) != ("longitude" in data):
            raise ValidationError("give latitude and longitude together", "latitude")


class ChargePointSchema(Schema):
    id = fields.String(required=True, validate=STATION_ID)
    location_id = fields.String(allow_none=True)
    ocpp_version = fields.String(allow_none=True, validate=one_of(OCPP_VERSIONS))
    password = fields.String(
        load_only=True,
        allow_none=True,
        validate=validate.Length(min=16, max=40),
        metadata={"description": "HTTP Basic password (Security Profile 1/2); stored hashed."},
    )
    has_password = fields.Method("_has_password", dump_only=True)
    description = fields.String(allow_none=True)
    # No load default: a PUT that does not mention it must not switch a station back to strict.
    lenient = fields.Boolean(metadata={
        "description": "Accept known schema deviations of this station, repaired and logged at "
                       "/api/protocoldeviation/, instead of answering them with a CALLERROR."})
    registration_status = fields.String(validate=one_of(REGISTRATION_STATUSES))
    vendor = fields.String(dump_only=True)
    model = fields.String(dump_only=True)
    serial_number = fields.String(dump_only=True)
    charge_box_serial_number = fields.String(dump_only=True)
    firmware_version = fields.String(dump_only=True)
    iccid = fields.String(dump_only=True)
    imsi = fields.String(dump_only=True)
    meter_type = fields.String(dump_only=True)
    meter_serial_number = fields.String(dump_only=True)
    connected = fields.Boolean(dump_only=True)
    last_seen = fields.AwareDateTime(dump_only=True)
    last_boot = fields.AwareDateTime(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    last_updated = fields.AwareDateTime(dump_only=True)

    def _has_password(self, obj: object) -> bool:
        return getattr(obj, "password_hash", None) is not None


class ConnectorSchema(Schema):
    id = fields.String(dump_only=True)
    station_id = fields.String(dump_only=True)
    evse_id = fields.Integer(dump_only=True)
    connector_number = fields.Integer(dump_only=True)
    standard = fields.String(allow_none=True, validate=one_of(CONNECTOR_STANDARDS))
    format = fields.String(allow_none=True, validate=one_of(CONNECTOR_FORMATS))
    power_type = fields.String(allow_none=True, validate=one_of(POWER_TYPES))
    max_voltage = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=2000))
    max_amperage = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=2000))
    max_electric_power = fields.Integer(
        allow_none=True, validate=validate.Range(min=0, max=2_000_000),
        metadata={"description": "W"},
    )
    tariff_ids = fields.List(
        fields.String(validate=validate.Length(min=1, max=36)), validate=validate.Length(max=16)
    )
    status = fields.String(dump_only=True)
    error_code = fields.String(dump_only=True)
    status_at = fields.AwareDateTime(dump_only=True)
    last_updated = fields.AwareDateTime(dump_only=True)


class EvseSchema(Schema):
    id = fields.Integer(dump_only=True)
    station_id = fields.String(dump_only=True)
    evse_number = fields.Integer(dump_only=True)
    uid = fields.String(dump_only=True, metadata={"description": "OCPI EVSE uid"})
    evse_id = fields.String(allow_none=True, validate=[validate.Length(max=48), EVSE_ID])
    status = fields.String(dump_only=True)
    capabilities = fields.List(fields.String(validate=one_of(CAPABILITIES)), allow_none=True,
                               validate=validate.Length(max=len(CAPABILITIES)))
    physical_reference = fields.String(allow_none=True, validate=validate.Length(max=16))
    floor_level = fields.String(allow_none=True, validate=validate.Length(max=4))
    parking_restrictions = fields.List(fields.String(validate=one_of(PARKING_RESTRICTIONS)),
                                       allow_none=True,
                                       validate=validate.Length(max=len(PARKING_RESTRICTIONS)))
    last_updated = fields.AwareDateTime(dump_only=True)


class IdTagSchema(Schema):
    id_token = fields.String(required=True, validate=validate.Length(min=1, max=255))
    type = fields.String(load_default="ISO14443", validate=one_of(ID_TOKEN_TYPES))
    status = fields.String(load_default="Accepted", validate=one_of(ID_TOKEN_STATUSES))
    expiry_date = fields.AwareDateTime(allow_none=True)
    group_id_token = fields.String(allow_none=True, validate=validate.Length(max=255))
    user_id = fields.Integer(allow_none=True, strict=True)
    visual_number = fields.String(allow_none=True, validate=validate.Length(max=64))
    issuer = fields.String(allow_none=True, validate=validate.Length(max=64))
    language = fields.String(allow_none=True, validate=validate.Length(max=8))
    charging_priority = fields.Integer(
        allow_none=True, strict=True, validate=validate.Range(min=-9, max=9),
        metadata={"description": "OCPP 2.x: -9 (lowest) to 9 (highest); 0 is normal."})
    personal_message = fields.Nested(
        "PersonalMessageSchema", allow_none=True,
        metadata={"description": "OCPP 2.x: shown on the station when the token is used."})
    cache_expiry_date = fields.AwareDateTime(
        allow_none=True,
        metadata={"description": "OCPP 2.x: until when stations may keep it in their cache."})
    created_at = fields.AwareDateTime(dump_only=True)
    last_updated = fields.AwareDateTime(dump_only=True)


class PersonalMessageSchema(Schema):
    format = fields.String(required=True, validate=one_of(("ASCII", "HTML", "URI", "UTF8")))
    language = fields.String(allow_none=True, validate=validate.Length(max=8))
    content = fields.String(required=True, validate=validate.Length(min=1, max=512))


class ProfileSchema(Schema):
    """What a user tells about themselves (seed 000 §5.1-5.2), shared by sign-up and updates."""

    first_name = fields.String(allow_none=True, validate=validate.Length(max=100))
    last_name = fields.String(allow_none=True, validate=validate.Length(max=100))
    tariff_preference = fields.Decimal(
        allow_none=True, places=4, validate=validate.Range(min=0),
        metadata={"description": "Highest acceptable price per kWh."},
    )
    socket_type = fields.String(allow_none=True, validate=one_of(CONNECTOR_STANDARDS))
    battery_capacity_wh = fields.Integer(
        allow_none=True, strict=True, validate=validate.Range(min=1000, max=2_000_000)
    )


class UserSchema(ProfileSchema):
    id = fields.Integer(dump_only=True)
    username = fields.String(dump_only=True)
    email = fields.Email(dump_only=True)
    password = fields.String(load_only=True, validate=validate.Length(min=8, max=1024))
    role = fields.String(validate=one_of(ROLES))
    is_active = fields.Boolean()
    created_at = fields.AwareDateTime(dump_only=True)
    last_login = fields.AwareDateTime(dump_only=True)
    last_updated = fields.AwareDateTime(dump_only=True)


class SignUpSchema(ProfileSchema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=8, max=1024)
    )
    username = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_.-]{3,64}$"))


class TaskSchema(Schema):
    id = fields.String(dump_only=True)
    station_id = fields.String(dump_only=True)
    action = fields.String(dump_only=True)
    payload = fields.Dict(dump_only=True)
    status = fields.String(dump_only=True)
    result = fields.Dict(dump_only=True, allow_none=True)
    error = fields.String(dump_only=True, allow_none=True)
    user_id = fields.Integer(dump_only=True, allow_none=True)
    created_at = fields.AwareDateTime(dump_only=True)
    started_at = fields.AwareDateTime(dump_only=True)
    finished_at = fields.AwareDateTime(dump_only=True)


class LoginSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=254),
                             metadata={"description": "Email address or username."})
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=1024))


class RefreshSchema(Schema):
    refresh = fields.String(required=True, validate=validate.Length(max=4096))


class VerifySchema(Schema):
    token = fields.String(required=True, validate=validate.Length(max=4096))


class TokenPairSchema(Schema):
    access = fields.String()
    refresh = fields.String()


class TransactionSchema(Schema):
    id = fields.Integer(dump_only=True)
    transaction_uid = fields.String(dump_only=True)
    station_id = fields.String(dump_only=True)
    evse_number = fields.Integer(dump_only=True)
    connector_number = fields.Integer(dump_only=True)
    id_token = fields.String(dump_only=True)
    user_id = fields.Integer(dump_only=True)
    reservation_id = fields.Integer(dump_only=True)
    status = fields.String(dump_only=True)
    started_at = fields.AwareDateTime(dump_only=True)
    stopped_at = fields.AwareDateTime(dump_only=True)
    meter_start_wh = fields.Integer(dump_only=True)
    meter_stop_wh = fields.Integer(dump_only=True)
    energy_wh = fields.Integer(dump_only=True)
    stop_reason = fields.String(dump_only=True)
    soc_start = fields.Integer(dump_only=True)
    soc_last = fields.Integer(dump_only=True)
    cost = fields.Decimal(dump_only=True, allow_none=True)
    currency = fields.String(dump_only=True)
    remote_start_id = fields.Integer(dump_only=True)
    flagged = fields.Boolean(dump_only=True)
    flag_reason = fields.String(dump_only=True)
    closed_by = fields.String(dump_only=True, metadata={
        "description": "station (it sent the stop), csms (closed as a ghost) or operator "
                       "(force-stopped)"})
    last_updated = fields.AwareDateTime(dump_only=True)


class SampledValueSchema(Schema):
    id = fields.Integer(dump_only=True)
    transaction_id = fields.Integer(dump_only=True)
    station_id = fields.String(dump_only=True)
    evse_number = fields.Integer(dump_only=True)
    connector_number = fields.Integer(dump_only=True)
    timestamp = fields.AwareDateTime(dump_only=True)
    measurand = fields.String(dump_only=True)
    phase = fields.String(dump_only=True)
    unit = fields.String(dump_only=True)
    context = fields.String(dump_only=True)
    location = fields.String(dump_only=True)
    value = fields.Decimal(dump_only=True, allow_none=True)
    signed_data = fields.String(dump_only=True)


class StatusNotificationSchema(Schema):
    id = fields.Integer(dump_only=True)
    station_id = fields.String(dump_only=True)
    evse_number = fields.Integer(dump_only=True)
    connector_number = fields.Integer(dump_only=True)
    status = fields.String(dump_only=True)
    error_code = fields.String(dump_only=True)
    info = fields.String(dump_only=True)
    vendor_id = fields.String(dump_only=True)
    vendor_error_code = fields.String(dump_only=True)
    timestamp = fields.AwareDateTime(dump_only=True)
    received_at = fields.AwareDateTime(dump_only=True)


class ProtocolDeviationSchema(Schema):
    id = fields.Integer(dump_only=True)
    station_id = fields.String(dump_only=True)
    received_at = fields.AwareDateTime(dump_only=True)
    action = fields.String(dump_only=True)
    unique_id = fields.String(dump_only=True, metadata={"description": "OCPP message id."})
    error = fields.String(dump_only=True, metadata={
        "description": "Why the message as sent failed schema validation."})
    fixes = fields.List(fields.String(), dump_only=True, metadata={
        "description": "The repairs that made it valid, one line each."})


class ReservationSchema(Schema):
    id = fields.Integer(dump_only=True)
    station_id = fields.String(dump_only=True)
    evse_number = fields.Integer(dump_only=True)
    connector_number = fields.Integer(dump_only=True)
    id_token = fields.String(dump_only=True)
    user_id = fields.Integer(dump_only=True)
    expiry_date = fields.AwareDateTime(dump_only=True)
    status = fields.String(dump_only=True)
    target_soc = fields.Integer(dump_only=True)
    departure_time = fields.AwareDateTime(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)


class SchedulePeriodSchema(Schema):
    start_period = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    limit = fields.Decimal(required=True, places=1, validate=validate.Range(min=0),
                           metadata={"description": "A or W, per charging_rate_unit"})
    number_phases = fields.Integer(strict=True, validate=validate.Range(min=1, max=3))


def _check_ascending(periods: list[dict[str, Any]]) -> None:
    starts = [p["start_period"] for p in periods]
    if starts and (starts[0] != 0 or starts != sorted(set(starts))):
        raise ValidationError("periods must start at 0 and ascend", "charging_schedule_period")


class ScheduleSchema(Schema):
    """An OCPP 1.6 ChargingSchedule; OCPP 2.x stations get it as a one-schedule profile."""

    charging_rate_unit = fields.String(required=True, validate=one_of(("A", "W")))
    charging_schedule_period = fields.List(fields.Nested(SchedulePeriodSchema), required=True,
                                           validate=validate.Length(min=1, max=96))
    duration = fields.Integer(strict=True, validate=validate.Range(min=1))
    start_schedule = fields.AwareDateTime()
    min_charging_rate = fields.Decimal(places=1, validate=validate.Range(min=0))

    @validates_schema
    def _periods_ascend(self, data: dict[str, Any], **_: object) -> None:
        _check_ascending(data.get("charging_schedule_period", []))


OPERATION_MODES = ("Idle", "ChargingOnly", "CentralSetpoint", "ExternalSetpoint",
                   "ExternalLimits", "CentralFrequency", "LocalFrequency", "LocalLoadBalancing")


class FreqWattPointSchema(Schema):
    frequency = fields.Decimal(required=True, validate=validate.Range(min=0),
                               metadata={"description": "grid frequency in Hz"})
    power = fields.Decimal(required=True, metadata={"description": "W; negative discharges"})


class SignalWattPointSchema(Schema):
    signal = fields.Integer(required=True, strict=True,
                            metadata={"description": "an AFRRSignal value"})
    power = fields.Decimal(required=True, metadata={"description": "W; negative discharges"})


class SchedulePeriod2xSchema(Schema):
    """An OCPP 2.0.1 / 2.1 period. The V2X fields (2.1) are in the schedule's rate unit,
    negative for discharging; ``limit`` may be left out when an operation mode other than
    ChargingOnly sets the power."""

    start_period = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    limit = fields.Decimal(validate=validate.Range(min=0))
    number_phases = fields.Integer(strict=True, validate=validate.Range(min=1, max=3))
    phase_to_use = fields.Integer(strict=True, validate=validate.Range(min=1, max=3))
    operation_mode = fields.String(validate=one_of(OPERATION_MODES))
    setpoint = fields.Decimal()
    setpoint_reactive = fields.Decimal()
    discharge_limit = fields.Decimal(validate=validate.Range(max=0))
    v2x_baseline = fields.Decimal(metadata={"description": "W"})
    v2x_freq_watt_curve = fields.List(fields.Nested(FreqWattPointSchema),
                                      validate=validate.Length(min=1, max=20))
    v2x_signal_watt_curve = fields.List(fields.Nested(SignalWattPointSchema),
                                        validate=validate.Length(min=1, max=20))
    preconditioning_request = fields.Boolean()
    evse_sleep = fields.Boolean()
    # Per-phase values (limit_L2, setpoint_L3, …) are not taken: the ocpp package renames
    # them on the way out (limitL2), so no station could be sent them.

    @validates_schema
    def _limit_when_needed(self, data: dict[str, Any], **_: object) -> None:
        if data.get("operation_mode", "ChargingOnly") == "ChargingOnly" and "limit" not in data:
            raise ValidationError("required unless an operation mode sets the power", "limit")


class Schedule2xSchema(Schema):
    """An OCPP 2.x ChargingSchedule (``id`` is unique within its profile)."""

    id = fields.Integer(required=True, strict=True)
    charging_rate_unit = fields.String(required=True, validate=one_of(("A", "W")))
    charging_schedule_period = fields.List(fields.Nested(SchedulePeriod2xSchema), required=True,
                                           validate=validate.Length(min=1, max=1024))
    duration = fields.Integer(strict=True, validate=validate.Range(min=1))
    start_schedule = fields.AwareDateTime()
    min_charging_rate = fields.Decimal(validate=validate.Range(min=0))
    power_tolerance = fields.Decimal()
    randomized_delay = fields.Integer(strict=True, validate=validate.Range(min=0))
    use_local_time = fields.Boolean()
    signature_id = fields.Integer(strict=True, validate=validate.Range(min=0))
    digest_value = fields.String(validate=validate.Length(max=88))
    sales_tariff = fields.Dict(metadata={"description": "OCPP SalesTariffType, snake_case"})
    price_level_schedule = fields.Dict(
        metadata={"description": "OCPP 2.1 PriceLevelScheduleType, snake_case"})
    # limit_at_soc and absolute_price_schedule are not taken: the ocpp package misnames their
    # soc and priceScheduleID on the way out.

    @validates_schema
    def _periods_ascend(self, data: dict[str, Any], **_: object) -> None:
        _check_ascending(data.get("charging_schedule_period", []))


class ProfileSchedules2xSchema(Schema):
    """The schedules of an OCPP 2.x profile (one to three) and its other 2.x fields."""

    charging_schedules = fields.List(fields.Nested(Schedule2xSchema), required=True,
                                     validate=validate.Length(min=1, max=3))
    max_offline_duration = fields.Integer(strict=True)
    invalid_after_offline_duration = fields.Boolean()
    dyn_update_interval = fields.Integer(strict=True, validate=validate.Range(min=0))
    dyn_update_time = fields.AwareDateTime()
    price_schedule_signature = fields.String(validate=validate.Length(max=256))

    @validates_schema
    def _unique_ids(self, data: dict[str, Any], **_: object) -> None:
        ids = [s["id"] for s in data.get("charging_schedules", [])]
        if len(ids) != len(set(ids)):
            raise ValidationError("schedule ids must differ", "charging_schedules")


class ProfileScheduleField(fields.Field[dict[str, Any]]):
    """An OCPP 1.6 schedule, or ``{"charging_schedules": [...], ...}`` for OCPP 2.x.

    Shown as stored, so nothing a station reported is filtered away; copies on stations also
    hold the 2.x ``transaction_id``, a reported profile's ``charging_limit_source`` and
    ``request_id``, and the last ``dynamic_update`` the station accepted.
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, dict):
            raise ValidationError("must be an object")
        shape = ProfileSchedules2xSchema() if "charging_schedules" in value else ScheduleSchema()
        return shape.load(value)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


class ChargingProfileSchema(Schema):
    id = fields.Integer(dump_only=True)
    stack_level = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    purpose = fields.String(required=True, validate=one_of(
        ("ChargePointMaxProfile", "ChargingStationMaxProfile", "TxDefaultProfile", "TxProfile",
         "PriorityCharging", "LocalGeneration")),
        metadata={"description": "ChargePointMaxProfile (1.6) and ChargingStationMaxProfile "
                                 "(2.x) name the same purpose; PriorityCharging and "
                                 "LocalGeneration are OCPP 2.1"})
    kind = fields.String(required=True, validate=one_of(
        ("Absolute", "Recurring", "Relative", "Dynamic")),
        metadata={"description": "Dynamic is OCPP 2.1"})
    recurrency_kind = fields.String(allow_none=True, validate=one_of(("Daily", "Weekly")))
    valid_from = fields.AwareDateTime(allow_none=True)
    valid_to = fields.AwareDateTime(allow_none=True)
    schedule = ProfileScheduleField(required=True, metadata={
        "description": "An OCPP 1.6 ChargingSchedule (charging_rate_unit, "
                       "charging_schedule_period, ...), sent to OCPP 2.x stations as one "
                       "schedule; or, for OCPP 2.x only, {\"charging_schedules\": [...]} with "
                       "the 2.x schedules (2.1 periods with operation modes and setpoints)",
        "type": "object"})
    source = fields.String(dump_only=True)
    station_id = fields.String(dump_only=True)
    evse_number = fields.Integer(dump_only=True)
    transaction_id = fields.Integer(dump_only=True)
    ocpp_profile_id = fields.Integer(dump_only=True)
    status = fields.String(dump_only=True)
    sent_at = fields.AwareDateTime(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_: object) -> None:
        if (data.get("kind") == "Recurring") != bool(data.get("recurrency_kind")):
            raise ValidationError("recurrency_kind is required exactly when kind is Recurring",
                                  "recurrency_kind")
        if data.get("valid_from") and data.get("valid_to") and \
                data["valid_to"] <= data["valid_from"]:
            raise ValidationError("must be after valid_from", "valid_to")
