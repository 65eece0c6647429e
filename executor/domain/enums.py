"""Enumerations shared across rooms, so that no module compares against bare strings."""

from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):
    LONG = "long"
    SHORT = "short"

    @property
    def sign(self) -> int:
        """+1 for a long, -1 for a short: PnL = sign × (exit − entry) × qty."""
        return 1 if self is Side.LONG else -1

    @property
    def opposite(self) -> Side:
        return Side.SHORT if self is Side.LONG else Side.LONG


class Action(StrEnum):
    """What a signal asks for."""

    OPEN = "open"
    CLOSE = "close"
    MOVE_STOP = "move_stop"


class EntryType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class SignalSource(StrEnum):
    """Where a stored signal came from: an ingress transport, or the operator's `executor close`."""

    WEBSOCKET = "websocket"
    WEBHOOK = "webhook"
    REDIS = "redis"
    OPERATOR = "operator"


class RiskStep(StrEnum):
    """A step of the risk pipeline, by the name `executor explain` prints; the one that bound the size
    is stored with the decision (`decisions.binding`)."""

    ACCOUNT_LEVERAGE = "account_leverage"
    CONVICTION = "conviction"
    CORRELATION_GROUP = "correlation_group"
    DAILY_LOSS = "daily_loss"
    DATA = "data"
    DRAWDOWN = "drawdown"
    EXCHANGE_FILTERS = "exchange_filters"
    FUNDING = "funding"
    GATES = "gates"
    GEOMETRY = "geometry"
    HIGH_LEVERAGE_COUNT = "high_leverage_count"
    LEVERAGE = "leverage"
    LIQUIDATION = "liquidation"
    MARGIN = "margin"
    PORTFOLIO_HEAT = "portfolio_heat"
    POSITION_HEAT = "position_heat"
    QUANTITY = "quantity"
    REFERENCE_PRICE = "reference_price"
    RISK_BUDGET = "risk_budget"
    SIZER = "sizer"
    TRADE_NOTIONAL = "trade_notional"


class Setup(StrEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"


class Regime(StrEnum):
    TRENDING = "trending"
    RANGING = "ranging"
    VOLATILE = "volatile"


class OrderKind(StrEnum):
    """The leg an order plays for a signal; part of its deterministic client order id."""

    ENTRY = "entry"
    STOP = "stop"
    TAKE_PROFIT = "take_profit"
    CLOSE = "close"


class BreakerStatus(StrEnum):
    ACTIVE = "active"
    TRIPPED = "tripped"


class SignalStatus(StrEnum):
    """A stored signal's life in the inbox: queued until the trader settles it once."""

    QUEUED = "queued"
    DECIDED = "decided"
    FAILED = "failed"


class PositionStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class EventKind(StrEnum):
    """What an audit-log row records; `executor explain` and operators read these names."""

    SIGNAL_FAILED = "signal.failed"
    SIGNAL_CLOSE = "signal.close"
    SIGNAL_MOVE_STOP = "signal.move_stop"
    POSITION_OPENED = "position.opened"
    POSITION_CLOSED = "position.closed"
    POSITION_REDUCED = "position.reduced"
    """The fill risked more than R plus the tolerance at the stop: the excess is closed (RISK_SPEC 2.5)."""
    STOP_MOVED = "stop.moved"
    DAY_STARTED = "day.started"
    BREAKER_TRIPPED = "breaker.tripped"
    RECONCILE_HALTED = "reconcile.halted"
    OPERATOR_HALT = "operator.halt"
    OPERATOR_RESUME = "operator.resume"
    OPERATOR_PAUSE = "operator.pause"
    OPERATOR_UNPAUSE = "operator.unpause"
    OPERATOR_CLOSE = "operator.close"
    ORDER_LATE_FILL = "order.late_fill"


class ExchangeFamily(StrEnum):
    """The dialect an exchange speaks (the simulator speaks both)."""

    BINANCE = "binance"
    PHEMEX = "phemex"


class ExchangeId(StrEnum):
    """An exchange the daemon trades on: a real one, or the simulator speaking its dialect."""

    BINANCE = "binance"
    PHEMEX = "phemex"
    SIM_BINANCE = "sim-binance"
    SIM_PHEMEX = "sim-phemex"

    @property
    def family(self) -> ExchangeFamily:
        return ExchangeFamily(self.value.removeprefix("sim-"))

    @property
    def simulated(self) -> bool:
        return self in (ExchangeId.SIM_BINANCE, ExchangeId.SIM_PHEMEX)


class ExchangeMode(StrEnum):
    """Real money, or the exchange's paper venue (Binance Demo Trading, the Phemex testnet)."""

    LIVE = "live"
    PAPER = "paper"
