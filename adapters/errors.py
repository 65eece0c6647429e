"""Every exchange failure is classified here, once, into what the caller may do next.

The port never lets a ccxt exception out: callers see the port's :class:`ExchangeError` subclasses
(executor/ports/errors.py) whose ``error_class`` says whether a request may be retried as is, may have
executed (ambiguous write), or is final. The exchange's own error code wins over ccxt's exception
type, because ccxt picks Binance's linear error table by URL and falls back to a bare
``ExchangeError`` elsewhere.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import aiohttp
import ccxt.async_support as ccxt  # type: ignore[import-untyped]

from executor.domain.enums import ExchangeFamily
from executor.ports.errors import (
    Classification,
    ErrorClass,
    ErrorReason,
    ExchangeBannedError,
    ExchangeError,
    MalformedResponseError,
    OrderNotFoundError,
    OrderRejectedError,
    RateLimitedError,
)

_CLASS_OF_REASON: dict[ErrorReason, ErrorClass] = {
    ErrorReason.RATE_LIMITED: ErrorClass.RETRYABLE,
    ErrorReason.IP_BANNED: ErrorClass.RETRYABLE,
    ErrorReason.CLOCK_SKEW: ErrorClass.RETRYABLE,
    ErrorReason.TIMEOUT: ErrorClass.AMBIGUOUS,
    ErrorReason.UNKNOWN_STATUS: ErrorClass.AMBIGUOUS,
    ErrorReason.EXCHANGE_UNAVAILABLE: ErrorClass.AMBIGUOUS,
    ErrorReason.NETWORK: ErrorClass.AMBIGUOUS,
    ErrorReason.BAD_RESPONSE: ErrorClass.AMBIGUOUS,
    ErrorReason.DUPLICATE_CLIENT_ID: ErrorClass.FINAL,
    ErrorReason.ORDER_NOT_FOUND: ErrorClass.FINAL,
    ErrorReason.NO_CHANGE: ErrorClass.FINAL,
    ErrorReason.INSUFFICIENT_FUNDS: ErrorClass.FINAL,
    ErrorReason.WOULD_TRIGGER_IMMEDIATELY: ErrorClass.FINAL,
    ErrorReason.INVALID_ORDER: ErrorClass.FINAL,
    # Not executed, and not resent by the adapter (an entry refused so is refused); a close refused so is
    # retried by the position tracker while its stop rests (docs/daemon.md "A signal's life").
    ErrorReason.PRICE_BAND: ErrorClass.FINAL,
    ErrorReason.REDUCE_ONLY_CONFLICT: ErrorClass.FINAL,
    ErrorReason.INVALID_REQUEST: ErrorClass.FINAL,
    ErrorReason.BAD_SYMBOL: ErrorClass.FINAL,
    ErrorReason.AUTHENTICATION: ErrorClass.FINAL,
    ErrorReason.NOT_SUPPORTED: ErrorClass.FINAL,
    ErrorReason.UNKNOWN: ErrorClass.FINAL,
}

BINANCE_CODES: dict[int, ErrorReason] = {
    -1000: ErrorReason.UNKNOWN_STATUS,
    -1001: ErrorReason.UNKNOWN_STATUS,
    -1003: ErrorReason.RATE_LIMITED,
    -1006: ErrorReason.UNKNOWN_STATUS,
    -1007: ErrorReason.TIMEOUT,
    -1008: ErrorReason.UNKNOWN_STATUS,
    -1015: ErrorReason.RATE_LIMITED,
    -1021: ErrorReason.CLOCK_SKEW,
    -1022: ErrorReason.AUTHENTICATION,
    -1102: ErrorReason.INVALID_REQUEST,
    -1111: ErrorReason.INVALID_ORDER,
    -1121: ErrorReason.BAD_SYMBOL,
    -2010: ErrorReason.INVALID_ORDER,
    -2011: ErrorReason.ORDER_NOT_FOUND,
    -2013: ErrorReason.ORDER_NOT_FOUND,
    -2014: ErrorReason.AUTHENTICATION,
    -2015: ErrorReason.AUTHENTICATION,
    -2018: ErrorReason.INSUFFICIENT_FUNDS,
    -2019: ErrorReason.INSUFFICIENT_FUNDS,
    -2021: ErrorReason.WOULD_TRIGGER_IMMEDIATELY,
    -2022: ErrorReason.INVALID_ORDER,
    -4003: ErrorReason.INVALID_ORDER,
    -4046: ErrorReason.NO_CHANGE,
    -4059: ErrorReason.NO_CHANGE,
    -4061: ErrorReason.INVALID_ORDER,  # position side does not match the account's mode (hedge mode)
    -4116: ErrorReason.DUPLICATE_CLIENT_ID,
    -4118: ErrorReason.REDUCE_ONLY_CONFLICT,  # open reduce-only orders already cover the position
    -4131: ErrorReason.PRICE_BAND,  # a market order's counterparty price outside PERCENT_PRICE
    -4164: ErrorReason.INVALID_ORDER,
    -5028: ErrorReason.CLOCK_SKEW,  # ME recvWindow: not executed; ccxt says BadRequest, the code says retry
}

PHEMEX_CODES: dict[int, ErrorReason] = {
    401: ErrorReason.AUTHENTICATION,
    429: ErrorReason.RATE_LIMITED,
    10001: ErrorReason.DUPLICATE_CLIENT_ID,
    10002: ErrorReason.ORDER_NOT_FOUND,
    11001: ErrorReason.INSUFFICIENT_FUNDS,
    11011: ErrorReason.INVALID_ORDER,
    11033: ErrorReason.DUPLICATE_CLIENT_ID,
    11082: ErrorReason.INSUFFICIENT_FUNDS,
    11057: ErrorReason.INVALID_ORDER,  # reduce-only without a position
    11074: ErrorReason.INVALID_ORDER,  # TP/SL attached while the account holds a position
    11085: ErrorReason.DUPLICATE_CLIENT_ID,
    # REQUEST_IS_DUPLICATED: what a "request id" is is undocumented, the first request may have executed;
    # ccxt says BadRequest (phemex.py:465), the code says look it up (docs/exchange-facts.md §11).
    19999: ErrorReason.UNKNOWN_STATUS,
    20004: ErrorReason.INVALID_ORDER,  # posSide does not match the symbol's position mode (no ccxt mapping)
}

_CODES_BY_EXCHANGE = {ExchangeFamily.BINANCE: BINANCE_CODES, ExchangeFamily.PHEMEX: PHEMEX_CODES}

# ccxt exception types, most specific first (subclasses before their bases).
_CCXT_TYPES: tuple[tuple[type[BaseException], ErrorReason], ...] = (
    (ccxt.RateLimitExceeded, ErrorReason.RATE_LIMITED),
    (ccxt.DDoSProtection, ErrorReason.RATE_LIMITED),
    (ccxt.InvalidNonce, ErrorReason.CLOCK_SKEW),
    (ccxt.RequestTimeout, ErrorReason.TIMEOUT),
    (ccxt.ExchangeNotAvailable, ErrorReason.EXCHANGE_UNAVAILABLE),
    (ccxt.NetworkError, ErrorReason.NETWORK),
    (ccxt.BadResponse, ErrorReason.BAD_RESPONSE),
    (ccxt.OperationFailed, ErrorReason.UNKNOWN_STATUS),
    (ccxt.AuthenticationError, ErrorReason.AUTHENTICATION),
    (ccxt.InsufficientFunds, ErrorReason.INSUFFICIENT_FUNDS),
    (ccxt.DuplicateOrderId, ErrorReason.DUPLICATE_CLIENT_ID),
    (ccxt.OrderNotFound, ErrorReason.ORDER_NOT_FOUND),
    (ccxt.OrderImmediatelyFillable, ErrorReason.WOULD_TRIGGER_IMMEDIATELY),
    (ccxt.InvalidOrder, ErrorReason.INVALID_ORDER),
    (ccxt.BadSymbol, ErrorReason.BAD_SYMBOL),
    (ccxt.NoChange, ErrorReason.NO_CHANGE),
    (ccxt.NotSupported, ErrorReason.NOT_SUPPORTED),
    (ccxt.BadRequest, ErrorReason.INVALID_REQUEST),
    (ccxt.ArgumentsRequired, ErrorReason.INVALID_REQUEST),
    (asyncio.TimeoutError, ErrorReason.TIMEOUT),
    (aiohttp.ClientError, ErrorReason.NETWORK),
    (ConnectionError, ErrorReason.NETWORK),
)

_CODE_RE = re.compile(r'"code"\s*:\s*"?(-?\d+)')
# ccxt: "binanceusdm 418 I'm a teapot {...}" or "phemex GET https://... 418 I'm a Teapot ..."
_HTTP_STATUS_RE = re.compile(r"^\S+(?: [A-Z]+ \S+)? (418|429) ")
_BANNED_UNTIL_RE = re.compile(r"banned until (\d{12,14})")
DEFAULT_BAN = timedelta(minutes=2)


def exchange_code(message: str) -> int | None:
    """The exchange's numeric error code from a ccxt message (ccxt appends the raw JSON body)."""
    match = _CODE_RE.search(message)
    if match is None:
        return None
    code = int(match.group(1))
    return None if code in (0, 200) else code


def classify(
    exc: BaseException, family: ExchangeFamily, *, write: bool, now: datetime | None = None
) -> Classification:
    """What the caller may do after ``exc``; a read can always be retried, so it is never ambiguous."""
    message = str(exc)
    code = exchange_code(message)
    reason = _reason(exc, family, code, message)
    banned_until = None
    if reason is ErrorReason.IP_BANNED:
        banned_until = ban_expiry(message, now or datetime.now(UTC))
    error_class = _CLASS_OF_REASON[reason]
    if not write and error_class is ErrorClass.AMBIGUOUS:
        error_class = ErrorClass.RETRYABLE
    return Classification(reason, error_class, code, banned_until)


def _reason(exc: BaseException, family: ExchangeFamily, code: int | None, message: str) -> ErrorReason:
    status = _HTTP_STATUS_RE.match(message)
    if status is not None and status.group(1) == "418":
        return ErrorReason.IP_BANNED
    if _BANNED_UNTIL_RE.search(message):
        return ErrorReason.IP_BANNED
    if code is not None:
        table = _CODES_BY_EXCHANGE[family]
        if code in table:
            return table[code]
    for exc_type, reason in _CCXT_TYPES:
        if isinstance(exc, exc_type):
            return reason
    return ErrorReason.UNKNOWN


def ban_expiry(message: str, now: datetime) -> datetime:
    """Binance says 'IP banned until <epoch ms>'; without it assume a short ban."""
    match = _BANNED_UNTIL_RE.search(message)
    if match is not None:
        return datetime.fromtimestamp(int(match.group(1)) / 1000, UTC)
    return now + DEFAULT_BAN


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def malformed(message: str) -> MalformedResponseError:
    return MalformedResponseError(
        message, Classification(ErrorReason.BAD_RESPONSE, ErrorClass.AMBIGUOUS, None)
    )


#: Failures that come from the exchange or the network; anything else is a bug and propagates.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    ccxt.BaseError,
    asyncio.TimeoutError,
    aiohttp.ClientError,
    OSError,
)


def to_port_error(
    exc: BaseException,
    family: ExchangeFamily,
    *,
    write: bool,
    secrets: Iterable[str] = (),
    now: datetime | None = None,
) -> ExchangeError:
    """Translate any failure below the port into the port's exception with a redacted message."""
    if isinstance(exc, ExchangeError):
        return exc
    classification = classify(exc, family, write=write, now=now)
    text = redact(f"{type(exc).__name__}: {_short(str(exc))}", secrets)
    if classification.reason is ErrorReason.IP_BANNED and classification.banned_until is not None:
        return ExchangeBannedError(text, classification, classification.banned_until)
    if classification.reason is ErrorReason.RATE_LIMITED:
        return RateLimitedError(text, classification)
    if classification.reason is ErrorReason.ORDER_NOT_FOUND:
        return OrderNotFoundError(text, classification)
    if write and classification.error_class is ErrorClass.FINAL:
        return OrderRejectedError(text, classification)
    return ExchangeError(text, classification)


def _short(message: str, limit: int = 500) -> str:
    """ccxt messages can carry whole response bodies; keep logs readable."""
    return message if len(message) <= limit else message[:limit] + "…"


def describe_body(body: object) -> str:
    """A compact JSON rendering for error messages about malformed responses."""
    try:
        return _short(json.dumps(body, default=str))
    except (TypeError, ValueError):
        return _short(repr(body))
