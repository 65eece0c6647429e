"""`executor exchange check`: the configured exchange and key, read through the port, as a checklist.

Each line is OK, WARN or FAIL with what to do about it. The judgement of each fact is a pure function
(`judge_*`); `run_checks` only gathers the facts, so an exchange error becomes a FAIL line naming it
rather than an exception. With `orders=True` (paper only: the CLI refuses it live) it also places a
far-from-market limit entry and a far stop with our client ids, reads both back by id and cancels them.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import partial
from typing import TypeVar

from executor.domain.account import AccountSnapshot, MarginMode
from executor.domain.client_ids import client_order_id
from executor.domain.enums import EntryType, ExchangeFamily, ExchangeId, ExchangeMode, OrderKind, Side
from executor.domain.key_setup import KeyPermissions, PositionMode, RateBudget, SymbolSetup
from executor.domain.market import MarketDataItem, MarketSnapshot
from executor.domain.money import ceil_to_step, floor_to_step
from executor.domain.orders import EntryRequest, Order, OrderStatus
from executor.ports.errors import ExchangeError
from executor.ports.exchange import ExchangePort

T = TypeVar("T")

MAX_SYMBOLS = 10
"""With `allowed_symbols` empty every listed symbol may be traded; at most this many are checked."""
SKEW_OK = timedelta(milliseconds=500)
SKEW_LIMIT = timedelta(seconds=1)
"""Binance refuses a request stamped more than 1 s ahead of its clock (-1021)."""
FAR = Decimal("0.96")
"""The check's limit rests this far under the mark: inside Binance's PERCENT_PRICE band (typically
0.95 × mark for a buy; a narrower published band is followed), so it is accepted, and too far to fill
during the seconds it rests."""
STOP_FAR = Decimal("0.90")
BAND_MARGIN = Decimal("0.005")
"""Where the exchange publishes a price band (MarketFilters.price_band_down), the limit stays this far
inside it."""


class CheckStatus(StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    status: CheckStatus
    detail: str
    fix: str = ""


@dataclass(frozen=True, slots=True)
class CheckTarget:
    """What the configuration says is traded and how."""

    exchange: ExchangeId
    mode: ExchangeMode
    symbols: tuple[str, ...]
    """The risk profile's allowed symbols; empty: every listed one."""
    request_window: timedelta = timedelta(seconds=5)


def ok(name: str, detail: str) -> CheckResult:
    return CheckResult(name, CheckStatus.OK, detail)


def warn(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, CheckStatus.WARN, detail, fix)


def fail(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, CheckStatus.FAIL, detail, fix)


def passed(results: Sequence[CheckResult]) -> bool:
    """Exit 0 only when nothing FAILs."""
    return all(result.status is not CheckStatus.FAIL for result in results)


# --------------------------------------------------------------------------- judgements (pure)


def judge_clock(skew: timedelta, round_trip: timedelta, window: timedelta) -> CheckResult:
    """`skew` = exchange clock − host clock (at the middle of the round trip)."""
    detail = f"answered in {_ms(round_trip)}; exchange clock {_signed_ms(skew)} from this host's"
    fix = "sync this host's clock (chrony or systemd-timesyncd)"
    if -skew > SKEW_LIMIT or skew > window:
        return fail("reachability and clock", detail + ": signed requests are refused", fix)
    if abs(skew) > SKEW_OK:
        return warn("reachability and clock", detail, fix)
    return ok("reachability and clock", detail)


def judge_permissions(permissions: KeyPermissions, family: ExchangeFamily) -> list[CheckResult]:
    name = "key permissions"
    where = "API Management" if family is ExchangeFamily.BINANCE else "Account → API Management"
    results = []
    if permissions.trading is None:
        results.append(
            warn(
                name,
                f"trading permission unknown: {permissions.unknown_why}",
                f"check in {where} that the key may trade USDT perpetuals; `--orders` (paper) proves it",
            )
        )
    elif not permissions.trading:
        permission = "Enable Futures" if family is ExchangeFamily.BINANCE else "Trade"
        results.append(
            fail(name, "the key may not trade futures", f"turn on {permission} for this key in {where}")
        )
    else:
        results.append(ok(name, "trading on"))
    if permissions.withdrawals is None:
        results.append(
            warn(
                name,
                f"withdrawal permission unknown: {permissions.unknown_why}",
                f"check in {where} that Withdraw is off: the executor never withdraws",
            )
        )
    elif permissions.withdrawals:
        results.append(
            warn(name, "withdrawals on", f"turn withdrawals off in {where}: the executor never withdraws")
        )
    else:
        results.append(ok(name, "withdrawals off"))
    return results


def judge_setup(setup: SymbolSetup, holds_anything: bool) -> list[CheckResult]:
    symbol = setup.symbol
    results = []
    if setup.position_mode is PositionMode.HEDGE:
        fix = "switch to one-way position mode: the executor trades one-way only"
        if holds_anything:
            results.append(
                fail(
                    f"position mode {symbol}",
                    "hedge mode with a position or orders open",
                    fix + " (close first)",
                )
            )
        else:
            results.append(
                warn(f"position mode {symbol}", "hedge mode, nothing open", fix + " (or let it at start-up)")
            )
    elif setup.position_mode is None:
        results.append(
            warn(f"position mode {symbol}", "not reported", "check it in the exchange's position settings")
        )
    else:
        results.append(ok(f"position mode {symbol}", "one-way"))
    leverage = f"{setup.leverage}x" if setup.leverage else "leverage not reported"
    if setup.margin_mode is MarginMode.CROSS:
        results.append(
            warn(
                f"margin {symbol}",
                f"cross, {leverage}",
                "the executor sets isolated before its first entry; it cannot while anything is open there",
            )
        )
    elif setup.margin_mode is None:
        results.append(
            warn(f"margin {symbol}", f"margin mode not reported, {leverage}", "check it on the exchange")
        )
    else:
        results.append(ok(f"margin {symbol}", f"isolated, {leverage} (each entry sets its own)"))
    return results


def judge_market(snapshot: MarketSnapshot, family: ExchangeFamily) -> list[CheckResult]:
    symbol = snapshot.symbol
    results = []
    tiers = snapshot.tiers
    if not tiers:
        results.append(
            fail(
                f"leverage tiers {symbol}",
                "none",
                "the risk engine refuses entries without them: see the logs",
            )
        )
    elif MarketDataItem.TIERS in snapshot.stale:
        results.append(warn(f"leverage tiers {symbol}", f"{len(tiers)} tiers, stale", "retry in a minute"))
    else:
        results.append(
            ok(f"leverage tiers {symbol}", f"{len(tiers)} tiers, up to {int(tiers[0].max_leverage)}x")
        )
    fund = snapshot.insurance_fund
    if family is ExchangeFamily.PHEMEX:
        results.append(
            ok(f"insurance fund {symbol}", "not published by Phemex: the risk engine treats it as low")
        )
    elif fund is None:
        results.append(
            warn(
                f"insurance fund {symbol}",
                "unavailable or stale: the risk engine treats it as low",
                "retry; if it persists, GET /fapi/v1/insuranceBalance is failing",
            )
        )
    else:
        results.append(ok(f"insurance fund {symbol}", f"{fund.normalize():,f} {snapshot.settle_asset}"))
    funding = snapshot.funding
    if funding is None or MarketDataItem.FUNDING in snapshot.stale:
        results.append(
            fail(f"funding {symbol}", "no fresh funding rate", "retry; entries are refused without one")
        )
    else:
        interval = (
            f"every {funding.interval.total_seconds() / 3600:g} h" if funding.interval else "interval unknown"
        )
        results.append(ok(f"funding {symbol}", f"rate {funding.rate.normalize():f}, {interval}"))
    return results


def judge_budget(budget: RateBudget, read_share: float) -> CheckResult:
    detail = (
        f"client budget {budget.units_per_minute:,.0f} units per rolling minute against "
        f"{budget.exchange_limit}; {budget.window_use:.0%} used now"
    )
    if not budget.within_limit:
        return warn(
            "rate limit", detail, "the client can send more than this venue allows: expect 429 pauses"
        )
    if budget.window_use > read_share:
        return warn("rate limit", detail, "another client on this key or IP is spending the budget")
    return ok("rate limit", detail)


def judge_equity(account: AccountSnapshot) -> CheckResult:
    detail = (
        f"equity {account.equity.normalize():,f} {account.currency}, "
        f"free {account.free_margin.normalize():,f}, {len(account.positions)} open position(s)"
    )
    if account.equity <= 0:
        return fail("equity", detail, f"transfer {account.currency} to the futures wallet")
    if account.free_margin <= 0:
        return warn("equity", detail, "no free margin: entries will be refused")
    return ok("equity", detail)


# --------------------------------------------------------------------------- gathering


async def _read(name: str, fix: str, call: Callable[[], Awaitable[T]]) -> T | CheckResult:
    try:
        return await call()
    except ExchangeError as error:
        return fail(name, str(error), fix)


async def run_checks(
    port: ExchangePort, target: CheckTarget, *, orders: bool = False, read_share: float = 0.75
) -> list[CheckResult]:
    results: list[CheckResult] = []
    family = target.exchange.family
    server = await _read(
        "reachability and clock", "check the network and the exchange's status", port.server_time
    )
    if isinstance(server, CheckResult):
        return [server]
    skew = server.at + server.round_trip / 2 - datetime.now(UTC)
    results.append(judge_clock(skew, server.round_trip, target.request_window))

    permissions = await _read("key permissions", "check the key and secret", port.key_permissions)
    results += (
        [permissions] if isinstance(permissions, CheckResult) else judge_permissions(permissions, family)
    )

    markets = await _read("markets", "retry; the exchange may be in maintenance", port.markets)
    if isinstance(markets, CheckResult):
        return [*results, markets]
    symbols, found = choose_symbols(target.symbols, sorted(markets))
    results += found

    account = await _read("equity", "check the key's futures permission", port.account_snapshot)
    held = await _held(port, account, symbols)
    setups = await _read(
        "position and margin mode", "check the key's futures permission", lambda: port.symbol_setups(symbols)
    )
    if isinstance(setups, CheckResult):
        results.append(setups)
    else:
        for symbol in symbols:
            results += judge_setup(setups[symbol], blocks_switch(held, symbol, family))

    for symbol in symbols:
        snapshot = await _read(f"market data {symbol}", "retry", partial(port.market_snapshot, symbol))
        results += [snapshot] if isinstance(snapshot, CheckResult) else judge_market(snapshot, family)

    if symbols:
        results.append(await check_order_lists(port, symbols[0]))
    results.append(judge_budget(port.rate_budget(), read_share))
    results.append(account if isinstance(account, CheckResult) else judge_equity(account))
    if orders and symbols:
        results += await order_round_trip(port, symbols[0])
    return results


async def _held(
    port: ExchangePort, account: AccountSnapshot | CheckResult, symbols: list[str]
) -> set[str] | None:
    """Symbols with a position or an open order (which block a position-mode switch: Binance
    -4067/-4068, Phemex 20004); None when the account or an order list cannot be read."""
    if not isinstance(account, AccountSnapshot):
        return None
    held = {position.symbol for position in account.positions}
    for symbol in symbols:
        try:
            if await port.open_orders(symbol):
                held.add(symbol)
        except ExchangeError:
            return None
    return held


def blocks_switch(held: set[str] | None, symbol: str, family: ExchangeFamily) -> bool:
    """Binance keeps one position mode per account, so anything held anywhere blocks it; Phemex one per
    symbol. Unknown counts as held."""
    if held is None:
        return True
    return bool(held) if family is ExchangeFamily.BINANCE else symbol in held


def choose_symbols(allowed: Sequence[str], listed: Sequence[str]) -> tuple[list[str], list[CheckResult]]:
    """The allowed symbols that are listed (a FAIL for each that is not); all listed ones, at most
    MAX_SYMBOLS, when none are configured."""
    if not allowed:
        chosen = list(listed[:MAX_SYMBOLS])
        if len(listed) <= MAX_SYMBOLS:
            return chosen, []
        return chosen, [
            warn(
                "symbols",
                f"allowed_symbols is empty: all {len(listed)} listed symbols may be traded; checked "
                f"{', '.join(chosen)}",
                "list the symbols you trade in the risk profile's allowed_symbols",
            )
        ]
    unknown = [
        fail(f"symbol {s}", "not a listed USDT perpetual", "correct the risk profile's allowed_symbols")
        for s in allowed
        if s not in listed
    ]
    return [s for s in allowed if s in listed], unknown


async def check_order_lists(port: ExchangePort, symbol: str) -> CheckResult:
    """Open orders, normal and conditional (Binance's algo endpoint, Phemex's untriggered list)."""
    listed = await _read(
        "conditional orders",
        "the executor cannot see its stops: check the key's permissions",
        partial(port.open_orders, symbol),
    )
    if isinstance(listed, CheckResult):
        return listed
    conditional = sum(order.conditional for order in listed)
    return ok("conditional orders", f"open orders of {symbol} read, {conditional} of them conditional")


async def order_round_trip(port: ExchangePort, symbol: str) -> list[CheckResult]:
    """A far limit entry with its stop and a separate far stop, under our client ids: read back by id,
    then cancelled; whatever was placed is cancelled even when a step fails."""
    name = "orders"
    snapshot = await port.market_snapshot(symbol)
    if snapshot.mark_price is None or snapshot.filters is None:
        return [fail(name, f"no mark price or filters for {symbol}", "retry")]
    filters = snapshot.filters
    far = FAR if filters.price_band_down is None else max(FAR, filters.price_band_down + BAND_MARGIN)
    price = ceil_to_step(snapshot.mark_price * far, filters.price_tick)
    stop_price = floor_to_step(snapshot.mark_price * STOP_FAR, filters.price_tick)
    qty = max(filters.min_amount, ceil_to_step(filters.min_notional / price, filters.amount_step))
    qty = ceil_to_step(qty, filters.amount_step)
    signal_id = f"exchange-check-{time.time_ns()}"
    ids = [
        client_order_id(signal_id, OrderKind.ENTRY),
        client_order_id(signal_id, OrderKind.STOP),
        client_order_id(signal_id, OrderKind.STOP, 1),
    ]
    request = EntryRequest(symbol, Side.LONG, qty, EntryType.LIMIT, price, stop_price, ids[0], ids[1])
    placed: list[Order] = []
    results: list[CheckResult] = []
    try:
        entry = await port.open_with_stop(request)
        placed += [order for order in (entry.entry, entry.stop) if order is not None]
        far_stop = await port.place_stop(symbol, Side.LONG, qty, stop_price, ids[2])
        placed.append(far_stop)
        found = [await port.fetch_order(symbol, order.client_id or "") for order in placed]
        missing = [
            order.client_id
            for order, seen in zip(placed, found, strict=True)
            if seen is None or not seen.is_open
        ]
        if missing:
            results.append(fail(name, f"placed but not found open by client id: {missing}", "see the logs"))
        else:
            results.append(
                ok(
                    name,
                    f"limit buy {qty} {symbol} at {price} and stops at {stop_price} placed, "
                    "read back by client id",
                )
            )
    except ExchangeError as error:
        results.append(
            fail(name, f"placing the check's orders failed: {error}", "check the key's trading permission")
        )
    finally:
        results.append(await _cancel_all(port, placed))
    return results


async def _cancel_all(port: ExchangePort, placed: list[Order]) -> CheckResult:
    if not placed:
        return ok("orders cancelled", "nothing was placed")
    left = []
    for order in placed:
        try:
            final = await port.cancel_order(order)
        except ExchangeError as error:
            left.append(f"{order.client_id} ({error})")
            continue
        if final.status is not OrderStatus.CANCELED:
            left.append(f"{order.client_id} ({final.status.value})")
    if left:
        return fail(
            "orders cancelled", f"not cancelled: {', '.join(left)}", "cancel them on the exchange by hand"
        )
    return ok("orders cancelled", f"{len(placed)} order(s) cancelled")


def _ms(value: timedelta) -> str:
    return f"{value.total_seconds() * 1000:.0f} ms"


def _signed_ms(value: timedelta) -> str:
    return f"{value.total_seconds() * 1000:+.0f} ms"
