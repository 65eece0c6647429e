"""Fault rules and the request log: what to do to the next matching requests, and what arrived when."""

from __future__ import annotations

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
            seed=rule.seed if rule.seed is not None else self._seed + self._next_id,
        )
        self._next_id += 1
        self.rules.append(installed)
        return installed

    def clear(self) -> None:
        self.rules.clear()

    def pick(self, wire: WireRequest, *, is_stop_order: bool) -> FaultRule | None:
        """The first rule that fires for this request (consuming one of its N), if any."""
        for rule in list(self.rules):
            if not rule.matches(wire):
                continue
            if rule.action is FaultAction.REJECT_STOP and not is_stop_order:
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
