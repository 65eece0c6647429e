"""Phemex closed positions (`GET /api-data/g-futures/closedPosition`, ccxt `fetch_position_history`), derived
from an account's fills and funding: a position's term runs from the fill that opens it to the fill that
brings it back to zero (a flip closes one term and opens the next)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from adapters.sim.model import Account, IncomeType, fmt
from executor.domain.money import ZERO


@dataclass
class Term:
    """One position from open to close (or still open, `finished` False)."""

    symbol: str
    index: int
    long: bool
    opened_ms: int
    updated_ms: int = 0
    opened_qty: Decimal = ZERO
    open_value: Decimal = ZERO
    closed_qty: Decimal = ZERO
    close_value: Decimal = ZERO
    closed_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    funding_paid: Decimal = ZERO
    finished: bool = False


def closed_terms(account: Account, symbol: str) -> list[Term]:
    """Every term with something closed, oldest first."""
    terms: list[Term] = []
    qty = ZERO
    term: Term | None = None
    for fill in (f for f in account.fills if f.symbol == symbol):
        signed = fill.qty * fill.side.sign
        remaining = fill.qty
        fee_per_unit = fill.fee / fill.qty
        if term is not None and qty and (qty > 0) != (signed > 0):
            closing = min(remaining, abs(qty))
            term.closed_qty += closing
            term.close_value += closing * fill.price
            term.closed_pnl += fill.realized_pnl
            term.fees += fee_per_unit * closing
            term.updated_ms = fill.time_ms
            qty += closing * fill.side.sign
            remaining -= closing
            if not qty:
                term.finished = True
                term = None
        if remaining:
            if term is None:
                term = Term(symbol, len(terms), long=signed > 0, opened_ms=fill.time_ms)
                terms.append(term)
            term.opened_qty += remaining
            term.open_value += remaining * fill.price
            term.fees += fee_per_unit * remaining
            term.updated_ms = fill.time_ms
            qty += remaining * fill.side.sign
    for t in terms:
        end = t.updated_ms if t.finished else None
        t.funding_paid = -sum(
            (
                i.amount
                for i in account.income
                if i.symbol == symbol
                and i.type is IncomeType.FUNDING_FEE
                and t.opened_ms < i.time_ms
                and (end is None or i.time_ms <= end)
            ),
            ZERO,
        )
    return [t for t in terms if t.closed_qty]


def closed_position_row(term: Term, leverage: int) -> dict[str, Any]:
    """ccxt's sample row (`phemex.py:3827-3846`): numeric `side` ("1" long), the times in ms although named
    `…Ns` (as the sample has them, 13 digits), Phemex's fee signs (paid positive), `realizedPnlRv` =
    closed PnL − fees − funding paid; `roi` on the margin the closed part held (unverified)."""
    realized = term.closed_pnl - term.fees - term.funding_paid
    open_price = term.open_value / term.opened_qty
    margin = term.closed_qty * open_price / leverage
    return {
        "symbol": term.symbol,
        "currency": "USDT",
        "term": str(term.index),
        "closedSizeRq": fmt(term.closed_qty),
        "side": "1" if term.long else "2",
        "cumEntryValueRv": None,
        "closedPnlRv": fmt(term.closed_pnl),
        "exchangeFeeRv": fmt(term.fees),
        "fundingFeeRv": fmt(term.funding_paid),
        "realizedPnlRv": fmt(realized),
        "finished": "1" if term.finished else "0",
        "openedTimeNs": str(term.opened_ms),
        "updatedTimeNs": str(term.updated_ms),
        "openPrice": fmt(open_price),
        "closePrice": fmt(term.close_value / term.closed_qty),
        "roi": fmt(realized / margin if margin else ZERO),
        "leverage": str(leverage),
    }
