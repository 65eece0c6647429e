"""`executor size` end to end, from a file and from stdin: in-process through Click's runner, and once as the
installed command in a subprocess."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from executor.cli import main
from tests.support.cli import Ran, run_cli

EXECUTOR = str(Path(sys.executable).with_name("executor"))

SCENARIO: dict[str, Any] = {
    "profile": "fixed-risk",
    "now": "2026-06-02T14:00:00Z",
    "signal": {
        "id": "s1",
        "symbol": "SOL/USDT:USDT",
        "side": "long",
        "entry": {"type": "market"},
        "stop": "74.10",
        "take_profit": "76.00",
        "conviction": 8,
        "strength": 0.7,
        "setup": "primary",
        "regime": "trending",
        "expires_at": None,
    },
    "account": {
        "equity": "1000",
        "free_margin": "1000",
        "start_of_day_equity": "1000",
        "peak_equity": "1000",
        "positions": [],
        "history": [
            {
                "opened_at": "2026-06-01T09:00:00Z",
                "closed_at": "2026-06-01T10:00:00Z",
                "pnl": "-25",
                "equity_before": "1000",
                "setup": "primary",
            }
        ],
        "breaker": "active",
    },
    "market": {
        "price": "74.20",
        "amount_step": "0.01",
        "price_tick": "0.01",
        "min_amount": "0.01",
        "min_notional": "5",
        "max_leverage": 50,
        "taker_fee": "0.0005",
        "funding_rate": "0.0001",
        "insurance_fund": "500000000",
        "leverage_tiers": [
            {"max_notional": "50000", "max_leverage": 50, "mmr": "0.005", "cum": "0"},
            {"max_notional": "250000", "max_leverage": 20, "mmr": "0.01", "cum": "250"},
        ],
    },
}


def size(*args: str, stdin: str | None = None, cwd: Path | None = None) -> Ran:
    """`executor size ARGS` in-process (Click's runner)."""
    return run_cli("size", *args, stdin=stdin, cwd=cwd)


def installed_size(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    """The installed console script, once: that a shell gets the same answer on the same streams."""
    return subprocess.run(
        [EXECUTOR, "size", *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def scenario(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(SCENARIO)
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = data
        for key in parents:
            target = target[key]
        target[last] = value
    return data


def test_size_from_a_file_accepts_and_prints_the_decision_with_its_steps(tmp_path: Path) -> None:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(SCENARIO), encoding="utf-8")
    result = size("--input", str(path))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["accepted"] is True and out["reason"] is None
    assert (out["qty"], out["leverage"], out["binding"]) == ("67.38", 20, "account_leverage")
    assert (out["entry"], out["stop"], out["take_profit"]) == ("74.20", "74.10", "76.00")
    assert out["notional"] == "4999.596" and out["liquidation_price"] == "70.85"
    assert [s["step"] for s in out["steps"]][:3] == ["gates", "data", "daily_loss"]
    assert all(set(s) == {"step", "before", "after", "binding", "note"} for s in out["steps"])
    assert out["message"]


def test_size_from_stdin_with_a_rejection_still_exits_0() -> None:
    data = scenario(account__breaker="tripped")
    result = size("--input", "-", stdin=json.dumps(data))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert (out["accepted"], out["reason"], out["qty"]) == (False, "HALTED", None)
    assert out["steps"][-1]["after"] == {"rejected": "HALTED"}


def test_size_derives_the_loss_streak_from_history() -> None:
    loss = SCENARIO["account"]["history"][0]
    data = scenario(account__history=[loss, {**loss, "closed_at": "2026-06-01T11:00:00Z"}])
    out = json.loads(size("--input", "-", stdin=json.dumps(data)).stdout)
    assert out["leverage"] == 5


def test_numbers_given_as_json_numbers_are_read_exactly() -> None:
    data = scenario(market__price=74.2, signal__stop=74.1)
    out = json.loads(size("--input", "-", stdin=json.dumps(data)).stdout)
    assert (out["entry"], out["stop"], out["qty"]) == ("74.20", "74.10", "67.38")


def test_on_a_step_ccxt_reports_as_1_0_the_quantity_and_its_step_log_show_whole_units() -> None:
    data = scenario(market__amount_step=1.0, market__min_amount=1.0)  # Binance's SOL step as ccxt gives it
    out = json.loads(size("--input", "-", stdin=json.dumps(data)).stdout)
    [filters] = [step for step in out["steps"] if step["step"] == "exchange_filters"]
    assert out["qty"] == filters["after"]["qty"] == "67"
    assert filters["note"] == "quantity rounded down to the step 1"


def test_missing_account_numbers_are_a_data_missing_rejection_not_an_error() -> None:
    data = scenario(account__equity=None)
    result = size("--input", "-", stdin=json.dumps(data))
    assert result.returncode == 0
    assert json.loads(result.stdout)["reason"] == "DATA_MISSING"


def test_profile_given_as_a_toml_path(tmp_path: Path) -> None:
    path = tmp_path / "tight.toml"
    path.write_text(
        '[risk]\nmode = "fixed"\nfixed_amount = 1\n[conviction]\nenabled = false\n', encoding="utf-8"
    )
    out = json.loads(size("--input", "-", stdin=json.dumps(scenario(profile=str(path)))).stdout)
    # 1 / (0.10 stop distance + 0.07 slippage allowance to 74.27 + 0.074185 fees + 0.022281 funding)
    assert out["accepted"] and out["qty"] == "3.75"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ("{not json", "input is not valid JSON"),
        (
            json.dumps(scenario(signal__stop="abc")),
            "signal.stop = 'abc': expected a number, written with ASCII digits 0-9",
        ),
        (json.dumps(scenario(signal__side="up")), "signal.side = 'up': expected one of long, short"),
        (json.dumps(scenario(now="yesterday")), "now = 'yesterday': expected an ISO 8601 time string"),
        (
            json.dumps(scenario(now="2026-06-02T14:00:00")),
            "now = '2026-06-02T14:00:00': the time needs a zone",
        ),
        (
            json.dumps(scenario(market__leverage_tiers=[{"max_notional": "1"}])),
            "leverage_tiers[0].max_leverage",
        ),
        (
            json.dumps(scenario(account__colour="red")),
            "account.colour = 'red': is not a known field; the fields here are: equity,",
        ),
        (
            json.dumps(scenario(signal__entry={"type": "limit"})),
            "signal.entry.price: is required for a limit entry",
        ),
        (json.dumps(scenario(profile="nope")), "profile: risk profile 'nope'"),
        (json.dumps([1, 2]), "input: expected a JSON object"),
    ],
)
def test_malformed_input_exits_2_naming_the_field(data: str, fragment: str) -> None:
    result = CliRunner().invoke(main, ["size", "--input", "-"], input=data)
    assert result.exit_code == 2
    assert fragment in result.stderr
    assert result.stdout == ""


def test_malformed_input_through_the_installed_command_exits_2_with_the_field_on_stderr() -> None:
    result = installed_size("--input", "-", stdin=json.dumps(scenario(market__price="7x")))
    assert result.returncode == 2
    assert "market.price = '7x': expected a number, written with ASCII digits 0-9" in result.stderr
    assert result.stdout == ""


def test_unreadable_input_file_exits_2(tmp_path: Path) -> None:
    result = size("--input", str(tmp_path / "missing.json"))
    assert result.returncode == 2
    assert "missing.json" in result.stderr


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("signal__stop", "٧٤.١٠"),
        ("signal__take_profit", "７６"),
        ("signal__entry", {"type": "limit", "price": "७४.२०"}),
        ("market__price", "٧٤.٢٠"),
        ("account__equity", "１０００"),
        ("market__max_leverage", "٥٠"),
    ],
)
def test_numbers_in_other_digits_than_ascii_exit_2_naming_the_field(field: str, value: object) -> None:
    result = CliRunner().invoke(main, ["size", "--input", "-"], input=json.dumps(scenario(**{field: value})))
    assert result.exit_code == 2
    assert field.split("__")[0] + "." in result.stderr and "expected a" in result.stderr
    assert result.stdout == ""


def test_every_problem_is_one_line_naming_its_field() -> None:
    data = scenario(signal__stop="x", market__price=True, account__positions=[{"symbol": "BTC"}])
    result = CliRunner().invoke(main, ["size", "--input", "-"], input=json.dumps(data))
    lines = result.stderr.splitlines()
    assert result.exit_code == 2 and all(line.startswith("executor size: ") for line in lines)
    assert "executor size: signal.stop = 'x': expected a number, written with ASCII digits 0-9" in lines
    assert "executor size: market.price = true: expected a number" in lines
    assert "executor size: account.positions[0].side: is required; add it" in lines
    assert len(lines) == 7  # side, qty, entry, stop and leverage of the position are each missing


def test_the_example_scenarios_in_the_help_give_the_decisions_it_names() -> None:
    root = Path(__file__).resolve().parents[2]
    shown = size("--help")
    examples = [
        (line.split("--input ", 1)[1].split()[0], line.split("# ", 1)[1])
        for line in shown.stdout.splitlines()
        if "executor size --input examples/" in line
    ]
    assert sorted(path for path, _ in examples) == sorted(
        str(path.relative_to(root)) for path in (root / "examples" / "size").glob("*.json")
    )

    for path, claim in examples:
        result = size("--input", path, cwd=root)
        assert result.returncode == 0, result.stderr
        decision = json.loads(result.stdout)
        if decision["accepted"]:
            # "long 38.18 SOL at 5x" → the message says "Long 38.18 SOL at 74.20 …, 5x"
            side, qty, base, _, leverage = claim.split()
            assert decision["message"].startswith(f"{side.capitalize()} {qty} {base} at "), decision
            assert f", {leverage}:" in decision["message"], decision
        else:
            assert decision["reason"] == claim, (path, decision)


def test_every_problem_of_a_bad_profile_is_its_own_line_naming_the_profile(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[risk]\npercent = 3\n[kelly]\nmin_trades = 0\n", encoding="utf-8")
    data = json.dumps(scenario(profile=str(path)))
    result = CliRunner().invoke(main, ["size", "--input", "-"], input=data)
    lines = result.stderr.splitlines()
    assert result.exit_code == 2 and len(lines) == 2
    assert all(line.startswith(f"executor size: profile: risk profile {path}: ") for line in lines)
    assert lines[0].endswith("risk.percent = 3: expected a number from 0 to 1")
    assert lines[1].endswith("kelly.min_trades = 0: expected a whole number ≥ 1")
