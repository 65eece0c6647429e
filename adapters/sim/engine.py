"""The matching engine: accounts, isolated positions, orders, triggers, funding and liquidation.

Pure in-memory Python with Decimal money and no I/O, so the HTTP dialects, the control API and tests
drive the same state. Prices come from outside (`set_mark`), time from the simulator clock.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from adapters.sim.clock import SimClock
from adapters.sim.config import Instrument, SimConfig
from adapters.sim.model import (
    Account,
    AttachedTrigger,
    EngineReject,
    Fill,
    FundingEvent,
    Income,
    IncomeType,
    MarginChange,
    Order,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    Reject,
    TimeInForce,
    TriggerSource,
    q8,
)
from executor.domain.account import MarginMode

DEFAULT_LEVERAGE = 20
BPS = Decimal("0.0001")
LIQUIDATION_CLIENT_PREFIX = "autoclose-"
DAY_MS = 86_400_000
UNFILLED_RETENTION_MS = 3 * DAY_MS
RETENTION_MS = 90 * DAY_MS
MAX_AMENDMENTS = 10_000
"""Binance Modify Order: "Each order can be modified up to 10000 times" (-5026 after that)."""
"""Binance Query Order / Query Algo Order (and allOrders / allAlgoOrders): "These orders will not be found:
order status is CANCELED or EXPIRED AND order has NO filled trade AND created time + 3 days < current time;
order create time + 90 days < current time" (docs/exchange-facts.md §4)."""


@dataclass(frozen=True)
class PositionView:
    """A position with everything derived from the current mark, as both dialects report it."""

    symbol: str
    qty: Decimal
    entry_price: Decimal
    mark: Decimal
    unrealized: Decimal
    margin: Decimal
    notional: Decimal
    maint_margin: Decimal
    mmr: Decimal
    initial_margin: Decimal
    liquidation_price: Decimal
    leverage: int
    margin_mode: MarginMode
    updated_ms: int


class Engine:
    def __init__(self, config: SimConfig, clock: SimClock) -> None:
        self.config = config
        self.clock = clock
        self.instruments: dict[str, Instrument] = {i.symbol: i for i in config.instruments}
        self.closed_served = True
        """False while a `forget_closed` fault answers a lookup: closed orders are "no longer served"."""
        self.slip_past_limit_bps: int | None = None
        """Set by the `fill_past_limit` fault while its request executes (docs/simulator.md)."""
        self.generation = 0
        """Counts resets: a request delayed across one belongs to an exchange that no longer exists."""
        self.reset()

    def reset(self) -> None:
        """Back to the configured start: fresh accounts, start prices, no orders, fills or income."""
        self.generation += 1
        now = self.clock.now_ms()
        self.marks: dict[str, Decimal] = {s: i.start_price for s, i in self.instruments.items()}
        self.lasts: dict[str, Decimal] = dict(self.marks)
        self.funding_rates: dict[str, Decimal] = {s: self.config.funding_rate for s in self.instruments}
        self.next_funding_ms: dict[str, int] = {
            s: _next_boundary(now, i.funding_interval_ms) for s, i in self.instruments.items()
        }
        self.funding_history: dict[str, list[FundingEvent]] = {s: [] for s in self.instruments}
        self.insurance_fund = self.config.insurance_fund
        self.accounts: dict[str, Account] = {
            c.api_key: Account(c.api_key, self.config.start_balance) for c in self.config.credentials
        }
        self._order_ids: Iterator[int] = itertools.count(1)
        self._trade_ids: Iterator[int] = itertools.count(1)
        self._income_ids: Iterator[int] = itertools.count(1)

    def restore_ids(self, next_order: int, next_trade: int, next_income: int) -> None:
        """Continue the id sequences of a restored state (adapters/sim/persistence.py)."""
        self._order_ids = itertools.count(next_order)
        self._trade_ids = itertools.count(next_trade)
        self._income_ids = itertools.count(next_income)

    # ----------------------------------------------------------------- lookups and derived numbers

    def instrument(self, symbol: str) -> Instrument:
        """By exchange id (BTCUSDT) or unified symbol (BTC/USDT:USDT)."""
        if symbol in self.instruments:
            return self.instruments[symbol]
        for item in self.instruments.values():
            if item.unified == symbol:
                return item
        raise EngineReject(Reject.UNKNOWN_SYMBOL, f"unknown symbol {symbol}")

    def account(self, api_key: str) -> Account:
        return self.accounts[api_key]

    def leverage_of(self, account: Account, symbol: str) -> int:
        inst = self.instruments[symbol]
        return account.leverage.get(symbol, min(DEFAULT_LEVERAGE, inst.max_leverage))

    def margin_mode_of(self, account: Account, symbol: str) -> MarginMode:
        return account.margin_mode.get(symbol, MarginMode.ISOLATED)

    def order_margin(self, account: Account) -> Decimal:
        """Initial margin reserved by resting orders that can open or grow a position."""
        total = Decimal(0)
        for order in account.orders.values():
            if order.status.is_open and order.type is OrderType.LIMIT and not order.reduce_only:
                assert order.price is not None
                total += order.remaining * order.price / self.leverage_of(account, order.symbol)
        return q8(total)

    def available_balance(self, account: Account) -> Decimal:
        used = sum((p.margin for p in account.positions.values() if p.qty), Decimal(0))
        return q8(account.wallet - used - self.order_margin(account))

    def position_view(self, account: Account, symbol: str) -> PositionView:
        inst = self.instruments[symbol]
        pos = account.position(symbol)
        mark = self.marks[symbol]
        notional = abs(pos.qty) * mark
        tier = inst.tier_for(notional)
        maint = max(notional * tier.mmr - tier.cum, Decimal(0)) if pos.qty else Decimal(0)
        leverage = self.leverage_of(account, symbol)
        return PositionView(
            symbol=symbol,
            qty=pos.qty,
            entry_price=pos.entry_price,
            mark=mark,
            unrealized=q8(pos.unrealized(mark)),
            margin=pos.margin,
            notional=q8(pos.qty * mark),
            maint_margin=q8(maint),
            mmr=tier.mmr,
            initial_margin=q8(notional / leverage),
            liquidation_price=self._liquidation_price(inst, pos),
            leverage=leverage,
            margin_mode=self.margin_mode_of(account, symbol),
            updated_ms=pos.updated_ms,
        )

    def _liquidation_price(self, inst: Instrument, pos: Position) -> Decimal:
        """The mark at which isolated equity (margin + uPnL) equals the maintenance margin."""
        if not pos.qty:
            return Decimal(0)
        size = abs(pos.qty)
        tier = inst.tier_for(size * pos.entry_price)
        if pos.qty > 0:
            price = (size * pos.entry_price - pos.margin - tier.cum) / (size * (1 - tier.mmr))
        else:
            price = (pos.margin + size * pos.entry_price + tier.cum) / (size * (1 + tier.mmr))
        return q8(max(price, Decimal(0)))

    def find_order(
        self,
        account: Account,
        *,
        order_id: int | None = None,
        client_id: str | None = None,
        conditional: bool | None = None,
        symbol: str | None = None,
    ) -> Order:
        now = self.clock.now_ms()
        for order in reversed(account.orders.values()):
            if order.hidden(now) or not self.retained(order, now):
                continue
            if not self.closed_served and order.status.is_closed:
                continue
            if conditional is not None and order.conditional != conditional:
                continue
            if symbol is not None and order.symbol != symbol:
                continue
            if (order_id is not None and order.order_id == order_id) or (
                order_id is None and client_id is not None and order.client_id == client_id
            ):
                return order
        raise EngineReject(Reject.ORDER_NOT_FOUND, "Order does not exist.")

    @staticmethod
    def retained(order: Order, now_ms: int) -> bool:
        """Whether order queries still serve this order (RETENTION_MS, UNFILLED_RETENTION_MS)."""
        age = now_ms - order.created_ms
        if age > RETENTION_MS:
            return False
        unfilled_end = order.status in (OrderStatus.CANCELED, OrderStatus.EXPIRED) and not order.filled_qty
        return not (unfilled_end and age > UNFILLED_RETENTION_MS)

    @contextlib.contextmanager
    def slipping_past_limit(self, bps: int) -> Iterator[None]:
        """Within: taking fills land `bps` past the book and the limit (the `fill_past_limit` fault)."""
        self.slip_past_limit_bps = bps
        try:
            yield
        finally:
            self.slip_past_limit_bps = None

    @contextlib.contextmanager
    def forgetting_closed(self) -> Iterator[None]:
        """Within: lookups miss closed orders (the `forget_closed` fault, one request at a time)."""
        self.closed_served = False
        try:
            yield
        finally:
            self.closed_served = True

    def open_orders(
        self,
        account: Account,
        symbol: str | None = None,
        conditional: bool | None = None,
        *,
        listed: bool = False,
    ) -> list[Order]:
        """Open orders; `listed`: as an open-orders request sees them (without hidden ones)."""
        now = self.clock.now_ms()
        return [
            o
            for o in account.orders.values()
            if o.status.is_open
            and not (listed and o.hidden(now))
            and (symbol is None or o.symbol == symbol)
            and (conditional is None or o.conditional == conditional)
        ]

    # ----------------------------------------------------------------- account settings

    def set_leverage(self, account: Account, symbol: str, leverage: int) -> tuple[int, Decimal]:
        inst = self.instrument(symbol)
        if leverage < 1 or leverage > inst.max_leverage:
            raise EngineReject(Reject.LEVERAGE_INVALID, f"Leverage {leverage} is not valid")
        cap = inst.max_notional_for(leverage)
        pos = account.position(inst.symbol)
        if abs(pos.qty) * self.marks[inst.symbol] > cap:
            raise EngineReject(
                Reject.POSITION_LIMIT, "Exceeded the maximum allowable position at current leverage."
            )
        account.leverage[inst.symbol] = leverage
        return leverage, cap

    def set_margin_mode(self, account: Account, symbol: str, mode: MarginMode) -> None:
        inst = self.instrument(symbol)
        if mode is MarginMode.CROSS:
            raise EngineReject(Reject.MARGIN_MODE_UNSUPPORTED, "The simulator supports isolated margin only.")
        if self.margin_mode_of(account, inst.symbol) is mode:
            raise EngineReject(Reject.MARGIN_MODE_UNCHANGED, "No need to change margin type.")
        account.margin_mode[inst.symbol] = mode

    # ----------------------------------------------------------------- orders

    def place(self, account: Account, request: OrderRequest) -> Order:
        """Validate and accept an order; a market or marketable order fills before this returns."""
        inst = self.instrument(request.symbol)
        symbol = inst.symbol
        self._validate(account, inst, request)
        now = self.clock.now_ms()
        conditional = request.type.conditional
        order = Order(
            order_id=next(self._order_ids),
            account=account.api_key,
            client_id=request.client_id,
            symbol=symbol,
            side=request.side,
            type=request.type,
            qty=request.qty or Decimal(0),
            price=request.price,
            trigger_price=request.trigger_price,
            trigger_source=request.trigger_source,
            time_in_force=request.time_in_force,
            reduce_only=request.reduce_only or request.close_position,
            close_position=request.close_position,
            status=OrderStatus.UNTRIGGERED if conditional else OrderStatus.NEW,
            created_ms=now,
            updated_ms=now,
            stop_loss=request.stop_loss,
            take_profit=request.take_profit,
        )
        account.orders[order.order_id] = order
        if conditional:
            return order
        if order.type is OrderType.MARKET:
            self._execute_market(account, order)
        else:
            self._execute_limit_on_arrival(account, order)
        return order

    def _validate(self, account: Account, inst: Instrument, request: OrderRequest) -> None:  # noqa: C901 - the exchange's order checks in the order it applies them, one branch per rule
        symbol = inst.symbol
        if any(
            o.client_id == request.client_id and o.parent_id is None and o.status.is_open
            for o in account.orders.values()
        ):
            # Unique among *open* orders only (Binance newClientOrderId/clientAlgoId): a closed order's
            # id may be reused, so a duplicate-id refusal proves nothing about a closed first attempt.
            raise EngineReject(Reject.DUPLICATE_CLIENT_ID, "ClientOrderId is duplicated.")
        conditional = request.type.conditional
        if request.close_position:
            if not conditional:
                raise EngineReject(
                    Reject.CLOSE_POSITION_NOT_CONDITIONAL,
                    "closePosition is only for STOP_MARKET/TAKE_PROFIT_MARKET.",
                )
            if request.qty:
                raise EngineReject(
                    Reject.CLOSE_POSITION_WITH_QTY, "Quantity must be zero with closePosition equals true"
                )
            if request.reduce_only:
                raise EngineReject(
                    Reject.CLOSE_POSITION_WITH_REDUCE_ONLY, "Parameter 'reduceonly' sent when not required."
                )
        else:
            self._validate_qty(inst, request.qty)
        if request.type is OrderType.LIMIT:
            if request.price is None or request.price <= 0:
                raise EngineReject(Reject.PRICE_REQUIRED, "Price is required for a limit order.")
            _check_tick(inst, request.price)
        if conditional:
            if request.trigger_price is None or request.trigger_price <= 0:
                raise EngineReject(Reject.PRICE_REQUIRED, "Trigger price is required.")
            _check_tick(inst, request.trigger_price)
            probe = self._probe(request)
            if probe.triggered_by(self._source_price(symbol, request.trigger_source)):
                raise EngineReject(Reject.WOULD_TRIGGER_IMMEDIATELY, "Order would immediately trigger.")
            return
        ref = request.price if request.type is OrderType.LIMIT else self.marks[symbol]
        assert ref is not None and request.qty is not None
        self._validate_attached(request, ref)
        pos = account.position(symbol)
        if request.reduce_only:
            if pos.side != -request.side.sign or request.qty > abs(pos.qty):
                raise EngineReject(Reject.REDUCE_ONLY_REJECTED, "ReduceOnly Order is rejected.")
            return
        if request.qty * ref < inst.min_notional:
            raise EngineReject(
                Reject.NOTIONAL_TOO_SMALL,
                f"Order's notional must be no smaller than {inst.min_notional} "
                "(unless you choose reduce only).",
            )
        closing = min(request.qty, abs(pos.qty)) if pos.side == -request.side.sign else Decimal(0)
        opening = request.qty - closing
        if not opening:
            return
        leverage = self.leverage_of(account, symbol)
        new_size = abs(pos.qty + request.side.sign * request.qty)
        if new_size * ref > inst.max_notional_for(leverage):
            raise EngineReject(
                Reject.POSITION_LIMIT, "Exceeded the maximum allowable position at current leverage."
            )
        required = opening * ref / leverage + opening * ref * inst.taker_fee
        if required > self.available_balance(account):
            raise EngineReject(Reject.INSUFFICIENT_MARGIN, "Margin is insufficient.")

    def _validate_qty(self, inst: Instrument, qty: Decimal | None) -> None:
        if qty is None or qty <= 0:
            raise EngineReject(Reject.QTY_INVALID, "Quantity less than or equal to zero.")
        if qty % inst.step:
            raise EngineReject(Reject.QTY_STEP, "Precision is over the maximum defined for this asset.")
        if qty < inst.min_qty:
            raise EngineReject(Reject.QTY_TOO_SMALL, "Filter failure: LOT_SIZE")
        if qty > inst.max_qty:
            raise EngineReject(Reject.QTY_TOO_LARGE, "Quantity greater than max quantity.")

    def _validate_attached(self, request: OrderRequest, ref: Decimal) -> None:
        sign = request.side.sign
        if request.stop_loss is not None and (request.stop_loss.trigger_price - ref) * sign >= 0:
            raise EngineReject(
                Reject.STOP_LOSS_WRONG_SIDE, "Stop-loss price is on the wrong side of the entry."
            )
        if request.take_profit is not None and (request.take_profit.trigger_price - ref) * sign <= 0:
            raise EngineReject(
                Reject.TAKE_PROFIT_WRONG_SIDE, "Take-profit price is on the wrong side of the entry."
            )

    @staticmethod
    def _probe(request: OrderRequest) -> Order:
        return Order(
            order_id=0,
            account="",
            client_id="",
            symbol=request.symbol,
            side=request.side,
            type=request.type,
            qty=Decimal(0),
            price=None,
            trigger_price=request.trigger_price,
            trigger_source=request.trigger_source,
            time_in_force=request.time_in_force,
            reduce_only=False,
            close_position=False,
            status=OrderStatus.UNTRIGGERED,
            created_ms=0,
            updated_ms=0,
        )

    def _source_price(self, symbol: str, source: TriggerSource) -> Decimal:
        return self.marks[symbol] if source is TriggerSource.MARK else self.lasts[symbol]

    def book_top(self, symbol: str) -> tuple[Decimal, Decimal]:
        """Best bid and ask: the prices a taking sell and buy fill at now, so the book and the fills agree
        (the simulator keeps no depth; see docs/simulator.md)."""
        self.catch_up()
        inst = self.instruments[symbol]
        return self._taker_price(inst, OrderSide.SELL), self._taker_price(inst, OrderSide.BUY)

    def _taker_price(self, inst: Instrument, side: OrderSide) -> Decimal:
        """Mark ± slippage, rounded to the tick against the taker."""
        raw = self.marks[inst.symbol] * (1 + side.sign * self.config.slippage_bps * BPS)
        rounding = ROUND_CEILING if side is OrderSide.BUY else ROUND_FLOOR
        return (raw / inst.tick).to_integral_value(rounding=rounding) * inst.tick

    def _execute_market(self, account: Account, order: Order) -> None:
        inst = self.instruments[order.symbol]
        qty = order.qty
        if order.reduce_only:
            pos = account.position(order.symbol)
            qty = min(qty, abs(pos.qty)) if pos.side == -order.side.sign else Decimal(0)
            if order.close_position:
                order.qty = qty
        if qty <= 0:
            order.status = OrderStatus.EXPIRED
            order.updated_ms = self.clock.now_ms()
            return
        self._fill(
            account,
            order,
            qty,
            self._slipped(inst, order.side, self._taker_price(inst, order.side)),
            maker=False,
        )

    def _slipped(self, inst: Instrument, side: OrderSide, price: Decimal) -> Decimal:
        """The `fill_past_limit` fault, harsher than any exchange: a taking fill lands `slip_past_limit_bps`
        further against the taker, past the order's own limit."""
        if self.slip_past_limit_bps is None:
            return price
        raw = price * (1 + side.sign * self.slip_past_limit_bps * BPS)
        rounding = ROUND_CEILING if side is OrderSide.BUY else ROUND_FLOOR
        return (raw / inst.tick).to_integral_value(rounding=rounding) * inst.tick

    def _marketable(self, order: Order) -> bool:
        """A buy limit at or above the ask, a sell at or below the bid (the book of `book_top`): a buy
        under the ask rests (or, IOC, expires) even when it is above the mark."""
        assert order.price is not None
        taker = self._taker_price(self.instruments[order.symbol], order.side)
        return order.price >= taker if order.side is OrderSide.BUY else order.price <= taker

    def _execute_limit_on_arrival(self, account: Account, order: Order) -> None:
        inst = self.instruments[order.symbol]
        if self._marketable(order):
            if order.time_in_force is TimeInForce.GTX:
                account.orders.pop(order.order_id)
                raise EngineReject(
                    Reject.POST_ONLY_WOULD_TAKE,
                    "Due to the order could not be executed as maker, the Post Only order will be rejected.",
                )
            assert order.price is not None
            taker = self._taker_price(inst, order.side)
            price = min(taker, order.price) if order.side is OrderSide.BUY else max(taker, order.price)
            self._fill(account, order, order.qty, self._slipped(inst, order.side, price), maker=False)
        elif order.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
            order.status = OrderStatus.EXPIRED

    def cancel(
        self,
        account: Account,
        *,
        order_id: int | None = None,
        client_id: str | None = None,
        conditional: bool | None = None,
        symbol: str | None = None,
    ) -> Order:
        order = self.find_order(
            account, order_id=order_id, client_id=client_id, conditional=conditional, symbol=symbol
        )
        if not order.status.is_open:
            raise EngineReject(Reject.ORDER_NOT_FOUND, "Unknown order sent.")
        order.status = OrderStatus.CANCELED
        order.updated_ms = self.clock.now_ms()
        return order

    def amend(self, account: Account, order: Order, qty: Decimal, price: Decimal) -> Order:
        """Modify Order: a resting LIMIT order gets a new quantity and price and keeps its ids.

        Binance Modify Order (USDⓈ-M): a new quantity or price that fails a filter is refused and the order
        stays; a partially filled order whose new quantity is at most its filled quantity, and a GTX order
        the new price would execute, are cancelled; otherwise the order is re-queued, and a price that
        crosses the book executes as a taker now. Every placement rule applies to the new values
        (reduce-only, notional, position limit, margin), with the order's own reservation released.
        """
        if order.type is not OrderType.LIMIT:
            raise EngineReject(Reject.AMEND_NOT_LIMIT, "Only LIMIT orders can be modified.")
        if not order.status.is_open:
            raise EngineReject(Reject.ORDER_NOT_FOUND, "Order does not exist.")
        if qty == order.qty and price == order.price:
            raise EngineReject(Reject.AMEND_UNCHANGED, "No need to modify the order.")
        if order.amendments >= MAX_AMENDMENTS:
            raise EngineReject(Reject.AMEND_LIMIT, "Exceed maximum modify order limit.")
        inst = self.instruments[order.symbol]
        self._validate_qty(inst, qty)
        _check_tick(inst, price)
        now = self.clock.now_ms()
        taker = self._taker_price(inst, order.side)
        crosses = price >= taker if order.side is OrderSide.BUY else price <= taker
        if qty <= order.filled_qty or (crosses and order.time_in_force is TimeInForce.GTX):
            order.status = OrderStatus.CANCELED
            order.updated_ms = now
            return order
        status = order.status
        order.status = OrderStatus.CANCELED  # its id and reservation do not count against itself
        try:
            self._validate(account, inst, self.amended_request(order, qty, price))
        finally:
            order.status = status
        order.qty, order.price = qty, price
        order.amendments += 1
        order.updated_ms = now
        if crosses:
            fill_price = min(taker, price) if order.side is OrderSide.BUY else max(taker, price)
            self._fill(
                account, order, order.remaining, self._slipped(inst, order.side, fill_price), maker=False
            )
        return order

    @staticmethod
    def amended_request(order: Order, qty: Decimal, price: Decimal) -> OrderRequest:
        """The order as its amendment would place it anew: what every placement rule is checked against."""
        return OrderRequest(
            symbol=order.symbol,
            side=order.side,
            type=order.type,
            qty=qty,
            client_id=order.client_id,
            price=price,
            time_in_force=order.time_in_force,
            reduce_only=order.reduce_only,
        )

    def adjust_margin(self, account: Account, symbol: str, amount: Decimal, *, add: bool) -> MarginChange:
        """Move margin into or out of an isolated position, which moves its liquidation price.

        Binance Modify Isolated Position Margin: only for an isolated position that exists (-4054
        "Cannot add position margin: position is 0."), a positive amount (-4055); an addition comes out of
        the available balance (-4050), a reduction may leave no less than the position's initial margin at
        the mark, unrealized losses counted and profits not (-4051; how much Binance lets go is not
        documented: the harsher reading).
        """
        inst = self.instrument(symbol)
        pos = account.position(inst.symbol)
        if amount <= 0:
            raise EngineReject(Reject.MARGIN_AMOUNT_INVALID, "Amount must be positive.")
        if not pos.qty:
            raise EngineReject(Reject.MARGIN_NO_POSITION, "Cannot add position margin: position is 0.")
        if add:
            if amount > self.available_balance(account):
                raise EngineReject(Reject.MARGIN_ADD_INSUFFICIENT, "Cross balance insufficient.")
            pos.margin += amount
        else:
            view = self.position_view(account, inst.symbol)
            if pos.margin - amount + min(view.unrealized, Decimal(0)) < view.initial_margin:
                raise EngineReject(Reject.MARGIN_REDUCE_INSUFFICIENT, "Isolated balance insufficient.")
            pos.margin -= amount
        change = MarginChange(inst.symbol, amount, add, self.clock.now_ms())
        account.margin_changes.append(change)
        return change

    def _placed_as(self, client_id: str) -> Iterator[Order]:
        for account in self.accounts.values():
            for order in account.orders.values():
                if order.client_id == client_id and order.parent_id is None:
                    yield order

    def hide(self, client_id: str, duration_ms: int) -> None:
        """The orders just placed under `client_id` exist but are not found for `duration_ms`."""
        until = self.clock.now_ms() + duration_ms
        for order in self._placed_as(client_id):
            order.hidden_until_ms = max(order.hidden_until_ms, until)

    def reject_on_trigger(self, client_id: str) -> None:
        """The open conditional orders under `client_id` will be refused by the matching engine when they
        trigger (Binance REJECTED after TRIGGERING, e.g. a margin check; docs/exchange-facts.md §4)."""
        for order in self._placed_as(client_id):
            if order.conditional and order.status.is_open:
                order.reject_on_trigger = True

    def delay_trigger(self, client_id: str, delay_ms: int) -> None:
        """The open conditional orders under `client_id` stay TRIGGERING for `delay_ms` when they fire
        before the matching engine executes or refuses them (Binance Event-Algo-Order-Update)."""
        for order in self._placed_as(client_id):
            if order.conditional and order.status.is_open:
                order.trigger_delay_ms = delay_ms

    def cancel_all(self, account: Account, symbol: str, conditional: bool | None = None) -> list[Order]:
        inst = self.instrument(symbol)
        now = self.clock.now_ms()
        cancelled = self.open_orders(account, inst.symbol, conditional)
        for order in cancelled:
            order.status = OrderStatus.CANCELED
            order.updated_ms = now
        return cancelled

    # ----------------------------------------------------------------- fills and bookkeeping

    def _fill(self, account: Account, order: Order, qty: Decimal, price: Decimal, *, maker: bool) -> Fill:
        inst = self.instruments[order.symbol]
        now = self.clock.now_ms()
        pos = account.position(order.symbol)
        rate = Decimal(0) if order.liquidation else (inst.maker_fee if maker else inst.taker_fee)
        fee = q8(qty * price * rate)
        realized = Decimal(0)
        if pos.qty and pos.side != order.side.sign:
            closing = min(qty, abs(pos.qty))
            realized = q8(closing * (price - pos.entry_price) * pos.side)
            released = q8(pos.margin * closing / abs(pos.qty))
            pos.margin -= released
            pos.qty += order.side.sign * closing
            account.wallet += realized
            opening = qty - closing
            if not pos.qty:
                pos.entry_price = Decimal(0)
                pos.margin = Decimal(0)
        else:
            opening = qty
        if opening:
            size = abs(pos.qty)
            pos.entry_price = (size * pos.entry_price + opening * price) / (size + opening)
            pos.qty += order.side.sign * opening
            pos.margin += q8(opening * price / self.leverage_of(account, order.symbol))
        account.wallet -= fee
        pos.updated_ms = now
        order.filled_qty += qty
        order.cum_quote += qty * price
        order.fee += fee
        order.status = OrderStatus.FILLED if order.filled_qty >= order.qty else OrderStatus.PARTIALLY_FILLED
        order.updated_ms = now
        fill = Fill(
            trade_id=next(self._trade_ids),
            order_id=order.order_id,
            client_id=order.client_id,
            account=account.api_key,
            symbol=order.symbol,
            side=order.side,
            price=price,
            qty=qty,
            fee=fee,
            fee_rate=rate,
            realized_pnl=realized,
            maker=maker,
            time_ms=now,
        )
        account.fills.append(fill)
        info = str(fill.trade_id)
        if realized:
            self._income(account, order.symbol, IncomeType.REALIZED_PNL, realized, info)
        if fee:
            self._income(account, order.symbol, IncomeType.COMMISSION, -fee, info)
        if not pos.qty:
            self._expire_reducing_orders(account, order.symbol, keep=order.order_id)
        elif order.filled_qty >= order.qty:
            self._arm_attached(account, order)
        return fill

    def _income(
        self,
        account: Account,
        symbol: str,
        kind: IncomeType,
        amount: Decimal,
        info: str = "",
        at_ms: int | None = None,
    ) -> None:
        when = self.clock.now_ms() if at_ms is None else at_ms
        account.income.append(
            Income(next(self._income_ids), account.api_key, symbol, kind, amount, when, info)
        )

    def _expire_reducing_orders(self, account: Account, symbol: str, keep: int) -> None:
        """A flat position expires resting reduce-only limit orders and GTE_GTC conditional orders only.

        GTC reduce-only / close-position stops and take-profits stay open and act on whatever position
        exists when they trigger (Binance: EXPIRED is for GTE_GTC only; Phemex: unverified, the harsher
        reading), so a stale leg of a closed position can hit the next one.
        """
        now = self.clock.now_ms()
        for other in self.open_orders(account, symbol):
            if other.order_id == keep or not (other.reduce_only or other.close_position):
                continue
            if not other.conditional or other.time_in_force is TimeInForce.GTE_GTC:
                other.status = OrderStatus.EXPIRED
                other.updated_ms = now

    def _arm_attached(self, account: Account, entry: Order) -> None:
        """Turn an entry's attached stop-loss / take-profit into reduce-only conditional orders."""
        legs: list[tuple[AttachedTrigger | None, OrderType]] = [
            (entry.stop_loss, OrderType.STOP_MARKET),
            (entry.take_profit, OrderType.TAKE_PROFIT_MARKET),
        ]
        now = self.clock.now_ms()
        for attached, kind in legs:
            if attached is None:
                continue
            leg = Order(
                order_id=next(self._order_ids),
                account=account.api_key,
                client_id="",
                symbol=entry.symbol,
                side=entry.side.opposite,
                type=kind,
                qty=entry.filled_qty,
                price=None,
                trigger_price=attached.trigger_price,
                trigger_source=attached.source,
                time_in_force=TimeInForce.GTC,
                reduce_only=True,
                close_position=True,
                status=OrderStatus.UNTRIGGERED,
                created_ms=now,
                updated_ms=now,
                parent_id=entry.order_id,
            )
            account.orders[leg.order_id] = leg
            if leg.triggered_by(self._source_price(leg.symbol, leg.trigger_source)):
                self._trigger(account, leg)

    def _trigger(self, account: Account, order: Order) -> None:
        """A conditional order fires: TRIGGERING for its `trigger_delay_ms` if any, else executed now."""
        if order.trigger_delay_ms <= 0:
            self._execute_trigger(account, order)
            return
        now = self.clock.now_ms()
        order.status = OrderStatus.TRIGGERING
        order.triggered_ms = now
        order.updated_ms = now

    def _execute_due_triggers(self, now_ms: int) -> None:
        """TRIGGERING orders whose delay has passed reach the matching engine, oldest first."""
        for account in self.accounts.values():
            for order in list(account.orders.values()):
                if (
                    order.status is OrderStatus.TRIGGERING
                    and order.triggered_ms is not None
                    and now_ms >= order.triggered_ms + order.trigger_delay_ms
                ):
                    self._execute_trigger(account, order)

    def _execute_trigger(self, account: Account, order: Order) -> Order:
        """It becomes TRIGGERED and a reduce/close market order executes (or the matching engine refuses)."""
        now = self.clock.now_ms()
        child = Order(
            order_id=next(self._order_ids),
            account=account.api_key,
            client_id=order.client_id,
            symbol=order.symbol,
            side=order.side,
            type=OrderType.MARKET,
            qty=order.qty if not order.close_position else abs(account.position(order.symbol).qty),
            price=None,
            trigger_price=order.trigger_price,
            trigger_source=order.trigger_source,
            time_in_force=TimeInForce.GTC,
            reduce_only=order.reduce_only,
            close_position=order.close_position,
            status=OrderStatus.NEW,
            created_ms=now,
            updated_ms=now,
            parent_id=order.order_id,
        )
        account.orders[child.order_id] = child
        order.status = OrderStatus.TRIGGERED
        order.child_id = child.order_id
        order.triggered_ms = order.triggered_ms or now
        order.updated_ms = now
        if order.reject_on_trigger or not self._margin_for_trigger(account, order, child):
            child.status = OrderStatus.EXPIRED
            order.status = OrderStatus.REJECTED
            return child
        self._execute_market(account, child)
        if not child.filled_qty:
            order.status = OrderStatus.REJECTED  # Binance: "Reduce Only reject" after TRIGGERING
        if child.status is OrderStatus.FILLED:
            order.filled_qty = child.filled_qty
            order.cum_quote = child.cum_quote
            order.fee = child.fee
            if order.close_position:
                order.qty = child.qty
        return child

    def _margin_for_trigger(self, account: Account, order: Order, child: Order) -> bool:
        """A triggered order that may open a position needs margin for what it opens."""
        if child.reduce_only:
            return True
        ref = self._taker_price(self.instruments[order.symbol], order.side)
        pos = account.position(order.symbol)
        opening = child.qty if pos.side != -order.side.sign else max(child.qty - abs(pos.qty), Decimal(0))
        return opening * ref / self.leverage_of(account, order.symbol) <= self.available_balance(account)

    # ----------------------------------------------------------------- market moves

    def set_mark(self, symbol: str, price: Decimal, last: Decimal | None = None) -> list[Fill]:  # noqa: C901 - collect every crossed level, then execute them in path order
        """Move the mark (and last) price, then run every trigger, limit fill and liquidation it crosses.

        Events fire in the order the price path passes their levels; executions happen at the new price.
        """
        inst = self.instrument(symbol)
        symbol = inst.symbol
        if price <= 0:
            raise EngineReject(Reject.QTY_INVALID, "price must be positive")
        old_mark = self.marks[symbol]
        self.marks[symbol] = price
        self.lasts[symbol] = last if last is not None else price
        rising = price >= old_mark
        fills_before = {key: len(acct.fills) for key, acct in self.accounts.items()}
        events: list[tuple[Decimal, int, str, int]] = []
        for key, account in self.accounts.items():
            for order in self.open_orders(account, symbol):
                if order.conditional and order.triggered_by(self._source_price(symbol, order.trigger_source)):
                    assert order.trigger_price is not None
                    events.append((order.trigger_price, order.order_id, key, 0))
                elif order.type is OrderType.LIMIT and self._marketable(order):
                    assert order.price is not None
                    events.append((order.price, order.order_id, key, 0))
            pos = account.position(symbol)
            if pos.qty:
                liq = self._liquidation_price(inst, pos)
                if (pos.qty > 0 and price <= liq) or (pos.qty < 0 and price >= liq):
                    events.append((liq, -1, key, 1))
        events.sort(key=lambda e: (e[0] if rising else -e[0], e[1]))
        for _level, order_id, key, is_liquidation in events:
            account = self.accounts[key]
            if is_liquidation:
                self._liquidate_if_due(account, symbol)
                continue
            order = account.orders[order_id]
            if not order.status.is_open:
                continue
            if order.conditional:
                self._trigger(account, order)
            else:
                assert order.price is not None
                self._fill(account, order, order.remaining, order.price, maker=True)
        for account in self.accounts.values():
            self._liquidate_if_due(account, symbol)
        return [fill for key, acct in self.accounts.items() for fill in acct.fills[fills_before[key] :]]

    def _liquidate_if_due(self, account: Account, symbol: str) -> None:
        view = self.position_view(account, symbol)
        if not view.qty or view.margin + view.unrealized > view.maint_margin:
            return
        pos = account.position(symbol)
        margin = pos.margin
        now = self.clock.now_ms()
        order = Order(
            order_id=next(self._order_ids),
            account=account.api_key,
            client_id=f"{LIQUIDATION_CLIENT_PREFIX}{now}-{symbol}",
            symbol=symbol,
            side=OrderSide.SELL if pos.qty > 0 else OrderSide.BUY,
            type=OrderType.MARKET,
            qty=abs(pos.qty),
            price=None,
            trigger_price=None,
            trigger_source=TriggerSource.MARK,
            time_in_force=TimeInForce.IOC,
            reduce_only=True,
            close_position=False,
            status=OrderStatus.NEW,
            created_ms=now,
            updated_ms=now,
            liquidation=True,
        )
        account.orders[order.order_id] = order
        fill = self._fill(account, order, order.qty, self.marks[symbol], maker=False)
        remaining_equity = margin + fill.realized_pnl
        account.wallet -= remaining_equity
        self.insurance_fund += remaining_equity
        self._income(account, symbol, IncomeType.INSURANCE_CLEAR, -remaining_equity, str(fill.trade_id))

    # ----------------------------------------------------------------- funding

    def set_funding_rate(self, symbol: str, rate: Decimal) -> None:
        self.funding_rates[self.instrument(symbol).symbol] = rate

    def catch_up(self, now_ms: int | None = None) -> list[FundingEvent]:
        """Execute the TRIGGERING orders now due, then settle every funding boundary the clock has passed,
        oldest first."""
        now = self.clock.now_ms() if now_ms is None else now_ms
        self._execute_due_triggers(now)
        settled: list[FundingEvent] = []
        for symbol, inst in self.instruments.items():
            while self.next_funding_ms[symbol] <= now:
                settled.append(self.settle_funding(symbol, self.next_funding_ms[symbol]))
                self.next_funding_ms[symbol] += inst.funding_interval_ms
        return settled

    def settle_funding(self, symbol: str, at_ms: int) -> FundingEvent:
        """Longs pay shorts qty × mark × rate (the reverse when the rate is negative)."""
        mark = self.marks[symbol]
        rate = self.funding_rates[symbol]
        event = FundingEvent(symbol, at_ms, rate, mark)
        self.funding_history[symbol].append(event)
        for account in self.accounts.values():
            pos = account.position(symbol)
            if not pos.qty:
                continue
            payment = q8(-pos.qty * mark * rate)
            account.wallet += payment
            pos.margin += payment
            self._income(account, symbol, IncomeType.FUNDING_FEE, payment, at_ms=at_ms)
            self._liquidate_if_due(account, symbol)
        return event


def _next_boundary(now_ms: int, interval_ms: int) -> int:
    return (now_ms // interval_ms + 1) * interval_ms


def _check_tick(inst: Instrument, price: Decimal) -> None:
    if price % inst.tick:
        raise EngineReject(Reject.PRICE_TICK, "Price not increased by tick size.")
