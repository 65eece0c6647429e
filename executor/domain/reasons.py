"""Why a signal was refused: one code per rule, so that logs, metrics and tests never match on prose."""

from __future__ import annotations

from enum import StrEnum


class ReasonCode(StrEnum):
    HALTED = "HALTED"
    PAUSED = "PAUSED"
    """The operator paused new entries (`executor pause`); open positions are still managed."""
    REDUCING = "REDUCING"
    EXPIRED = "EXPIRED"
    SYMBOL_NOT_ALLOWED = "SYMBOL_NOT_ALLOWED"
    SYMBOL_HELD = "SYMBOL_HELD"
    """A position, or an entry that may still fill, is already on the symbol (one position per symbol)."""
    SECONDARY_DISABLED = "SECONDARY_DISABLED"
    THROTTLED = "THROTTLED"
    DRAWDOWN = "DRAWDOWN"
    BAD_GEOMETRY = "BAD_GEOMETRY"
    PRICE_OUT_OF_BAND = "PRICE_OUT_OF_BAND"
    """The entry's order price lies outside the exchange's price band around the mark (Binance
    PERCENT_PRICE: -4016/-4024); the exchange would refuse it, so it is refused before it is sent."""
    REWARD_RISK_TOO_LOW = "REWARD_RISK_TOO_LOW"
    LOW_CONVICTION = "LOW_CONVICTION"
    LIQUIDATION_TOO_CLOSE = "LIQUIDATION_TOO_CLOSE"
    HEAT_CAP = "HEAT_CAP"
    FUNDING_ADVERSE = "FUNDING_ADVERSE"
    INSUFFICIENT_MARGIN = "INSUFFICIENT_MARGIN"
    BELOW_MIN_AMOUNT = "BELOW_MIN_AMOUNT"
    BELOW_MIN_NOTIONAL = "BELOW_MIN_NOTIONAL"
    DATA_MISSING = "DATA_MISSING"
    INVALID_MESSAGE = "INVALID_MESSAGE"
    """Not a valid signal (malformed, or breaking the signal schema): refused by the inbox before any decision
    and kept, redacted, in `rejected_signals`; `executor signals` and the daily report name it so."""
