"""Frame guards on top of the ``ocpp`` package's ChargePoint.

The package validates payloads and turns handler failures into CALLERRORs, but it only logs
frames it cannot parse. Here every frame gets an answer: oversized, non-JSON, non-list, unknown
message types and unknown actions all produce the protocol's CALLERROR and the connection stays
up. Incoming calls are decoded with orjson and validated with compiled schemas
(:mod:`core.ocpp.validation`); CSMS-initiated calls keep the package's own path.
OCPP 1.6 names some codes differently from 2.x (``FormationViolation``,
``OccurenceConstraintViolation``), so codes are translated per version.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any, ClassVar

import orjson
from ocpp.charge_point import (
    ChargePoint,
    camel_to_snake_case,
    remove_nones,
    serialize_as_dict,
    snake_to_camel_case,
)
from ocpp.exceptions import (
    FormatViolationError,
    InternalError,
    NotSupportedError,
    OCPPError,
    PropertyConstraintViolationError,
    ProtocolError,
)
from ocpp.exceptions import (
    NotImplementedError as OcppNotImplemented,
)
from ocpp.messages import Call, CallError, CallResult, MessageType
from ocpp.routing import create_route_map
from sqlalchemy import select

from core import appkeys
from core.db import Work
from core.db.models import ChargingStation
from core.dispatch import CommandRejected, CommandTimeout, InvalidCommand
from core.ocpp.leniency import record_deviation, repair
from core.ocpp.protocol import StationContext
from core.ocpp.validation import check, schema
from core.ocpp.wire import to_wire

log = logging.getLogger(__name__)
Effect = Callable[[Work, str, dict[str, Any], dict[str, Any]], Awaitable[None]]

V16_CODES = {"FormatViolation": "FormationViolation",
             "OccurrenceConstraintViolation": "OccurenceConstraintViolation"}
V2_CODES = {"FormationViolation": "FormatViolation",
            "OccurenceConstraintViolation": "OccurrenceConstraintViolation"}


_HEAD = re.compile(r'^\s*\[\s*\d\s*,\s*"([^"\\]{1,36})"')


def _unique_id(raw: str) -> str:
    """The message id if the frame is readable enough to have one; ``-1`` otherwise (OCPP-J)."""
    try:
        frame = json.loads(raw)
    except (ValueError, TypeError):
        head = _HEAD.match(raw[:200])
        return head.group(1) if head else "-1"
    if isinstance(frame, list) and len(frame) > 1 and isinstance(frame[1], str):
        return frame[1][:36]
    return "-1"


class GuardedChargePoint(ChargePoint):  # type: ignore[misc]  # ocpp ships no type hints
    """Put before a version's class: ``class Session(GuardedChargePoint, v16.ChargePoint)``.

    Replaces the package's receive path (decoding, validation, dispatch to ``@on`` handlers,
    encoding) with one that answers every frame, validates with compiled schemas and keeps
    per-connection state small: the route map is built once per class, and the lock and queue
    that CSMS-initiated calls need are created on first use.
    """

    _ocpp_version: str
    max_message_bytes = 65536
    # What a station's answer to a CSMS request changes in our records, by action:
    # effect(work, station_id, request, answer), request and answer in snake_case.
    EFFECTS: ClassVar[Mapping[str, Effect]] = {}

    def __init__(self, ctx: StationContext, response_timeout: float = 30) -> None:
        # The package's __init__ is skipped on purpose: it builds a route map of bound methods
        # and an idle lock and queue for every connection.
        self.id = ctx.station_id
        self.app = ctx.app
        self.max_message_bytes = ctx.max_message_bytes
        self._connection = ctx.sender
        self._response_timeout = response_timeout
        self._lazy_lock: asyncio.Lock | None = None
        self._lazy_queue: asyncio.Queue[Any] | None = None
        self._unique_id_generator = uuid.uuid4
        self.logger = log

    @property
    def _call_lock(self) -> asyncio.Lock:
        if self._lazy_lock is None:
            self._lazy_lock = asyncio.Lock()
        return self._lazy_lock

    @property
    def _response_queue(self) -> asyncio.Queue[Any]:
        if self._lazy_queue is None:
            self._lazy_queue = asyncio.Queue()
        return self._lazy_queue

    @property
    def route_map(self) -> dict[str, dict[str, Any]]:
        return _class_routes(type(self))

    def _code(self, code: str) -> str:
        table = V16_CODES if self._ocpp_version == "1.6" else V2_CODES
        return table.get(code, code)

    def framing_error(self, description: str, unique_id: str = "-1") -> str:
        code = self._code("FormatViolation")
        return str(CallError(unique_id, code, description, {}).to_json())

    async def _send_error(self, unique_id: str, error: OCPPError) -> None:
        frame = CallError(unique_id, self._code(error.code), error.description,
                          _jsonable(error.details)).to_json()
        await self._send(frame)

    async def route_message(self, raw_msg: str) -> None:
        if len(raw_msg) > self.max_message_bytes:
            await self._send(self.framing_error(
                f"message of {len(raw_msg)} bytes exceeds {self.max_message_bytes}",
                _unique_id(raw_msg[:200])))
            return
        try:
            msg = decode(raw_msg, sends=self._ocpp_version != "1.6" and
                         self._ocpp_version != "2.0.1")
        except OCPPError as error:
            await self._send_error(_unique_id(raw_msg), error)
            return
        if isinstance(msg, Send):
            await self._handle_send(msg)
            return
        if msg.message_type_id == MessageType.Call:
            if not isinstance(msg.unique_id, str) or not isinstance(msg.action, str) or not \
                    isinstance(msg.payload, dict):
                await self._send(self.framing_error("Call needs a string id, an action and an "
                                                    "object payload", _unique_id(raw_msg)))
                return
            try:
                await self._handle_call(msg)
            except OCPPError as error:
                await self._send_error(msg.unique_id, error)
        else:
            self._response_queue.put_nowait(msg)

    async def _handle_call(self, msg: Call) -> None:
        """Validate, run the ``@on`` handler, answer, then start the ``@after`` hook.

        OCPP errors raised here or by the handler become the CALLERROR the caller sends; any
        other failure is our bug and is answered with ``InternalError``.
        """
        routes: dict[str, Any] = self.route_map.get(msg.action) or {}
        if "_on_action" not in routes:
            raise _unhandled(msg.action, self._ocpp_version)
        validate = not routes.get("_skip_schema_validation", False)
        payload = msg.payload
        if validate:
            payload = await self.checked_payload(msg)
        kwargs = _opaque_kept(msg.action, payload, snake_keys(payload))
        try:
            response = routes["_on_action"](self, **kwargs)
            if inspect.isawaitable(response):
                response = await response
        except OCPPError:
            raise
        except Exception:
            log.exception("%s: handling %s failed", self.id, msg.action)
            raise InternalError(details={"cause": "the CSMS failed to handle the message"}
                                ) from None
        # Handlers answer with the package's dataclass or a plain snake_case dict.
        fields = remove_nones(response if isinstance(response, dict)
                              else serialize_as_dict(response))
        answer = to_wire(fields, schema(self._ocpp_version, msg.action, "response"))
        if validate:
            try:
                check(self._ocpp_version, msg.action, "response", answer)
            except OCPPError as error:
                log.error("%s: our %s answer violates the schema: %s", self.id, msg.action,
                          error.details)
                raise InternalError(details={"cause": "the CSMS built an invalid answer"}
                                    ) from None
        await self._send(encode_result(msg.unique_id, answer))
        after = routes.get("_after_action")
        if after is not None:
            hook = after(self, **kwargs)
            if inspect.isawaitable(hook):
                _background(hook)

    async def _handle_send(self, msg: Send) -> None:
        """An OCPP 2.1 SEND (message type 6): handled like a call, but never answered.

        Nothing may go back to the station, so what is wrong with it is logged instead.
        """
        routes: dict[str, Any] = self.route_map.get(str(msg.action)) or {}
        if not isinstance(msg.payload, dict) or "_on_action" not in routes:
            log.warning("%s: SEND %r dropped: not a message we handle", self.id, msg.action)
            return
        try:
            check(self._ocpp_version, msg.action, "request", msg.payload)
            result = routes["_on_action"](self, **snake_keys(msg.payload))
            if inspect.isawaitable(result):
                await result
        except OCPPError as error:
            log.warning("%s: SEND %s dropped: %s", self.id, msg.action, _cause(error))
        except Exception:
            log.exception("%s: handling SEND %s failed", self.id, msg.action)

    async def checked_payload(self, msg: Call) -> dict[str, Any]:
        """The payload to handle, or the OCPP error for an invalid one.

        A station switched to ``lenient`` has known deviations repaired
        (:mod:`core.ocpp.leniency`): the repaired payload is handled if it validates, and the
        deviation is committed to the audit log before the message is handled.
        """
        payload: dict[str, Any] = msg.payload
        try:
            check(self._ocpp_version, msg.action, "request", payload)
        except OCPPError as error:
            repaired = await self._lenient_repair(msg, error)
            if repaired is None:
                raise
            return repaired
        return payload

    async def _lenient_repair(self, msg: Call, error: OCPPError) -> dict[str, Any] | None:
        request_schema = schema(self._ocpp_version, msg.action, "request")
        if request_schema is None:
            return None
        repaired, fixes = repair(msg.payload, request_schema)
        if not fixes:
            return None
        try:
            check(self._ocpp_version, msg.action, "request", repaired)
        except OCPPError:
            return None
        db = self.app[appkeys.DB]
        async with db.session() as session:
            lenient = await session.scalar(
                select(ChargingStation.lenient).where(ChargingStation.id == self.id))
        if not lenient:
            return None
        cause = error.details.get("cause", error.description) if isinstance(
            error.details, dict) else error.description

        async def audit(work: Work) -> None:
            await record_deviation(work, self.id, msg.action, msg.unique_id, str(cause), fixes)

        await db.write(audit)
        log.info("%s: %s accepted with repairs: %s", self.id, msg.action, "; ".join(fixes))
        return repaired

    async def call_action(
        self, action: str, payload: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        """Dispatcher entry: send a CSMS request, return the station's answer in snake_case.

        The request is checked before anything is sent (:class:`InvalidCommand`); an answer
        that breaks the schema is refused like a CALLERROR, and what a valid answer changes
        is recorded (:meth:`after_command`) before it is returned.
        """
        wire = validated_request(self._ocpp_version, action, payload)
        unique_id = str(self._unique_id_generator())
        frame = orjson.dumps([MessageType.Call, unique_id, action, wire],
                             default=_json_default).decode()
        async with self._call_lock:
            await self._send(frame)
            try:
                response = await self._get_specific_response(unique_id, timeout)
            except TimeoutError:
                raise CommandTimeout(f"no answer to {action} within {timeout:g} s") from None
        if response.message_type_id == MessageType.CallError:
            raise CommandRejected(response.error_code, response.error_description,
                                  response.error_details)
        try:
            check(self._ocpp_version, action, "response", response.payload)
        except OCPPError as error:
            raise CommandRejected(error.code, f"the station's answer is invalid: {_cause(error)}",
                                  {}) from None
        answer = _opaque_kept(action, response.payload, snake_keys(response.payload))
        await self.after_command(action, snake_keys(wire), answer)
        return answer

    async def after_command(
        self, action: str, request: dict[str, Any], answer: dict[str, Any]
    ) -> None:
        """Record what the station's answer changes (the session's ``EFFECTS`` by action).

        Runs after every successful command, whoever sent it (REST, a task, another plugin).
        """
        effect = self.EFFECTS.get(action)
        if effect is not None:
            async with self.app[appkeys.DB].transaction() as work:
                await effect(work, self.id, request, answer)


_ROUTES: dict[type, dict[str, dict[str, Any]]] = {}
_HOOKS: set[asyncio.Task[Any]] = set()


def _class_routes(cls: type) -> dict[str, dict[str, Any]]:
    """The ``@on``/``@after`` map of a session class, with plain functions, built once."""
    routes = _ROUTES.get(cls)
    if routes is None:
        routes = _ROUTES[cls] = create_route_map(cls)
    return routes


def _opaque_kept(action: str, source: dict[str, Any],
                 converted: dict[str, Any]) -> dict[str, Any]:
    """``converted`` with vendor payloads as they were: DataTransfer's ``data`` and any
    top-level ``customData`` belong to the vendor, so their keys are not renamed.
    """
    if action == "DataTransfer" and "data" in source:
        converted["data"] = source["data"]
    if "customData" in source:
        converted["custom_data"] = source["customData"]
    return converted


def _unhandled(action: str, version: str) -> OCPPError:
    """``NotImplemented`` for a message of the version we do not handle, else ``NotSupported``.

    (The package's own helper says nothing at all for OCPP 2.1.)
    """
    if schema(version, action, "request") is not None:
        return OcppNotImplemented(details={"cause": f"no handler for {action}"})
    return NotSupportedError(details={"cause": f"{action} is not an OCPP {version} message"})


def _background(hook: Awaitable[Any]) -> None:
    task = asyncio.ensure_future(hook)
    _HOOKS.add(task)
    task.add_done_callback(_HOOKS.discard)


class Send:
    """An OCPP 2.1 SEND frame ``[6, id, action, payload]``: a call that expects no answer."""

    message_type_id = 6

    def __init__(self, unique_id: Any, action: Any, payload: Any) -> None:
        self.unique_id, self.action, self.payload = unique_id, action, payload


def decode(raw: str, *, sends: bool = False) -> Call | CallResult | CallError | Send:
    """An OCPP-J frame as a message object; OCPP errors for what is not one.

    SEND frames exist from OCPP 2.1 on (``sends``); before, type 6 is an invalid type.
    """
    try:
        frame = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise FormatViolationError(details={"cause": "Message is not valid JSON"}) from None
    if not isinstance(frame, list):
        raise ProtocolError(details={"cause": "an OCPP-J message is a JSON array"})
    if not frame:
        raise ProtocolError(details={"cause": "Message does not contain MessageTypeId"})
    kind = frame[0]
    cls = MESSAGE_TYPES.get(kind) if type(kind) is int else None
    if kind == 6 and type(kind) is int and sends:
        cls = Send
    if cls is None:
        raise PropertyConstraintViolationError(
            details={"cause": f"MessageTypeId {str(kind)[:20]!r} isn't valid"})
    try:
        message: Call | CallResult | CallError | Send = cls(*frame[1:])
    except TypeError:
        raise ProtocolError(details={"cause": "Message is missing elements."}) from None
    return message


MESSAGE_TYPES: dict[int, Any] = {2: Call, 3: CallResult, 4: CallError}


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode_result(unique_id: str, payload: dict[str, Any]) -> str:
    return orjson.dumps([MessageType.CallResult, unique_id, payload],
                        default=_json_default).decode()


@functools.lru_cache(maxsize=4096)
def _snake_key(key: str) -> str:
    converted: dict[str, Any] = camel_to_snake_case({key: None})
    return next(iter(converted))


@functools.lru_cache(maxsize=4096)
def _camel_key(key: str) -> str:
    converted: dict[str, Any] = snake_to_camel_case({key: None})
    return next(iter(converted))


def snake_keys(data: Any) -> Any:
    """The package's camelCase → snake_case translation, with each key's answer cached."""
    if isinstance(data, dict):
        return {_snake_key(k): snake_keys(v) for k, v in data.items()}
    if isinstance(data, list):
        return [snake_keys(v) for v in data]
    return data


def camel_keys(data: Any) -> Any:
    """The package's snake_case → camelCase translation, with each key's answer cached."""
    if isinstance(data, dict):
        return {_camel_key(k): camel_keys(v) for k, v in data.items()}
    if isinstance(data, list):
        return [camel_keys(v) for v in data]
    return data


def validated_request(version: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The wire payload (camelCase) of ``action`` built from snake_case ``payload``, checked.

    Raises :class:`InvalidCommand` (nothing is sent) when the action or its fields are wrong.
    """
    request_schema = schema(version, action, "request")
    if request_schema is None:
        raise InvalidCommand(f"{action} is not an OCPP {version} request")
    wire: dict[str, Any] = to_wire(remove_nones(_plain(payload)), request_schema)
    try:
        check(version, action, "request", wire)
    except OCPPError as error:
        raise InvalidCommand(f"{action}: {_cause(error)}") from None
    return wire


def _plain(value: Any) -> Any:
    """JSON values only: decimals as floats (the schemas' numbers), containers copied."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return float(value) if isinstance(value, Decimal) else value


def _cause(error: OCPPError) -> str:
    details = error.details
    return str(details.get("cause", error.description)) if isinstance(
        details, dict) else str(error.description)


def _jsonable(details: Any) -> dict[str, Any]:
    if not isinstance(details, dict):
        return {}
    return {key: value for key, value in details.items() if key == "cause"
            and isinstance(value, str)}
