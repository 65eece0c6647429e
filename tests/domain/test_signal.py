"""The domain's Instruction: what the inbox stores and execution reads back, without the wire schema."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from executor.domain.enums import Action, EntryType, Side
from executor.domain.signal import (
    Entry,
    Instruction,
    InvalidInstruction,
    InvalidSymbol,
    perpetual_symbol,
)

LIMIT_LONG = Instruction(
    id="sol-1",
    symbol="SOL/USDT:USDT",
    side=Side.LONG,
    entry=Entry(EntryType.LIMIT, Decimal("74.10")),
    stop=Decimal("70.00"),
    expires_at=datetime(2026, 6, 2, 14, tzinfo=UTC),
    strategy="breakout 4h",
)


def test_the_stored_payload_keeps_exact_decimals_and_reads_back_equal() -> None:
    payload = LIMIT_LONG.payload()
    assert payload == {
        "id": "sol-1",
        "symbol": "SOL/USDT:USDT",
        "action": "open",
        "side": "long",
        "entry": {"type": "limit", "price": "74.10"},
        "stop": "70.00",
        "expires_at": "2026-06-02T14:00:00Z",
        "strategy": "breakout 4h",
    }
    assert Instruction.from_payload(payload) == LIMIT_LONG


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"id": "m", "symbol": "SOLUSDT", "action": "move_stop"}, "move_stop needs stop"),
        ({"id": "o", "symbol": "SOLUSDT", "stop": "1"}, "open needs side, entry"),
        ({"id": "c", "symbol": "SOLUSDT", "action": "close", "leverage": 3}, "leverage"),
        ({"id": "c", "action": "close"}, "symbol"),
        ({"id": "c", "symbol": "SOLUSDT", "action": "sell"}, "action"),
    ],
)
def test_a_payload_that_is_not_an_instruction_is_refused_on_one_line(
    payload: dict[str, object], fragment: str
) -> None:
    with pytest.raises(InvalidInstruction) as refused:
        Instruction.from_payload(payload)
    assert fragment in str(refused.value) and "\n" not in str(refused.value)


def test_a_close_needs_only_its_symbol() -> None:
    close = Instruction(id="c", symbol="SOLUSDT", action=Action.CLOSE)
    assert close.payload() == {"id": "c", "symbol": "SOLUSDT", "action": "close"}


def test_a_perpetual_symbol_is_checked_as_a_senders_is() -> None:
    assert perpetual_symbol("BTC/USDT:USDT") == "BTC/USDT:USDT"
    with pytest.raises(InvalidSymbol, match=r"BTC/USDC is a spot symbol.*e\.g\. BTC/USDC:USDC"):
        perpetual_symbol("BTC/USDC")
    with pytest.raises(InvalidSymbol, match="ccxt unified perpetual symbol"):
        perpetual_symbol("BTC USDT")
