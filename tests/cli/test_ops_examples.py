"""examples/*.json, the README walk-through's signals: valid, and sized by the handbook profile on the
embedded simulator as the daemon would size them (its own signal translation, the simulator's instruments,
start prices and 10,000 USDT account)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.sim.config import load_sim_config
from executor.config.risk_profiles import load_profile
from executor.domain.enums import Action, EntryType
from executor.execution.snapshots import risk_signal
from executor.risk import CarriedState, LeverageBracket, RiskAccount, RiskMarket, decide
from executor.signals.schema import SignalMessage

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOW = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)
SIM = load_sim_config()


def examples() -> dict[str, SignalMessage]:
    return {path.name: SignalMessage.parse(path.read_bytes()) for path in sorted(EXAMPLES.glob("*.json"))}


def sim_market(symbol: str, price: Decimal) -> RiskMarket:
    instrument = SIM.instrument(symbol)
    return RiskMarket(
        price=price,
        amount_step=instrument.step,
        price_tick=instrument.tick,
        min_amount=instrument.min_qty,
        min_notional=instrument.min_notional,
        max_leverage=instrument.max_leverage,
        leverage_tiers=tuple(
            LeverageBracket(tier.cap, tier.max_leverage, tier.mmr, tier.cum) for tier in instrument.tiers
        ),
        taker_fee=instrument.taker_fee,
        funding_rate=SIM.funding_rate,
        funding_interval_hours=Decimal(instrument.funding_interval_hours),
        insurance_fund=SIM.insurance_fund,
        quoted_at=NOW,
    )


def test_every_example_is_a_valid_signal_and_together_they_cover_the_walkthrough() -> None:
    found = examples()

    kinds = {
        (signal.action, signal.entry.type if signal.entry else None, signal.symbol)
        for signal in found.values()
    }
    assert kinds == {
        (Action.OPEN, EntryType.MARKET, "SOL/USDT:USDT"),
        (Action.MOVE_STOP, None, "SOL/USDT:USDT"),
        (Action.CLOSE, None, "SOL/USDT:USDT"),
        (Action.OPEN, EntryType.LIMIT, "ETH/USDT:USDT"),
    }
    assert len({signal.id for signal in found.values()}) == len(found)


@pytest.mark.parametrize("drift", ["0.98", "1", "1.03"])
def test_the_open_examples_are_accepted_by_the_handbook_profile_near_the_simulators_start_prices(
    drift: str,
) -> None:
    """Not at 3 % down: the ETH limit (2970, stop 2910) is then through the market at 2910 and is judged
    there, on its stop (docs/risk.md "The price a decision stands on")."""
    profile = load_profile("handbook")
    equity = SIM.start_balance
    account = RiskAccount(equity=equity, free_margin=equity, start_of_day_equity=equity, peak_equity=equity)
    opens = [signal for signal in examples().values() if signal.action is Action.OPEN]
    assert opens

    for signal in opens:
        price = SIM.instrument(signal.symbol).start_price * Decimal(drift)
        decision = decide(
            risk_signal(signal.instruction(), signal.symbol),
            account,
            sim_market(signal.symbol, price),
            profile,
            CarriedState.initial(),
            NOW,
        )

        assert decision.accepted, (signal.id, drift, decision.message)
        assert decision.qty is not None and decision.qty > 0
        assert decision.risk_pct is not None and decision.risk_pct <= Decimal("1")


def test_the_move_stop_example_moves_the_open_examples_stop_toward_profit_below_the_price() -> None:
    found = examples().values()
    [market_long] = [s for s in found if s.action is Action.OPEN and s.symbol == "SOL/USDT:USDT"]
    [move] = [s for s in found if s.action is Action.MOVE_STOP]
    [close] = [s for s in found if s.action is Action.CLOSE]
    assert market_long.stop is not None and move.stop is not None

    assert (move.symbol, move.side) == (close.symbol, close.side) == (market_long.symbol, market_long.side)
    start = SIM.instrument(move.symbol).start_price
    assert market_long.stop < move.stop < start * Decimal("0.99")
