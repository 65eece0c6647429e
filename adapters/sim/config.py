"""Simulator configuration: instruments with their filters and margin tiers, and run settings, from TOML.

Each table is a frozen pydantic model built from the shared field types of
`executor/domain/validation.py`, and a bad value is one line through the same formatter as the daemon's
settings (`sim config: instruments.BTCUSDT.tick = '0': expected a number > 0`). The simulator depends
on the domain only, never on the daemon's configuration.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator

from executor.domain.validation import (
    TEXT,
    FieldProblem,
    Frozen,
    choice,
    explain,
    number,
    positive,
    whole,
)

DEFAULT_API_KEY = "sim-key"
DEFAULT_SECRET = "sim-secret"
DIALECTS = ("binance", "phemex")
_TABLES = ("sim", "price_path", "instruments")

Amount = Annotated[Decimal, number(0)]
Positive = Annotated[Decimal, positive()]
Rate = Annotated[Decimal, number(-1, 1)]


class SimConfigError(ValueError):
    """The simulator's configuration is unusable; one line per problem names the key and the fix."""


class PricePathKind(StrEnum):
    RANDOM_WALK = "random_walk"
    CSV = "csv"
    STATIC = "static"


class PhemexEnvelope(StrEnum):
    """How Phemex's `/api-data/g-futures/*` answers wrap their rows (docs/exchange-facts.md §11)."""

    ROWS = "rows"  # {"data": {"rows": [...]}}: what live clients read; ccxt's fetch_order misreads it
    LIST = "list"  # {"data": [...]}: what ccxt 4.5.90 expects


class RateLimits(StrEnum):
    """Which venue's request budgets the simulator enforces (Phemex; docs/simulator.md "Rate limits")."""

    OFF = "off"
    MAINNET = "mainnet"
    TESTNET = "testnet"


class MarginTier(Frozen):
    """One maintenance-margin bracket: maintenance margin = notional × mmr − cum inside [floor, cap)."""

    floor: Amount
    cap: Positive
    max_leverage: Annotated[int, whole(1)]
    mmr: Annotated[Decimal, number(0, 1)]
    cum: Amount

    @model_validator(mode="after")
    def _floor_below_cap(self) -> Self:
        if self.floor >= self.cap:
            raise FieldProblem("cap", f"expected a cap above the floor ({self.floor})")
        return self


class Instrument(Frozen):
    symbol: Annotated[str, TEXT]
    base: Annotated[str, TEXT]
    quote: Annotated[str, TEXT]
    tick: Positive
    step: Positive
    min_qty: Amount
    max_qty: Positive
    min_notional: Amount
    max_leverage: Annotated[int, whole(1, 1000)]
    maker_fee: Rate
    taker_fee: Rate
    funding_interval_hours: Annotated[int, whole(1, 24)]
    start_price: Positive
    tiers: tuple[MarginTier, ...]

    @field_validator("tiers")
    @classmethod
    def _some_tiers(cls, tiers: tuple[MarginTier, ...]) -> tuple[MarginTier, ...]:
        if not tiers:
            raise ValueError('expected at least one tier, e.g. [{ floor = "0", cap = "50000", … }]')
        return tiers

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


class ApiCredential(Frozen):
    """A key the simulator accepts, with what it may do (adapters/sim/permissions.py)."""

    api_key: Annotated[str, TEXT]
    secret: Annotated[str, TEXT] = Field(repr=False)
    trading: bool = True
    """Off: Binance refuses every signed USDⓈ-M request (-2015, "Enable Futures" off), Phemex every write
    (401 Insufficient privilege); reads still answer on Phemex."""
    withdrawals: bool = False
    """Reported by Binance `GET /sapi/v1/account/apiRestrictions` (`enableWithdrawals`)."""
    ip_restrict: bool = False


def _csv(value: object) -> object:
    return None if value == "" else value


class PricePathConfig(Frozen):
    kind: Annotated[PricePathKind, choice(PricePathKind)] = PricePathKind.RANDOM_WALK
    step_seconds: float = Field(default=1.0, gt=0, le=3600)
    volatility_bps: Amount = Decimal("2")
    csv: Annotated[Path | None, BeforeValidator(_csv)] = None


class SimConfig(Frozen):
    """The [sim] table's settings, the price path and the instruments (per dialect in `dialects`)."""

    instruments: tuple[Instrument, ...]
    dialects: dict[str, tuple[Instrument, ...]] = Field(default_factory=dict, repr=False)
    start_balance: Amount = Decimal("10000")
    insurance_fund: Amount = Decimal("1000000")
    slippage_bps: Amount = Decimal("0")
    funding_rate: Rate = Decimal("0.0001")
    recv_window_max_ms: Annotated[int, whole(1)] = 60_000
    seed: Annotated[int, whole()] = 7
    keys: tuple[ApiCredential, ...] = ()
    price_path: PricePathConfig = PricePathConfig()
    phemex_envelope: Annotated[PhemexEnvelope, choice(PhemexEnvelope)] = PhemexEnvelope.ROWS
    rate_limits: Annotated[RateLimits, choice(RateLimits)] = RateLimits.OFF
    book_levels: Annotated[int, whole(1, 1000)] = 20
    book_step_bps: Positive = Decimal("1")

    @field_validator("instruments")
    @classmethod
    def _some_instruments(cls, instruments: tuple[Instrument, ...]) -> tuple[Instrument, ...]:
        if not instruments:
            raise ValueError("the simulator defines no instruments; add an [instruments.SYMBOL] table")
        return instruments

    @property
    def credentials(self) -> tuple[ApiCredential, ...]:
        """The accepted keys: the configured ones, else the documented default pair."""
        return self.keys or (ApiCredential(api_key=DEFAULT_API_KEY, secret=DEFAULT_SECRET),)

    def instrument(self, symbol: str) -> Instrument:
        for item in self.instruments:
            if symbol in (item.symbol, item.unified):
                return item
        raise KeyError(symbol)

    def for_dialect(self, dialect: str) -> SimConfig:
        """The same config with each instrument's `[instruments.X.<dialect>]` overrides applied."""
        instruments = self.dialects.get(dialect)
        return self.model_copy(update={"instruments": instruments}) if instruments else self

    def with_overrides(self, **changes: Any) -> SimConfig:
        return self.model_copy(update=changes)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _table(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SimConfigError(f"sim config: {where}: expected a table, e.g. [{where}]")
    return value


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SimConfigError(f"sim config: {path} cannot be read ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SimConfigError(f"sim config: {path} is not valid TOML: {exc}") from None


def sim_config_from_dict(data: Mapping[str, Any]) -> SimConfig:
    """Validate the merged TOML tables ([sim], [price_path], [instruments.*]) into a SimConfig."""
    unknown = sorted(set(data) - set(_TABLES))
    if unknown:
        raise SimConfigError(
            f"sim config: {unknown[0]}: is not a known table; the tables are: {', '.join(_TABLES)}"
        )
    tables = {
        symbol: _table(table, f"instruments.{symbol}")
        for symbol, table in _table(data.get("instruments", {}), "instruments").items()
    }
    symbols = list(tables)

    def instrument(symbol: str, dialect: str | None) -> dict[str, Any]:
        table = {key: value for key, value in tables[symbol].items() if key not in DIALECTS}
        if dialect is not None:
            table |= _table(tables[symbol].get(dialect, {}), f"instruments.{symbol}.{dialect}")
        return {"symbol": symbol, **table}

    payload = {
        **_table(data.get("sim", {}), "sim"),
        "price_path": data.get("price_path", {}),
        "instruments": [instrument(symbol, None) for symbol in symbols],
        "dialects": {dialect: [instrument(symbol, dialect) for symbol in symbols] for dialect in DIALECTS},
    }

    def where(loc: Sequence[int | str]) -> Sequence[int | str]:
        """Report a problem where the file has it: [sim] keys, instruments by symbol and dialect."""
        head, *rest = loc
        if head == "instruments" and rest and isinstance(rest[0], int):
            return ["instruments", symbols[rest[0]], *rest[1:]]
        if head == "dialects" and len(rest) > 1 and isinstance(rest[1], int):
            dialect, symbol, field = str(rest[0]), symbols[rest[1]], rest[2:]
            overridden = bool(field) and field[0] in tables[symbol].get(dialect, {})
            return ["instruments", symbol, *([dialect] if overridden else []), *field]
        return loc if head in _TABLES else ["sim", *loc]

    try:
        return SimConfig.model_validate(payload)
    except ValidationError as exc:
        lines = explain(exc, SimConfig, secret_keys=("secret",), location=where)
        raise SimConfigError("\n".join(f"sim config: {line}" for line in dict.fromkeys(lines))) from None


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
            data = _merge(data, _read(default_file))
    if path is not None:
        data = _merge(data, _read(Path(path)))
    return sim_config_from_dict(data)
