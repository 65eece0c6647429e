"""Fault rules and the request log: what to do to the next matching requests, and what arrived when."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BeforeValidator, Field, ValidationError, model_validator

from adapters.sim.wire import WireRequest
from executor.domain.validation import FieldProblem, Frozen, choice, explain, number, whole


class FaultAction(StrEnum):
    DELAY = "delay"  # answer after delay_ms (the request still executes)
    ERROR_5XX = "error_5xx"  # answer `status` (default 503) without executing
    RATE_LIMIT = "rate_limit"  # answer 429 with the exchange's body, without executing
    BAN = "ban"  # answer 418 with the exchange's body, without executing
    DROP_BEFORE = "drop_before"  # close the connection without executing
    DROP_AFTER = "drop_after"  # execute, then close the connection instead of answering
    REJECT_STOP = "reject_stop"  # refuse a stop order with the exchange's error (other requests pass)
    HIDE_ORDER = "hide_order"  # execute; the order is not found (lookups, lists, cancels) for delay_ms
    EXECUTE_LATE = "execute_late"  # close the connection at once, execute after delay_ms (window permitting)
    REJECT_AFTER_TRIGGER = (
        "reject_after_trigger"  # accept a stop; when it triggers it ends REJECTED, unfilled
    )
    TRIGGER_DELAY = (
        "trigger_delay"  # accept a stop; when it triggers it stays TRIGGERING for delay_ms, then executes
    )
    FORGET_CLOSED = "forget_closed"  # a lookup of a closed order answers not found ("no longer served")
    FILL_PAST_LIMIT = (
        "fill_past_limit"  # execute; a taking order fills slip_bps past the book, its limit ignored
    )
    ANSWER_ACK = "answer_ack"  # execute; Binance answers the new order as ACK (NEW, no fill fields)
    WS_DISCONNECT = "ws_disconnect"  # a stream connection is closed at its next push
    WS_STALL = "ws_stall"  # a stream connection stays open, silent for delay_ms (0: until closed)
    WS_DELAY = "ws_delay"  # a user-stream event goes out delay_ms late (those after it do not wait)
    WS_DUPLICATE = "ws_duplicate"  # a user-stream event goes out twice
    WS_REORDER = "ws_reorder"  # a user-stream event goes out after the next one
    LISTEN_KEY_EXPIRE = "listen_key_expire"  # the listen key expires instead of this user-stream event


STOP_ONLY = frozenset({FaultAction.REJECT_STOP, FaultAction.REJECT_AFTER_TRIGGER, FaultAction.TRIGGER_DELAY})
"""Rules that match stop placements only; other requests pass them by."""
MARKET_STREAM_FAULTS = frozenset({FaultAction.WS_DISCONNECT, FaultAction.WS_STALL})
USER_STREAM_FAULTS = MARKET_STREAM_FAULTS | {
    FaultAction.WS_DELAY,
    FaultAction.WS_DUPLICATE,
    FaultAction.WS_REORDER,
    FaultAction.LISTEN_KEY_EXPIRE,
}
STREAM_ONLY = USER_STREAM_FAULTS
"""Rules for WebSocket stream connections (adapters/sim/ws_binance.py, ws_binance_user.py, ws_phemex.py); REST
requests pass them by, and stream pushes pass every other rule by (market pushes the user-stream-only ones
too)."""


class FaultRuleError(ValueError):
    """A fault rule the control API refuses; the message names each bad key and what it takes."""


def _params(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError('expected an object of parameter name to value, e.g. {"newClientOrderId": "abc"}')
    return {str(key): str(item) for key, item in value.items()}


class FaultSpec(Frozen):
    """The JSON body of `POST /_sim/faults` (docs/simulator.md, "Fault rule")."""

    action: Annotated[FaultAction, choice(FaultAction)]
    method: str = "*"
    path: str = "*"
    match: Annotated[dict[str, str], BeforeValidator(_params)] = Field(default_factory=dict)
    count: Annotated[int | None, whole(1)] = None
    probability: Annotated[float | None, number(0, 1)] = None
    seed: Annotated[int | None, whole()] = None
    delay_ms: Annotated[int, whole(0, 600_000)] = 0
    status: Annotated[int, whole(100, 599)] = 503
    body: Any = None
    hide_ms: Annotated[int, whole(0, 600_000)] = 0
    slip_bps: Annotated[int, whole(0, 10_000)] = 0

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        """`"count": null` means unlimited, which `install` reads from the request itself."""
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data

    @model_validator(mode="after")
    def _error_is_5xx(self) -> Self:
        if self.action is FaultAction.ERROR_5XX and not 500 <= self.status <= 599:
            raise FieldProblem("status", "expected a 5xx status for error_5xx, e.g. 503")
        return self


@dataclass
class FaultRule:
    rule_id: int
    action: FaultAction
    method: str = "*"
    path: str = "*"
    match: dict[str, str] = field(default_factory=dict)
    count: int | None = 1
    probability: float | None = None
    delay_ms: int = 0
    status: int = 503
    body: Any = None
    hide_ms: int = 0
    slip_bps: int = 0
    seed: int = 0
    fired: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def matches(self, wire: WireRequest) -> bool:
        if self.method != "*" and self.method.upper() != wire.method.upper():
            return False
        if self.path != "*":
            if self.path.endswith("*"):
                if not wire.path.startswith(self.path[:-1]):
                    return False
            elif wire.path != self.path:
                return False
        return all(str(wire.params.get(key)) == str(value) for key, value in self.match.items())

    def roll(self) -> bool:
        """Consume one firing if this request is hit (by probability, when set)."""
        if self.probability is not None and self._rng.random() >= self.probability:
            return False
        self.fired += 1
        if self.count is not None:
            self.count -= 1
        return True

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.count <= 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.rule_id,
            "action": self.action.value,
            "method": self.method,
            "path": self.path,
            "match": self.match,
            "count": self.count,
            "probability": self.probability,
            "delay_ms": self.delay_ms,
            "status": self.status,
            "body": self.body,
            "hide_ms": self.hide_ms,
            "slip_bps": self.slip_bps,
            "seed": self.seed,
            "fired": self.fired,
        }


class FaultBook:
    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._next_id = 1
        self.rules: list[FaultRule] = []

    def install(self, spec: dict[str, Any]) -> FaultRule:
        try:
            rule = FaultSpec.model_validate(spec)
        except ValidationError as exc:
            raise FaultRuleError("; ".join(explain(exc, FaultSpec, noun="key"))) from None
        unlimited = ("count" in spec and spec["count"] is None) or rule.probability is not None
        installed = FaultRule(
            rule_id=self._next_id,
            action=rule.action,
            method=rule.method,
            path=rule.path,
            match=rule.match,
            count=rule.count if rule.count is not None or unlimited else 1,
            probability=rule.probability,
            delay_ms=rule.delay_ms,
            status=rule.status,
            body=rule.body,
            hide_ms=rule.hide_ms,
            slip_bps=rule.slip_bps,
            seed=rule.seed if rule.seed is not None else self._seed + self._next_id,
        )
        self._next_id += 1
        self.rules.append(installed)
        return installed

    def clear(self) -> None:
        self.rules.clear()

    def pick(
        self,
        wire: WireRequest,
        *,
        is_stop_order: bool,
        stream: bool = False,
        stream_faults: frozenset[FaultAction] = MARKET_STREAM_FAULTS,
    ) -> FaultRule | None:
        """The first rule that fires for this request or stream push (consuming one of its N), if any; a push
        takes only `stream_faults`."""
        for rule in list(self.rules):
            if (rule.action in STREAM_ONLY) is not stream or not rule.matches(wire):
                continue
            if stream and rule.action not in stream_faults:
                continue
            if rule.action in STOP_ONLY and not is_stop_order:
                continue
            if rule.roll():
                if rule.exhausted:
                    self.rules.remove(rule)
                return rule
        return None


@dataclass
class RecordedRequest:
    seq: int
    method: str
    path: str
    query: str
    body: str
    params: dict[str, Any]
    api_key: str | None
    arrival_monotonic_ns: int
    arrival_wall_ns: int
    fault: str | None = None
    status: int | None = None
    refused: int | None = None
    """The exchange's error code when the answer was a refusal in its error envelope (whatever the status)."""
    answered_monotonic_ns: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "body": self.body,
            "params": self.params,
            "api_key": self.api_key,
            "arrival_monotonic_ns": self.arrival_monotonic_ns,
            "arrival_wall_ns": self.arrival_wall_ns,
            "arrival_wall_ms": self.arrival_wall_ns // 1_000_000,
            "fault": self.fault,
            "status": self.status,
            "refused": self.refused,
            "answered_monotonic_ns": self.answered_monotonic_ns,
        }


class RequestLog:
    """Every exchange request, in arrival order, with monotonic and wall arrival times."""

    def __init__(self) -> None:
        self.entries: list[RecordedRequest] = []
        self._seq = 0

    def record(self, wire: WireRequest, api_key: str | None, arrival_monotonic_ns: int) -> RecordedRequest:
        self._seq += 1
        entry = RecordedRequest(
            seq=self._seq,
            method=wire.method,
            path=wire.path,
            query=wire.raw_query,
            body=wire.body,
            params={k: v for k, v in wire.params.items() if k != "signature"},
            api_key=api_key,
            arrival_monotonic_ns=arrival_monotonic_ns,
            arrival_wall_ns=time.time_ns(),
        )
        self.entries.append(entry)
        return entry

    def clear(self) -> None:
        self.entries.clear()


def push_fault(book: FaultBook, wire: WireRequest, ws: Any, now: float) -> float | None:
    """Fire the first `ws_disconnect` / `ws_stall` rule matching a market-stream push (`ws` its connection):
    a disconnect closes it, a stall returns until when it stays silent (inf: until closed); None when no rule
    fired, `now` for a disconnect (nothing more goes out)."""
    rule = book.pick(wire, is_stop_order=False, stream=True)
    if rule is None:
        return None
    if rule.action is FaultAction.WS_DISCONNECT:
        asyncio.get_running_loop().create_task(ws.close(code=1006, message=b"simulated disconnect"))
        return now
    return now + rule.delay_ms / 1000 if rule.delay_ms > 0 else float("inf")


async def send_event(ws: Any, event: dict[str, Any]) -> None:
    """A stream message to a connection that may have closed meanwhile (then it is lost)."""
    if not ws.closed:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_str(json.dumps(event))


async def send_late(ws: Any, event: dict[str, Any], delay_ms: int) -> None:
    """A `ws_delay`: the message goes out `delay_ms` late; those after it do not wait."""
    await asyncio.sleep(delay_ms / 1000)
    await send_event(ws, event)
