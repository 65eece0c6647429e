"""`executor explain SIGNAL_ID`: what became of one signal, and why, in the risk engine's own steps."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from executor.cli.access import fail, with_store
from executor.cli.common import EXIT_BAD_INPUT, config_option, settings_or_exit
from executor.cli.status import order_line, when
from executor.domain.display import money, percent, step_pairs
from executor.domain.enums import PositionStatus
from executor.service.explanation import explanation

SIGNAL_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


@click.command()
@click.argument("signal_id")
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as one JSON object.")
@config_option
def explain(signal_id: str, as_json: bool, config_path: Path | None) -> None:
    """Show SIGNAL_ID's decision and its step log in words, with the orders it produced."""
    if not SIGNAL_ID.fullmatch(signal_id):
        fail(
            f"{signal_id!r} is not a signal id: ids are 1–64 characters of A-Z a-z 0-9 . _ : -",
            EXIT_BAD_INPUT,
        )
    settings = settings_or_exit(config_path)
    account = settings.exchange.account
    found = with_store(settings, lambda store: explanation(store, account, signal_id))
    if found is None:
        fail(
            f"no signal {signal_id!r} in account {account!r}: it never arrived, or arrived invalid "
            "(invalid messages are not stored as signals); ids are case-sensitive"
        )
    if as_json:
        click.echo(json.dumps(found, indent=2, ensure_ascii=False))
    else:
        click.echo("\n".join(render(found)))


def render(found: Mapping[str, Any]) -> list[str]:
    signal = found["signal"]
    lines = [
        f"signal {signal['signal_id']} · from {signal['source']} · received {when(signal['received_at'])}",
        f"  {_describe(signal['payload'])}",
    ]
    decision = found["decision"]
    if decision is not None:
        lines += _decision_lines(decision)
    elif signal["status"] == "queued":
        lines.append("not decided yet: it waits in the inbox for the daemon")
    elif signal["status"] == "failed":
        lines.append(f"FAILED {when(signal['decided_at'])}: {signal['error']}")
    else:
        action = signal["payload"].get("action", "open")
        lines.append(
            f"DONE {when(signal['decided_at'])}: a {action} is carried out on the open position "
            "without sizing, so it has no step log"
            if action != "open"
            else f"{signal['status']} {when(signal['decided_at'])} with no decision stored"
        )
    orders = found["orders"]
    lines.append("orders" if orders else "orders: none")
    lines += [f"  {order_line(order)}" for order in orders]
    lines += [f"position {_position_line(position)}" for position in found["positions"]]
    lines += [
        f"event {when(event['at'])} {event['kind']}: {step_pairs(event['data'])}" for event in found["events"]
    ]
    return lines


def _describe(payload: Mapping[str, Any]) -> str:
    action = payload.get("action", "open")
    words = [str(action), str(payload.get("side", "")), str(payload.get("symbol"))]
    entry = payload.get("entry")
    if isinstance(entry, Mapping):
        words.append(f"entry {entry.get('type')}" + (f" {entry['price']}" if entry.get("price") else ""))
    for key, label in (("stop", "stop"), ("take_profit", "take-profit"), ("conviction", "conviction")):
        if payload.get(key) is not None:
            words.append(f"{label} {payload[key]}")
    if payload.get("strategy"):
        words.append(f"strategy {payload['strategy']}")
    return " · ".join(word for word in words if word.strip())


def _decision_lines(decision: Mapping[str, Any]) -> list[str]:
    decided = when(decision["decided_at"])
    if decision["accepted"]:
        lines = [f"ACCEPTED {decided}: {decision['message']}"]
        values = (
            ("qty", "qty"),
            ("leverage", "leverage"),
            ("entry", "entry"),
            ("stop", "stop"),
            ("take_profit", "take-profit"),
            ("notional", "notional"),
            ("margin", "margin"),
            ("risk", "risk"),
            ("risk_pct", "of equity"),
            ("risk_budget", "R"),
            ("order_price", "order price"),
            ("liquidation_price", "liquidation"),
            ("binding", "bound by"),
        )
        shown = [
            f"{label} {_readable(key, decision[key])}"
            for key, label in values
            if decision.get(key) is not None
        ]
        lines.append("  " + " · ".join(shown))
    else:
        lines = [f"REJECTED {decided}: {decision['reason']} — {decision['message']}"]
    steps = decision.get("steps") or []
    lines.append(f"steps ({len(steps)})" if steps else "steps: none recorded")
    lines += [step_line(number, step) for number, step in enumerate(steps, start=1)]
    return lines


MONEY_KEYS = frozenset({"notional", "margin", "risk", "risk_budget"})


def _readable(key: str, value: Any) -> str:
    """Money with 2 decimals and the risk share as a percentage; prices and sizes as the decision set them
    (on the market's grid already)."""
    if key in MONEY_KEYS:
        return money(Decimal(value))
    if key == "risk_pct":
        return percent(Decimal(value))
    return str(value)


def step_line(number: int, step: Mapping[str, Any]) -> str:
    """`  3. daily_loss  loss=0.00, limit=300.00 → tripped=false  [binding]  · note` on one line."""
    line = (
        f"{number:>3}. {step.get('step', '?'):<20} "
        f"{step_pairs(step.get('before'))} → {step_pairs(step.get('after'))}"
    )
    if step.get("binding"):
        line += "  [binding]"
    if step.get("note"):
        line += f"  · {step['note']}"
    return line


def _position_line(position: Mapping[str, Any]) -> str:
    line = (
        f"#{position['id']} {position['status']} · {position['symbol']} {position['side']} {position['qty']}"
        f" @ {position['entry_price']} · stop {position['stop_price'] or 'none'}"
    )
    if position.get("slippage") is not None:
        allowed = position["slippage_allowed"] or "unknown"
        line += f" · slippage {position['slippage']} per unit (allowed {allowed}; positive: paid)"
    if position["status"] == PositionStatus.CLOSED:
        line += (
            f" · exit {position['exit_price']} · realized {money(Decimal(position['realized_pnl']))},"
            f" fees {money(Decimal(position['fees']))}, funding {money(Decimal(position['funding']))}"
        )
    return line
