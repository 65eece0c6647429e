"""What people read of a step log (explain, the dashboard): a loss as money, never a negative loss."""

from __future__ import annotations

from executor.domain.display import step_pairs


def test_a_step_logs_negative_loss_reads_as_the_gain_it_is_and_a_loss_as_money() -> None:
    assert step_pairs({"loss": "-3.456", "limit": "300"}) == "gain=3.46, limit=300"
    shown = step_pairs({"loss": "12.345", "tripped": False, "until": None})
    assert shown == "loss=12.35, tripped=false, until=null"
    assert step_pairs({}) == step_pairs(None) == "—"
