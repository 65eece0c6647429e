"""Default instruments are consistent, price paths reproducible, the engine orders events along the path."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import ccxt.async_support as ccxt
import pytest
from click.testing import CliRunner

from adapters.ccxt_target import target_simulator
from adapters.sim import load_sim_config
from adapters.sim.clock import SimClock
from adapters.sim.config import PricePathConfig, PricePathKind, SimConfigError
from adapters.sim.engine import Engine
from adapters.sim.model import EngineReject, OrderRequest, OrderSide, OrderType, Reject
from adapters.sim.prices import CsvPath, RandomWalk
from executor.cli import main


@pytest.mark.parametrize("dialect", ["binance", "phemex"])
def test_default_tiers_are_contiguous_with_continuous_maintenance(dialect: str) -> None:
    config = load_sim_config().for_dialect(dialect)
    assert {i.symbol for i in config.instruments} == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    for inst in config.instruments:
        assert inst.tiers[0].floor == 0 and inst.tiers[0].cum == 0
        for lower, upper in zip(inst.tiers, inst.tiers[1:], strict=False):
            assert lower.cap == upper.floor and lower.max_leverage > upper.max_leverage
            edge = upper.floor
            assert edge * lower.mmr - lower.cum == edge * upper.mmr - upper.cum, (inst.symbol, edge)


def test_phemex_overrides_apply_only_to_the_phemex_dialect() -> None:
    config = load_sim_config()
    assert config.for_dialect("binance").instrument("SOLUSDT").step == Decimal("1")
    assert config.for_dialect("phemex").instrument("SOLUSDT").step == Decimal("0.01")
    assert config.for_dialect("phemex").instrument("BTCUSDT").taker_fee == Decimal("0.0006")


def test_a_mark_jump_past_the_liquidation_price_liquidates_before_a_farther_stop() -> None:
    config = (
        load_sim_config()
        .for_dialect("binance")
        .with_overrides(price_path=PricePathConfig(kind=PricePathKind.STATIC))
    )
    engine = Engine(config, SimClock())
    account = engine.account("sim-key")
    engine.place(account, OrderRequest("BTCUSDT", OrderSide.BUY, OrderType.MARKET, Decimal("0.01"), "e"))
    stop = engine.place(
        account,
        OrderRequest(
            "BTCUSDT",
            OrderSide.SELL,
            OrderType.STOP_MARKET,
            Decimal("0.01"),
            "s",
            trigger_price=Decimal("55000"),
            reduce_only=True,
        ),
    )
    engine.set_mark("BTCUSDT", Decimal("54000"))
    assert account.position("BTCUSDT").qty == 0
    assert (stop.status.value, stop.filled_qty) == (
        "REJECTED",
        Decimal(0),
    )  # it triggered with nothing to reduce
    ids = [o.client_id for o in account.orders.values()]
    assert ids[2].startswith("autoclose-") and ids[3] == "s"  # liquidated first, then the stop fired empty


def test_quantity_off_the_step_is_refused() -> None:
    config = load_sim_config().for_dialect("binance")
    engine = Engine(config, SimClock())
    with pytest.raises(EngineReject) as caught:
        engine.place(
            engine.account("sim-key"),
            OrderRequest("BTCUSDT", OrderSide.BUY, OrderType.MARKET, Decimal("0.0105"), "x"),
        )
    assert caught.value.reason is Reject.QTY_STEP


def test_random_walk_is_reproducible_and_on_the_tick() -> None:
    inst = load_sim_config().instrument("BTCUSDT")
    paths = [RandomWalk(3, Decimal("5")), RandomWalk(3, Decimal("5"))]
    series: list[list[Decimal]] = [[], []]
    for path, out in zip(paths, series, strict=True):
        mark = inst.start_price
        for step in range(50):
            mark = path.next_mark(inst, mark, step) or mark
            out.append(mark)
    assert series[0] == series[1] and len(set(series[0])) > 10
    assert all(m % inst.tick == 0 for m in series[0])


def test_csv_path_gives_the_latest_mark_at_or_before_the_time(tmp_path: Path) -> None:
    csv = tmp_path / "path.csv"
    csv.write_text("# timestamp_ms,symbol,mark\n1000,BTCUSDT,60000\n2000,BTCUSDT,61000.5\n", encoding="utf-8")
    inst = load_sim_config().instrument("BTCUSDT")
    path = CsvPath(csv)
    assert [path.next_mark(inst, Decimal(1), t) for t in (999, 1000, 1999, 5000)] == [
        None,
        Decimal("60000"),
        Decimal("60000"),
        Decimal("61000.5"),
    ]


async def test_ccxt_target_rewrites_every_api_url_and_keeps_paths() -> None:
    binance = target_simulator(ccxt.binanceusdm(), "http://127.0.0.1:9/")
    phemex = target_simulator(ccxt.phemex(), "http://127.0.0.1:9")
    try:
        assert binance.urls["api"]["fapiPrivateV3"] == "http://127.0.0.1:9/fapi/v3"
        assert all(u.startswith("http://127.0.0.1:9") for u in binance.urls["api"].values())
        assert phemex.urls["api"]["public"] == "http://127.0.0.1:9/exchange/public"
        assert phemex.urls["api"]["private"] == "http://127.0.0.1:9"
        assert binance.get_exceptions_by_url("http://127.0.0.1:9/fapi/v1/order", "exact")["-2019"] is (
            ccxt.InsufficientFunds
        )
    finally:
        await binance.close()
        await phemex.close()


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sim.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (
            '[instruments.BTCUSDT]\ntick = "0"\n',
            "sim config: instruments.BTCUSDT.tick = '0': expected a number > 0",
        ),
        (
            '[instruments.BTCUSDT.phemex]\ntaker_fee = "lots"\n',
            "sim config: instruments.BTCUSDT.phemex.taker_fee = 'lots': expected a number from -1 to 1",
        ),
        (
            '[instruments.SOLUSDT]\nstart_price = "١٥٠"\n',
            "sim config: instruments.SOLUSDT.start_price = '١٥٠': expected a number > 0, written with ASCII",
        ),
        ("[sim]\nsed = 1\n", "sim config: sim.sed = 1: is not a known setting; the settings here are: "),
        ("[sim]\nseed = 1.5\n", "sim config: sim.seed = 1.5: expected a whole number"),
        (
            '[price_path]\nkind = "brownian"\n',
            "sim config: price_path.kind = 'brownian': expected one of random_walk,",
        ),
        ('[sim]\nkeys = [{ api_key = "k", secret = "" }]\n', "sim config: sim.keys[0].secret = (redacted):"),
        (
            "[instruments.BTCUSDT]\ntiers = []\n",
            "sim config: instruments.BTCUSDT.tiers = []: expected at least one tier",
        ),
        (
            "[instrument.BTCUSDT]\ntick = 1\n",
            "sim config: instrument: is not a known table; the tables are: sim,",
        ),
        ("[instruments\n", "is not valid TOML"),
    ],
)
def test_a_bad_simulator_value_is_one_line_naming_the_key_where_the_file_has_it(
    tmp_path: Path, text: str, line: str
) -> None:
    with pytest.raises(SimConfigError) as caught:
        load_sim_config(write_toml(tmp_path, text))
    message = str(caught.value)
    assert line in message, message
    assert len(message.splitlines()) == 1, message


def test_executor_sim_refuses_a_bad_config_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    path = write_toml(tmp_path, '[instruments.BTCUSDT]\nmin_qty = -1\n[sim]\nseed = "x"\n')
    result = CliRunner().invoke(main, ["sim", "--exchange", "binance", "--config", str(path)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "sim config: instruments.BTCUSDT.min_qty = -1: expected a number ≥ 0",
        "sim config: sim.seed = 'x': expected a whole number",
    ]
