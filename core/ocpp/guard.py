"""Frame guards on top of the ``ocpp`` package's ChargePoint.

The package validates payloads and turns handler failures into CALLERRORs, but it only logs
frames it cannot parse. Here every frame gets an answer: oversized, non-JSON, non-list, unknown
message types and unknown actions all produce the protocol's CALLERROR and the connection stays
up. OCPP 1.6 names some codes differently from 2.x (``FormationViolation``,
``OccurenceConstraintViolation``), so codes are translated per version.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import asdict, is_dataclass
from typing import Any

from ocpp import messages as ocpp_messages
from ocpp.charge_point import (
    ChargePoint,
    camel_to_snake_case,
    remove_nones,
    serialize_as_dict,
    snake_to_camel_case,
)
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallError, MessageType, unpack, validate_payload

from core.dispatch import CommandRejected, CommandTimeout, InvalidCommand

log = logging.getLogger(__name__)
# Validating on the event loop costs less than the package's default hop to a thread pool
# (measured: ~1.8x the messages per second on one core).
ocpp_messages.ASYNC_VALIDATION = False

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
    """Put before a version's class: ``class Session(GuardedChargePoint, v16.ChargePoint)``."""

    _ocpp_version: str
    max_message_bytes = 65536

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
            msg = unpack(raw_msg)
        except OCPPError as error:
            await self._send_error(_unique_id(raw_msg), error)
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

    async def call_action(
        self, action: str, payload: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        """Dispatcher entry: build the version's request object, send it, return the answer."""
        request = await validated_request(self._call, self._ocpp_version, action, payload)
        try:
            async with asyncio.timeout(timeout):
                response = await self.call(request, suppress=False)
        except TimeoutError:
            raise CommandTimeout(f"no answer to {action} within {timeout:g} s") from None
        except OCPPError as error:
            raise CommandRejected(error.code, error.description, error.details) from None
        answer = _snake(response)
        await self.after_command(action, _snake(request), answer)
        return answer

    async def after_command(
        self, action: str, request: dict[str, Any], answer: dict[str, Any]
    ) -> None:
        """Record what the station's answer changes; version plugins override this."""


async def validated_request(
    call_module: Any, version: str, action: str, payload: dict[str, Any]
) -> Any:
    """The request dataclass for ``action`` with snake_case ``payload``, schema-checked.

    Raises :class:`InvalidCommand` (nothing is sent) when the action or its fields are wrong.
    """
    request_cls = getattr(call_module, action, None)
    if request_cls is None:
        raise InvalidCommand(f"{action} is not an OCPP {version} request")
    try:
        request = request_cls(**payload)
    except TypeError as exc:
        raise InvalidCommand(f"{action}: {exc}") from None
    check = Call("0", action, remove_nones(snake_to_camel_case(serialize_as_dict(request))))
    try:
        await validate_payload(check, version)
    except OCPPError as error:
        cause = error.details.get("cause", error.description) if isinstance(
            error.details, dict) else error.description
        raise InvalidCommand(f"{action}: {cause}") from None
    return request


def _snake(response: Any) -> dict[str, Any]:
    data = asdict(response) if is_dataclass(response) and not isinstance(response, type) else {}
    result: dict[str, Any] = remove_nones(camel_to_snake_case(data))
    return result


def _jsonable(details: Any) -> dict[str, Any]:
    if not isinstance(details, dict):
        return {}
    return {key: value for key, value in details.items() if key == "cause"
            and isinstance(value, str)}
