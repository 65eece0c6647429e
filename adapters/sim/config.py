"""Simulator configuration: instruments with their filters and margin tiers, and run settings, from TOML."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from executor.domain.money import to_decimal

DEFAULT_API_KEY = "sim-key"
DEFAULT_SECRET = "sim-secret"
DIALECTS = ("binance", "phemex")


class PricePathKind(StrEnum):
    RANDOM_WALK = "random_walk"
    CSV = "csv"
    STATIC = "static"


@dataclass(frozen=True)
class MarginTier:
    """One maintenance-margin bracket: maintenance margin = notional × mmr − cum inside [floor, cap)."""

    floor: Decimal
    cap: Decimal
    max_leverage: int
    mmr: Decimal
    cum: Decimal


@dataclass(frozen=True)
class Instrument:
    symbol: str
    base: str
    quote: str
    tick: Decimal
    step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    max_leverage: int
    maker_fee: Decimal
    taker_fee: Decimal
    funding_interval_hours: int
    start_price: Decimal
    tiers: tuple[MarginTier, ...]

    @property
    def unified(self) -> str:
        return f"{self.base}/{self.quote}:{self.quote}"

    @property
    def funding_interval_ms(self) -> int:
        return self.funding_interval_hours * 3_600_000

    def tier_for(self, notional: Decimal) -> MarginTier:
        for tier in self.tiers:
            if notional < tier.cap:
                return tier
        return self.tiers[-1]

    def max_notional_for(self, leverage: int) -> Decimal:
        """Largest position notional allowed at this leverage: the cap of the last tier allowing it."""
        allowed = [tier.cap for tier in self.tiers if tier.max_leverage >= leverage]
        return allowed[-1] if allowed else Decimal(0)


@dataclass(frozen=True)
class ApiCredential:
    api_key: str
    secret: str


@dataclass(frozen=True)
class PricePathConfig:
    kind: PricePathKind = PricePathKind.RANDOM_WALK
    step_seconds: float = 1.0
    volatility_bps: Decimal = Decimal("2")
    csv: Path | None = None


@dataclass(frozen=True)
class SimConfig:
    instruments: tuple[Instrument, ...]
    start_balance: Decimal = Decimal("10000")
    insurance_fund: Decimal = Decimal("1000000")
    slippage_bps: Decimal = Decimal("0")
    funding_rate: Decimal = Decimal("0.0001")
    recv_window_max_ms: int = 60_000
    seed: int = 7
    keys: tuple[ApiCredential, ...] = field(default_factory=tuple)
    price_path: PricePathConfig = field(default_factory=PricePathConfig)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def credentials(self) -> tuple[ApiCredential, ...]:
        """The accepted keys: the configured ones, else the documented default pair."""
        return self.keys or (ApiCredential(DEFAULT_API_KEY, DEFAULT_SECRET),)

    def instrument(self, symbol: str) -> Instrument:
        for item in self.instruments:
            if symbol in (item.symbol, item.unified):
                return item
        raise KeyError(symbol)

    def for_dialect(self, dialect: str) -> SimConfig:
        """The same config with each instrument's `[instruments.X.<dialect>]` overrides applied."""
        instruments = tuple(
            _instrument(symbol, table, dialect) for symbol, table in self.raw.get("instruments", {}).items()
        )
        return replace(self, instruments=instruments) if instruments else self

    def with_overrides(self, **changes: Any) -> SimConfig:
        return replace(self, **changes)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _tier(table: dict[str, Any]) -> MarginTier:
    return MarginTier(
        floor=to_decimal(table["floor"]),
        cap=to_decimal(table["cap"]),
        max_leverage=int(table["max_leverage"]),
        mmr=to_decimal(table["mmr"]),
        cum=to_decimal(table["cum"]),
    )


def _instrument(symbol: str, table: dict[str, Any], dialect: str | None) -> Instrument:
    values = {key: value for key, value in table.items() if key not in DIALECTS}
    if dialect is not None:
        values.update(table.get(dialect, {}))
    tiers = tuple(_tier(tier) for tier in values["tiers"])
    if not tiers:
        raise ValueError(f"instrument {symbol} has no margin tiers")
    return Instrument(
        symbol=symbol,
        base=str(values["base"]),
        quote=str(values["quote"]),
        tick=to_decimal(values["tick"]),
        step=to_decimal(values["step"]),
        min_qty=to_decimal(values["min_qty"]),
        max_qty=to_decimal(values["max_qty"]),
        min_notional=to_decimal(values["min_notional"]),
        max_leverage=int(values["max_leverage"]),
        maker_fee=to_decimal(values["maker_fee"]),
        taker_fee=to_decimal(values["taker_fee"]),
        funding_interval_hours=int(values["funding_interval_hours"]),
        start_price=to_decimal(values["start_price"]),
        tiers=tiers,
    )


def sim_config_from_dict(data: dict[str, Any]) -> SimConfig:
    sim = data.get("sim", {})
    path = data.get("price_path", {})
    csv = str(path.get("csv", "") or "")
    keys = tuple(ApiCredential(str(k["api_key"]), str(k["secret"])) for k in sim.get("keys", []))
    instruments = tuple(
        _instrument(symbol, table, None) for symbol, table in data.get("instruments", {}).items()
    )
    if not instruments:
        raise ValueError("the simulator config defines no instruments")
    return SimConfig(
        instruments=instruments,
        start_balance=to_decimal(sim.get("start_balance", "10000")),
        insurance_fund=to_decimal(sim.get("insurance_fund", "1000000")),
        slippage_bps=to_decimal(sim.get("slippage_bps", "0")),
        funding_rate=to_decimal(sim.get("funding_rate", "0.0001")),
        recv_window_max_ms=int(sim.get("recv_window_max_ms", 60_000)),
        seed=int(sim.get("seed", 7)),
        keys=keys,
        price_path=PricePathConfig(
            kind=PricePathKind(path.get("kind", PricePathKind.RANDOM_WALK)),
            step_seconds=float(path.get("step_seconds", 1.0)),
            volatility_bps=to_decimal(path.get("volatility_bps", "2")),
            csv=Path(csv) if csv else None,
        ),
        raw=data,
    )


CHECKOUT_DEFAULTS = Path(__file__).resolve().parents[2] / "config" / "sim"


def load_sim_config(path: Path | None = None, *, defaults_dir: Path = CHECKOUT_DEFAULTS) -> SimConfig:
    """The defaults in ``defaults_dir`` (sim.toml, instruments.toml), with ``path`` merged over them.

    The daemon and ``executor sim`` pass their configured config/sim/ (EXECUTOR_CONFIG_DIR applies);
    the default is the checkout's, which is what the tests and benches use.
    """
    data: dict[str, Any] = {}
    for name in ("sim.toml", "instruments.toml"):
        default_file = defaults_dir / name
        if default_file.is_file():
            data = _merge(data, tomllib.loads(default_file.read_text(encoding="utf-8")))
    if path is not None:
        data = _merge(data, tomllib.loads(Path(path).read_text(encoding="utf-8")))
    return sim_config_from_dict(data)
