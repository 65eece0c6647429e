"""Shared by the operator-command tests: the CLI on a real database, rows as the daemon writes them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog
from click.testing import CliRunner, Result

from executor.cli import main
from executor.config.risk_profiles import load_profile
from executor.domain.client_ids import client_order_id
from executor.domain.enums import OrderKind, Side, SignalSource, SignalStatus
from executor.domain.order_state import OrderState, history_entry
from executor.execution.trader import decision_row
from executor.risk import Decision, RiskProfile, decide
from executor.risk.derive import derive_state
from executor.risk.scenario import SIGNAL_FIELDS, parse_scenario
from executor.store.models import OrderRow, PositionRow
from executor.store.store import Store
from harness.ports import free_port

ACCOUNT = "main"
EXECUTOR = str(Path(sys.executable).with_name("executor"))
HANDBOOK = load_profile("handbook")


def cli_env(database_url: str, **extra: str) -> dict[str, str]:
    """Settings for one command: this database, and listeners where no daemon answers."""
    return {
        "EXECUTOR__DATABASE__URL": database_url,
        "EXECUTOR__INGRESS__HTTP": f"127.0.0.1:{free_port()}",
        "EXECUTOR__INGRESS__WEBSOCKET": f"127.0.0.1:{free_port()}",
        **extra,
    }


@contextlib.contextmanager
def port_nothing_answers() -> Iterator[int]:
    """A loopback port held bound but not listening: a connection to it is refused at once, and no other
    process (a daemon or simulator of a test running beside) can listen on it until the block ends."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", free_port()))
        yield held.getsockname()[1]


@dataclass(frozen=True)
class Ran:
    """A command's exit status and its two output streams, as a shell sees them."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(
    *args: str, env: Mapping[str, str] | None = None, stdin: str | None = None, cwd: Path | None = None
) -> Ran:
    """`executor ARGS` in this process through Click's runner, settings only from `env` (the test
    process's own EXECUTOR__ variables unset): no interpreter start-up per command. An exception the CLI
    lets escape fails the test, as a traceback on the terminal would."""
    cleared: dict[str, str | None] = {key: None for key in os.environ if key.startswith("EXECUTOR__")}
    root = logging.getLogger()
    handlers, level, config = root.handlers[:], root.level, structlog.get_config()
    try:
        with contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext():
            result = CliRunner().invoke(
                main, list(args), env={**cleared, **(env or {})}, input=stdin, catch_exceptions=False
            )
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**config)
    return Ran(result.exit_code, result.stdout, result.stderr)


def subprocess_env(extra: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("EXECUTOR")} | extra


async def run_executor(*args: str, env: dict[str, str], stdin: bytes | None = None) -> tuple[int, str, str]:
    """The installed `executor` as a subprocess, without blocking the loop that serves it. For commands
    talking to an ingress served by the test itself: in-process, Click's runner would capture that
    server's log lines along with the command's output (it swaps the process's stdout)."""
    process = await asyncio.create_subprocess_exec(
        EXECUTOR,
        *args,
        env=subprocess_env(env),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await process.communicate(stdin)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _invoke(args: list[str], env: dict[str, str]) -> Result:
    """CliRunner, with the process's logging set-up restored afterwards (the CLI configures its own)."""
    root = logging.getLogger()
    handlers, level, config = root.handlers[:], root.level, structlog.get_config()
    try:
        return CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**config)


async def invoke(args: list[str], env: dict[str, str]) -> Result:
    """The command in a worker thread: it runs its own event loop, as it does from a shell."""
    return await asyncio.to_thread(_invoke, args, env)


def scenario(signal: dict[str, Any], now: datetime, **account: Any) -> dict[str, Any]:
    """An `executor size` scenario on the simulator's SOL market with a 10,000 USDT account.

    The signal is a stored payload; its fields the risk engine does not read (strategy) are left out.
    """
    return {
        "profile": "handbook",
        "now": now.isoformat(),
        "signal": {key: value for key, value in signal.items() if key in SIGNAL_FIELDS},
        "account": {
            "equity": "10000",
            "free_margin": "10000",
            "start_of_day_equity": "10000",
            "peak_equity": "10000",
            "positions": [],
            "history": [],
            "breaker": "active",
            **account,
        },
        "market": {
            "price": "150",
            "amount_step": "1",
            "price_tick": "0.01",
            "min_amount": "1",
            "min_notional": "5",
            "max_leverage": 75,
            "taker_fee": "0.0005",
            "funding_rate": "0.0001",
            "insurance_fund": "1000000",
            "leverage_tiers": [
                {"max_notional": "10000", "max_leverage": 75, "mmr": "0.005", "cum": "0"},
                {"max_notional": "50000", "max_leverage": 50, "mmr": "0.01", "cum": "50"},
            ],
        },
    }


def decide_scenario(data: dict[str, Any], profile: RiskProfile = HANDBOOK) -> Decision:
    parsed = parse_scenario(data)
    state = derive_state(parsed.account, profile, parsed.now)
    return decide(parsed.signal, parsed.account, parsed.market, profile, state, parsed.now)


async def store_decided_signal(
    store: Store, payload: dict[str, Any], decision: Decision, at: datetime
) -> int:
    """The inbox row and the decision row as the daemon's consumer leaves them; returns the signal pk."""
    async with store.transaction() as tx:
        row, _ = await tx.signals.store(
            account=ACCOUNT,
            signal_id=payload["id"],
            source=SignalSource.WEBSOCKET,
            payload=payload,
            received_at=at,
        )
        side = Side(payload["side"]) if payload.get("side") else None
        await tx.decisions.add(decision_row(row, ACCOUNT, payload["symbol"], side, decision, at))
        await tx.signals.settle(row.id, SignalStatus.DECIDED, at)
        return row.id


async def store_position_with_orders(
    store: Store, signal_pk: int, signal_id: str, decision: Decision, at: datetime
) -> int:
    """A filled entry, its open position, and the resting stop and take-profit; returns the position pk."""
    assert decision.qty is not None and decision.entry is not None and decision.leverage is not None
    async with store.transaction() as tx:
        position = await tx.positions.add(
            PositionRow(
                account=ACCOUNT,
                signal_pk=signal_pk,
                symbol="SOL/USDT:USDT",
                side="long",
                status="open",
                qty=decision.qty,
                entry_price=Decimal("150.02"),
                stop_price=decision.stop,
                take_profit=decision.take_profit[0] if decision.take_profit else None,
                leverage=decision.leverage,
                setup="primary",
                equity_before=Decimal("10000"),
                opened_at=at,
            )
        )
        legs = [
            (OrderKind.ENTRY, "buy", "market", None, OrderState.FILLED),
            (OrderKind.STOP, "sell", "stop_market", decision.stop, OrderState.OPEN),
        ]
        if decision.take_profit:
            legs.append(
                (
                    OrderKind.TAKE_PROFIT,
                    "sell",
                    "take_profit_market",
                    decision.take_profit[0],
                    OrderState.OPEN,
                )
            )
        for kind, side, order_type, trigger, state in legs:
            filled = state is OrderState.FILLED
            await tx.orders.add(
                OrderRow(
                    account=ACCOUNT,
                    client_order_id=client_order_id(signal_id, kind),
                    exchange_order_id=f"ex-{kind.value}",
                    signal_pk=signal_pk,
                    position_pk=position.id,
                    kind=kind.value,
                    symbol="SOL/USDT:USDT",
                    side=side,
                    order_type=order_type,
                    qty=decision.qty,
                    trigger_price=trigger,
                    reduce_only=kind is not OrderKind.ENTRY,
                    conditional=trigger is not None,
                    state=state.value,
                    state_history=[history_entry(OrderState.PENDING, at), history_entry(state, at)],
                    filled_qty=decision.qty if filled else Decimal(0),
                    average_price=Decimal("150.02") if filled else None,
                    created_at=at,
                    updated_at=at,
                )
            )
        return position.id


SOL_LONG: dict[str, Any] = {
    "id": "sol-long-1",
    "symbol": "SOL/USDT:USDT",
    "side": "long",
    "entry": {"type": "market"},
    "stop": "145.00",
    "take_profit": "162.00",
    "conviction": "8",
}
NOW = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)
