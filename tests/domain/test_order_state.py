from __future__ import annotations

from datetime import UTC, datetime

import pytest

from executor.domain.order_state import IllegalTransition, OrderState, advance, can_move

AT = datetime(2026, 6, 2, tzinfo=UTC)


def test_pending_order_reaches_filled_with_its_history_recorded() -> None:
    state, history = advance(OrderState.PENDING, OrderState.OPEN, [], AT)
    state, history = advance(state, OrderState.FILLED, history, AT, "stop triggered")
    assert state is OrderState.FILLED
    assert [h["state"] for h in history] == ["open", "filled"] and history[-1]["note"] == "stop triggered"


def test_a_repeated_report_of_the_same_state_changes_nothing() -> None:
    assert advance(OrderState.OPEN, OrderState.OPEN, [{"state": "open"}], AT) == (
        OrderState.OPEN,
        [{"state": "open"}],
    )


@pytest.mark.parametrize(
    "final", [OrderState.FILLED, OrderState.CANCELED, OrderState.REJECTED, OrderState.NOT_SENT]
)
def test_final_states_never_move_again_except_to_what_the_exchange_later_reports(final: OrderState) -> None:
    assert final.is_final and not final.may_be_live
    overrides = {
        OrderState.NOT_SENT: {OrderState.OPEN, OrderState.FILLED, OrderState.CANCELED},
        OrderState.CANCELED: {OrderState.FILLED},
    }.get(final, set())
    for target in OrderState:
        if target == final:
            continue
        assert not can_move(final, target)
        if target in overrides:
            state, history = advance(final, target, [], AT, "looked up")
            assert state is target and history[-1]["note"] == (
                f"the exchange reports it {target.value} after it was settled {final.value}: looked up"
            )
        else:
            with pytest.raises(IllegalTransition):
                advance(final, target, [], AT)


def test_an_open_order_cannot_become_unknown_or_pending_again() -> None:
    assert not can_move(OrderState.OPEN, OrderState.PENDING)
    assert not can_move(OrderState.OPEN, OrderState.UNKNOWN)


def test_only_unresolved_and_open_orders_may_be_live_on_the_exchange() -> None:
    assert {s for s in OrderState if s.may_be_live} == {
        OrderState.PENDING,
        OrderState.UNKNOWN,
        OrderState.OPEN,
    }
