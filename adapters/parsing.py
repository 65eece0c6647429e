"""ccxt's unified structures → the port's domain types, with the checks ccxt does not make.

ccxt parsers are lenient (an empty body becomes an order with id None); here a missing id or
status is an error, exchange zeros that mean "none" become None, and every number goes through
``str`` into Decimal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from adapters.errors import describe_body, malformed
from executor.domain.account import MarginMode, Position
from executor.domain.client_ids import kind_of
from executor.domain.enums import Side
from executor.domain.market import LeverageTier, Market, MarketFilters
from executor.domain.money import to_decimal
from executor.domain.orders import Fill, FundingPayment, Order, OrderSide, OrderStatus, OrderType

Raw = Mapping[str, Any]

_STATUSES = {status.value: status for status in OrderStatus}
_TYPES: Mapping[str, OrderType] = {
    "market": OrderType.MARKET,
    "limit": OrderType.LIMIT,
    "stop_market": OrderType.STOP_MARKET,
    "take_profit_market": OrderType.TAKE_PROFIT_MARKET,
}
_CONDITIONAL_TYPES = frozenset({OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET})


def dec(value: object) -> Decimal | None:
    """Decimal from an exchange number or numeric string; None/'' stay None."""
    if value is None or value == "":
        return None
    return to_decimal(str(value))


def positive(value: object) -> Decimal | None:
    """Exchanges write 0 for 'no such price' (trigger, liquidation); that is None, not a price."""
    number = dec(value)
    return number if number is not None and number > 0 else None


def from_ms(value: object) -> datetime | None:
    if value is None or value == "":
        return None
    return datetime.fromtimestamp(int(str(value)) / 1000, UTC)


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _bool(value: object) -> bool:
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


def parse_order(
    raw: Raw,
    *,
    conditional: bool | None = None,
    type_name: str | None = None,
    dialect_types: Mapping[str, OrderType] | None = None,
) -> Order:
    """A ccxt order; ``conditional`` overrides detection when the endpoint already says so.

    ``type_name`` replaces ccxt's unified type where ccxt loses information (it calls a Binance
    STOP_MARKET 'market'); ``dialect_types`` adds the exchange's own type names (Phemex 'Stop'
    is a stop-market, while Binance 'STOP' is a stop-limit and stays OTHER).
    """
    exchange_id = raw.get("id")
    status_text = raw.get("status")
    if not exchange_id or status_text is None:
        raise malformed(f"order response without id or status: {describe_body(raw.get('info', raw))}")
    if status_text not in _STATUSES:
        raise malformed(f"order status {status_text!r} is unknown")
    side_text = str(raw.get("side") or "").lower()
    if side_text not in ("buy", "sell"):
        raise malformed(f"order side {raw.get('side')!r} is unknown")
    info: Raw = raw.get("info") or {}
    type_text = str(type_name or raw.get("type") or "").lower()
    order_type = {**_TYPES, **(dialect_types or {})}.get(type_text, OrderType.OTHER)
    trigger = positive(raw.get("triggerPrice")) or positive(raw.get("stopPrice"))
    if conditional is None:
        conditional = "algoId" in info or order_type in _CONDITIONAL_TYPES or trigger is not None
    qty = dec(raw.get("amount")) or Decimal(0)
    client_id = raw.get("clientOrderId") or None
    return Order(
        symbol=str(raw.get("symbol")),
        exchange_id=str(exchange_id),
        client_id=client_id,
        kind=kind_of(client_id),
        type=order_type,
        side=OrderSide(side_text),
        status=_STATUSES[status_text],
        qty=qty,
        filled=dec(raw.get("filled")) or Decimal(0),
        average_price=positive(raw.get("average")),
        price=positive(raw.get("price")),
        trigger_price=trigger,
        reduce_only=_reduce_only(raw, info),
        conditional=conditional,
        timestamp=from_ms(raw.get("timestamp")),
        executed_order_id=str(info["actualOrderId"]) if info.get("actualOrderId") else None,
    )


def _reduce_only(raw: Raw, info: Raw) -> bool:
    if _bool(raw.get("reduceOnly")) or _bool(info.get("reduceOnly")) or _bool(info.get("closePosition")):
        return True
    if _bool(info.get("closeOnTrigger")):
        return True
    exec_inst = str(info.get("execInst") or "")
    return "ReduceOnly" in exec_inst or "CloseOnTrigger" in exec_inst


def parse_fill(raw: Raw) -> Fill:
    trade_id = raw.get("id")
    timestamp = from_ms(raw.get("timestamp"))
    price = dec(raw.get("price"))
    qty = dec(raw.get("amount"))
    if not trade_id or timestamp is None or price is None or qty is None:
        raise malformed(f"trade without id, time, price or amount: {describe_body(raw.get('info', raw))}")
    fee: Raw = raw.get("fee") or {}
    return Fill(
        trade_id=str(trade_id),
        order_id=str(raw["order"]) if raw.get("order") else None,
        symbol=str(raw.get("symbol")),
        side=OrderSide(str(raw.get("side")).lower()),
        qty=qty,
        price=price,
        fee=dec(fee.get("cost")) or Decimal(0),
        fee_asset=fee.get("currency"),
        timestamp=timestamp,
    )


def unique_fills(fills: Sequence[Fill]) -> list[Fill]:
    """Duplicates (overlapping pages, replays) collapse on (symbol, trade id); oldest first."""
    seen: dict[tuple[str, str], Fill] = {}
    for fill in fills:
        seen.setdefault((fill.symbol, fill.trade_id), fill)
    return sorted(seen.values(), key=lambda fill: (fill.timestamp, fill.trade_id))


def parse_funding_payment(raw: Raw) -> FundingPayment:
    """A ccxt funding-history row; its id, or (symbol, time) where the exchange gives none."""
    timestamp = from_ms(raw.get("timestamp"))
    amount = dec(raw.get("amount"))
    if timestamp is None or amount is None:
        raise malformed(f"funding row without time or amount: {describe_body(raw.get('info', raw))}")
    symbol = str(raw.get("symbol"))
    payment_id = raw.get("id") or f"{symbol}@{to_ms(timestamp)}"
    return FundingPayment(
        payment_id=str(payment_id),
        symbol=symbol,
        amount=amount,
        asset=str(raw.get("code") or "USDT"),
        timestamp=timestamp,
    )


def parse_position(raw: Raw) -> Position | None:
    """An open position, or None for the flat rows some exchanges list."""
    qty = dec(raw.get("contracts"))
    if qty is None or qty == 0:
        return None
    side_text = raw.get("side")
    if side_text not in ("long", "short"):
        raise malformed(f"position side {side_text!r} is unknown")
    entry = positive(raw.get("entryPrice"))
    if entry is None:
        raise malformed(f"open position without entry price: {describe_body(raw.get('info', raw))}")
    contract_size = dec(raw.get("contractSize")) or Decimal(1)
    qty = abs(qty) * contract_size
    mark = positive(raw.get("markPrice"))
    notional = dec(raw.get("notional"))
    margin_mode = raw.get("marginMode")
    return Position(
        symbol=str(raw.get("symbol")),
        side=Side.LONG if side_text == "long" else Side.SHORT,
        qty=qty,
        entry_price=entry,
        mark_price=mark,
        liquidation_price=positive(raw.get("liquidationPrice")),
        leverage=positive(raw.get("leverage")),
        margin_mode=MarginMode(margin_mode) if margin_mode in ("isolated", "cross") else None,
        unrealized_pnl=dec(raw.get("unrealizedPnl")) or Decimal(0),
        notional=abs(notional) if notional is not None else qty * (mark or entry),
    )


def parse_market(raw: Raw) -> Market:
    precision: Raw = raw.get("precision") or {}
    limits: Raw = raw.get("limits") or {}
    amount_step = positive(precision.get("amount"))
    price_tick = positive(precision.get("price"))
    if amount_step is None or price_tick is None:
        raise malformed(f"market {raw.get('symbol')} without amount step or price tick")
    min_amount = positive((limits.get("amount") or {}).get("min")) or amount_step
    return Market(
        symbol=str(raw["symbol"]),
        exchange_symbol=str(raw["id"]),
        base=str(raw.get("base")),
        quote=str(raw.get("quote")),
        settle=str(raw.get("settle")),
        contract_size=positive(raw.get("contractSize")) or Decimal(1),
        filters=MarketFilters(
            amount_step=amount_step,
            price_tick=price_tick,
            min_amount=min_amount,
            min_notional=positive((limits.get("cost") or {}).get("min")) or Decimal(0),
            max_leverage=positive((limits.get("leverage") or {}).get("max")),
            **percent_price_band(raw.get("info")),
        ),
        taker_fee=dec(raw.get("taker")),
        maker_fee=dec(raw.get("maker")),
        active=raw.get("active") is not False,
    )


def percent_price_band(info: Any) -> dict[str, Decimal | None]:
    """Binance's PERCENT_PRICE filter of a symbol (`multiplierDown`, `multiplierUp`): a limit price outside
    mark × [down, up] is refused with -4016/-4024 (docs/exchange-facts.md §6). Empty when not published."""
    filters = info.get("filters") if isinstance(info, dict) else None
    for item in filters if isinstance(filters, list) else []:
        if isinstance(item, dict) and item.get("filterType") == "PERCENT_PRICE":
            down, up = positive(item.get("multiplierDown")), positive(item.get("multiplierUp"))
            if down is None or up is None or not down < 1 < up:
                raise malformed(f"PERCENT_PRICE filter without a band around 1: {describe_body(item)}")
            return {"price_band_down": down, "price_band_up": up}
    return {}


def is_linear_perpetual(raw: Raw) -> bool:
    return bool(raw.get("swap")) and bool(raw.get("linear")) and raw.get("settle") in ("USDT", "USDC")


def tiers_from_ccxt(rows: Sequence[Raw]) -> tuple[LeverageTier, ...]:
    """ccxt leverage tiers; the maintenance amount comes from Binance's 'cum' or is derived."""
    tiers: list[LeverageTier] = []
    previous_rate = Decimal(0)
    cum = Decimal(0)
    for row in sorted(rows, key=lambda r: dec(r.get("minNotional")) or Decimal(0)):
        floor = dec(row.get("minNotional")) or Decimal(0)
        rate = dec(row.get("maintenanceMarginRate"))
        leverage = positive(row.get("maxLeverage"))
        if rate is None or leverage is None:
            raise malformed(
                f"leverage tier without rate or max leverage: {describe_body(row.get('info', row))}"
            )
        cum = cum + floor * (rate - previous_rate)
        info: Raw = row.get("info") or {}
        given = dec(info.get("cum"))
        tiers.append(
            LeverageTier(
                floor, positive(row.get("maxNotional")), leverage, rate, given if given is not None else cum
            )
        )
        previous_rate = rate
    return tuple(tiers)


def tiers_from_phemex_risk_limits(rows: Sequence[Raw]) -> tuple[LeverageTier, ...]:
    """Phemex USDT markets list risk limits (notional cap, initial and maintenance rates) per market."""
    tiers: list[LeverageTier] = []
    floor = Decimal(0)
    previous_rate = Decimal(0)
    cum = Decimal(0)
    for row in sorted(rows, key=lambda r: dec(r.get("limit")) or Decimal(0)):
        cap = dec(row.get("limit"))
        initial = positive(row.get("initialMarginRr"))
        rate = dec(row.get("maintenanceMarginRr"))
        if cap is None or initial is None or rate is None:
            raise malformed(f"risk limit without limit or margin rates: {describe_body(row)}")
        cum = cum + floor * (rate - previous_rate)
        tiers.append(LeverageTier(floor, cap, (Decimal(1) / initial).quantize(Decimal("0.01")), rate, cum))
        floor = cap
        previous_rate = rate
    return tuple(tiers)


def interval_from_hours(value: object) -> timedelta | None:
    hours = positive(value)
    return timedelta(hours=float(hours)) if hours is not None else None
