"""The exchange port's failure taxonomy: what a caller may do after an exchange request failed.

Every failure out of the port is an :class:`ExchangeError` whose ``error_class`` says whether the
request may be retried as is, may have executed (ambiguous write), or is final. It belongs to the port
(the daemon's side): the adapters classify ccxt's exceptions into it (adapters/errors.py), and the
daemon catches it without knowing the adapters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ErrorClass(StrEnum):
    RETRYABLE = "retryable"
    """Rejected before execution (or a read): resend as is, after backoff or clock resync."""
    AMBIGUOUS = "ambiguous"
    """A write may or may not have executed: look it up by client id before resending."""
    FINAL = "final"
    """Refused, not executed: sending the same request again at once cannot help. Some refusals pass later
    (a price band that follows the mark, a reduce-only conflict that clears); the caller owns that retry."""


class ErrorReason(StrEnum):
    RATE_LIMITED = "rate_limited"
    IP_BANNED = "ip_banned"
    CLOCK_SKEW = "clock_skew"
    TIMEOUT = "timeout"
    UNKNOWN_STATUS = "unknown_status"
    EXCHANGE_UNAVAILABLE = "exchange_unavailable"
    NETWORK = "network"
    BAD_RESPONSE = "bad_response"
    DUPLICATE_CLIENT_ID = "duplicate_client_id"
    ORDER_NOT_FOUND = "order_not_found"
    NO_CHANGE = "no_change"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    WOULD_TRIGGER_IMMEDIATELY = "would_trigger_immediately"
    INVALID_ORDER = "invalid_order"
    PRICE_BAND = "price_band"
    """A market order whose counterparty price lies outside the price band around the mark (Binance -4131):
    it may pass once the book or the mark moves."""
    REDUCE_ONLY_CONFLICT = "reduce_only_conflict"
    """A reduce-only order beyond what the open reduce-only orders leave of the position (Binance -4118): it
    may pass once those orders are gone."""
    INVALID_REQUEST = "invalid_request"
    BAD_SYMBOL = "bad_symbol"
    AUTHENTICATION = "authentication"
    NOT_SUPPORTED = "not_supported"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Classification:
    reason: ErrorReason
    error_class: ErrorClass
    exchange_code: int | None
    banned_until: datetime | None = None


class ExchangeError(Exception):
    """A classified exchange failure; its message never contains the API key or secret."""

    def __init__(self, message: str, classification: Classification) -> None:
        super().__init__(message)
        self.classification = classification

    @property
    def reason(self) -> ErrorReason:
        return self.classification.reason

    @property
    def error_class(self) -> ErrorClass:
        return self.classification.error_class


class RateLimitedError(ExchangeError):
    """Still rate limited after the adapter's own backoff."""


class ExchangeBannedError(ExchangeError):
    """The exchange banned this IP/key; no request is sent before ``until``."""

    def __init__(self, message: str, classification: Classification, until: datetime) -> None:
        super().__init__(message, classification)
        self.until = until


class AmbiguousWriteError(ExchangeError):
    """A write may have executed and neither a lookup nor a resend could settle it."""


class OrderRejectedError(ExchangeError):
    """The exchange definitively refused a write (funds, filters, auth...)."""


class OrderNotFoundError(ExchangeError):
    """The exchange does not know the order; for a cancel that may mean filled or gone, not canceled."""


class MalformedResponseError(ExchangeError):
    """The exchange answered without an order id or status: an error, never an order."""
