"""The daemon's settings: config/default.toml, an optional file of the user's, then EXECUTOR__ variables.

Secrets never come from a file that could be committed: the TOML loader refuses them, and they are read
from `EXECUTOR__SECTION__KEY` or from the file named by `EXECUTOR__SECTION__KEY_FILE` (Docker secrets).
"""

from __future__ import annotations

import logging
import os
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from executor.config.binding import insecure_bind
from executor.config.paths import config_dir
from executor.config.risk_profiles import load_profile
from executor.crashpoints import CrashSpec, parse_crash_at
from executor.domain.enums import ExchangeId, ExchangeMode
from executor.domain.notices import EVENTS, GROUPS, Event
from executor.domain.redaction import (
    redact_notification_url,
    redact_url,
    url_secrets,
)
from executor.domain.validation import Frozen, explain, prefixed
from executor.risk import ProfileError, RiskProfile

ENV_PREFIX = "EXECUTOR__"
SECRET_KEYS: dict[str, tuple[str, ...]] = {
    "exchange": ("api_key", "api_secret"),
    "ingress": ("secret",),
}


class LogFormat(StrEnum):
    AUTO = "auto"
    JSON = "json"
    CONSOLE = "console"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


def _host_port(value: str, field: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not (port.isascii() and port.isdigit()) or not 0 <= int(port) <= 65535:
        raise ValueError(f"{field} must be HOST:PORT with a port from 0 to 65535, e.g. 127.0.0.1:8080")
    return value


def _port_checked(url: str, field: str) -> str:
    """A URL whose port is a number, so no driver fails later on it with the URL in a traceback."""
    try:
        if urlsplit(url).port is None:
            return url
    except ValueError:
        raise ValueError(f"{field} has a port that is not a number from 0 to 65535") from None
    return url


class ExchangeSettings(Frozen):
    name: ExchangeId = ExchangeId.SIM_BINANCE
    mode: ExchangeMode = ExchangeMode.PAPER
    account: str = Field(default="main", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    sim_url: str = Field(default="", repr=False)
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    request_timeout_seconds: float = Field(default=10.0, ge=0.5, le=60)
    """How long one exchange request may take before its outcome counts as unknown (then looked up)."""
    request_window_ms: int = Field(default=5000, ge=1000, le=60_000)
    """How long a signed request stays executable (Binance `recvWindow`, Phemex request expiry): an unanswered
    write is never resent before it has passed."""
    rate_limits: Literal["auto", "mainnet", "testnet"] = "auto"
    """The request budget the throttle keeps to. auto: the venue's own (Phemex paper is its testnet, 500
    requests per 5 minutes in all); a simulator counts as mainnet unless set to its `rate_limits`."""
    streams: bool = True
    """Follow marks and best bid/ask over the exchange's market WebSocket streams (Binance markPrice and
    bookTicker, Phemex's ticker pack and order book), and the account's user data stream (Binance's user
    data stream, Phemex's aop_p); REST stays the fallback when a stream is stale or down, and polling stays
    beside the user stream."""
    stream_stall_ms: int = Field(default=5000, ge=1000, le=600_000)
    """A stream with no message for this long counts as down (a silent stall): reconnected with backoff."""

    @model_validator(mode="after")
    def _live_needs_keys(self) -> Self:
        if not self.name.simulated and (self.api_key is None or self.api_secret is None):
            raise ValueError(
                f"exchange.name = {self.name.value!r} needs EXECUTOR__EXCHANGE__API_KEY and "
                "EXECUTOR__EXCHANGE__API_SECRET (or their _FILE variants) in the environment"
            )
        return self

    @field_validator("sim_url")
    @classmethod
    def _sim_url_is_http(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("exchange.sim_url must be empty (embedded simulator) or an http:// URL")
        return _port_checked(value, "exchange.sim_url").rstrip("/")


class DatabaseSettings(Frozen):
    url: str = Field(default="sqlite+aiosqlite:///var/executor.db", repr=False)
    min_free_mib: int = Field(default=64, ge=0)
    """Below this much free disk space a SQLite database counts as full: not ready, signals refused."""
    probe_interval_seconds: float = Field(default=2.0, gt=0, le=60)
    probe_timeout_seconds: float = Field(default=2.0, gt=0, le=30)

    @field_validator("url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "database.url must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
                "(the daemon uses the asyncio drivers)"
            )
        return _port_checked(value, "database.url")


def _is_set(secret: SecretStr | None) -> bool:
    """An empty secret authenticates nothing, so it counts as none."""
    return secret is not None and bool(secret.get_secret_value())


class IngressSettings(Frozen):
    secret: SecretStr | None = None  # first: the listen addresses are validated against it
    websocket: str = "127.0.0.1:8765"
    http: str = "127.0.0.1:8080"
    redis_url: str = Field(default="", repr=False)
    redis_stream: str = Field(default="executor:signals", min_length=1)
    redis_group: str = Field(default="executor", min_length=1)
    replay_window_seconds: int = Field(default=300, ge=1, le=3600)
    max_connections: int = Field(default=256, ge=1, le=10_000)
    """Per listener (HTTP, WebSocket); more are closed as soon as they are accepted."""
    header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    """An HTTP request's headers, or a WebSocket handshake, must be complete within this."""
    body_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    websocket_outcome_seconds: float = Field(default=30.0, ge=0, le=300)
    """A WebSocket sender gets each signal's outcome when it is settled, waited for at most this long
    (then the outcome as it stands, `queued`); 0 sends only the acknowledgements."""

    @field_validator("websocket", "http")
    @classmethod
    def _is_host_port(cls, value: str, info: ValidationInfo) -> str:
        setting = f"ingress.{info.field_name}"
        problem = insecure_bind(setting, _host_port(value, setting), _is_set(info.data.get("secret")))
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("ingress.redis_url must be empty or a redis:// / rediss:// URL")
        return _port_checked(value, "ingress.redis_url")

    @property
    def has_secret(self) -> bool:
        return _is_set(self.secret)


class RiskSettings(Frozen):
    profile: str = Field(default="handbook", min_length=1)
    overrides: dict[str, Any] = Field(default_factory=dict)


class LoggingSettings(Frozen):
    level: LogLevel = LogLevel.INFO
    format: LogFormat = LogFormat.AUTO


class ForeignPolicy(StrEnum):
    HALT = "halt"
    IGNORE = "ignore"


class ExecutionSettings(Frozen):
    poll_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    breaker_interval_seconds: float = Field(default=2.0, gt=0, le=60)
    reconcile_interval_seconds: float = Field(default=60.0, ge=5, le=3600)
    account_max_age_seconds: float = Field(default=10.0, gt=0, le=300)
    streamed_account_seconds: float = Field(default=5.0, gt=0, le=300)
    """How often the tracker reads the account (balance and positions) while a trusted user data stream
    follows it and no market stream is down, instead of every `poll_interval_seconds`; the breaker judges that
    snapshot. The Phemex testnet's 500 requests per 5 minutes cannot pay for a read every second
    (docs/daemon.md "Polling beside the streams")."""
    market_refresh_seconds: float = Field(default=2.0, gt=0, le=60)
    max_price_age_ms: int = Field(default=1000, ge=50, le=60_000)
    clock_sync_seconds: float = Field(default=60.0, gt=0, le=3600)
    allow_stop_away_from_profit: bool = False
    on_foreign_position: ForeignPolicy = ForeignPolicy.HALT
    not_found_grace_seconds: float = Field(default=15.0, ge=1, le=600)
    """Exchanges answer "does not exist" for orders that do, for a while after placement: an order is taken
    as never placed only when lookups still miss it this long after its write (issue #10 item 5)."""

    @model_validator(mode="after")
    def _streamed_account_is_fresh(self) -> Self:
        """The signal path takes an account up to `account_max_age_seconds` old: a slower poll would put
        the account's read on every signal's path."""
        if self.streamed_account_seconds > self.account_max_age_seconds:
            raise ValueError(
                f"execution.streamed_account_seconds ({self.streamed_account_seconds:g}) must not exceed "
                f"execution.account_max_age_seconds ({self.account_max_age_seconds:g})"
            )
        return self


def _apprise_service(url: str) -> Any:
    """Apprise's service for `url`, or None; imported only when notification URLs are configured (a
    large import), and silenced, since its own error line would name the URL with its tokens."""
    import apprise

    quiet = logging.getLogger("apprise")
    level, quiet.level = quiet.level, logging.CRITICAL
    try:
        return apprise.Apprise.instantiate(url) if url.strip() else None
    finally:
        quiet.level = level


class AlertTarget(Frozen):
    """One Apprise URL (`tgram://…`, `discord://…`, `json://…`) and the events it receives."""

    url: str = Field(repr=False)
    events: tuple[str, ...] = ("all",)

    @field_validator("url")
    @classmethod
    def _apprise_url(cls, value: str) -> str:
        if _apprise_service(value) is None:
            scheme = value.partition("://")[0]
            raise ValueError(
                f"is not a notification URL Apprise can use (scheme {scheme!r}); see "
                "https://github.com/caronc/apprise/wiki for the URL of each service"
            )
        return value

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        known = [*GROUPS, *EVENTS]
        unknown = [name for name in value if name not in known]
        if unknown or not value:
            raise ValueError(
                f"unknown event {', '.join(unknown) or '(empty list)'}; use any of: {', '.join(known)}"
            )
        return value

    def secrets(self) -> list[str]:
        """The URL's tokens, as its Apprise service marks them private (a bot token, a webhook token, a
        password): they stand in its host and path, where `url_secrets` does not look."""
        service = _apprise_service(self.url)
        tokens = {**service.template_tokens, **service.template_args} if service is not None else {}
        found = []
        for name, token in tokens.items():
            value = getattr(service, token.get("map_to", name), None)
            if token.get("private") and isinstance(value, str):
                found.append(value)
        parts = [part for value in found for part in value.split(":") if len(part) >= 8]
        return [value for value in dict.fromkeys([*url_secrets(self.url), *found, *parts]) if value]

    def accepted(self) -> frozenset[Event]:
        """The events this URL receives, the group names expanded."""
        return frozenset(
            event for name in self.events for event in (GROUPS[name] if name in GROUPS else {EVENTS[name]})
        )


class AlertSettings(Frozen):
    webhook_url: str = Field(default="", repr=False)
    urls: tuple[AlertTarget, ...] = ()
    """Apprise URLs; a plain string is one URL receiving every event."""

    @field_validator("urls", mode="before")
    @classmethod
    def _plain_urls(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return [{"url": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("webhook_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("alerts.webhook_url must be empty or an http(s):// URL")
        return _port_checked(value, "alerts.webhook_url")


class ReportSettings(Frozen):
    dir: Path = Path("var/reports")
    """Where the daily report goes (DAY.html and DAY.png); relative to the working directory."""
    daily: bool = True
    """Write the ended day's report at each trading-day rollover, linked from the daily summary."""
    link_url: str = Field(default="", repr=False)
    """The daemon's address as the operator reaches it (e.g. https://ops.example/executor): the daily
    summary then links LINK_URL/reports/DAY.html (served by the daemon); empty: it names the file."""

    @field_validator("link_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("reports.link_url must be empty or an http(s):// URL")
        return _port_checked(value, "reports.link_url").rstrip("/")


class ServiceSettings(Frozen):
    shutdown_timeout_seconds: float = Field(default=5.0, gt=0, le=60)


class TestingSettings(Frozen):
    """Switches for the crash trials only; refused when trading live (see Settings)."""

    crash_at: tuple[CrashSpec, ...] = ()
    """``"point[@N],…"``: SIGKILL the N-th time the daemon passes each point (executor/crashpoints.py)."""

    @field_validator("crash_at", mode="before")
    @classmethod
    def _parse_crash_at(cls, value: Any) -> Any:
        return parse_crash_at(value) if isinstance(value, str) else value

    @field_serializer("crash_at")
    def _show_crash_at(self, specs: tuple[CrashSpec, ...]) -> str:
        return ",".join(map(str, specs))


def _toml_files(files: tuple[Path, ...]) -> dict[str, Any]:
    """default.toml, then the user's file on top; a secret in either is refused, not silently used."""
    merged: dict[str, Any] = {}
    for path in files:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {path} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
        for section, keys in SECRET_KEYS.items():
            for key in keys:
                if isinstance(data.get(section), dict) and key in data[section]:
                    raise ConfigError(
                        f"{section}.{key} is a secret and may not be in a file ({path}); set "
                        f"{ENV_PREFIX}{section.upper()}__{key.upper()} or "
                        f"{ENV_PREFIX}{section.upper()}__{key.upper()}_FILE instead"
                    )
        merged = _deep_merge(merged, data)
    return merged


FILE_KEYS = SECRET_KEYS | {"database": ("url",), "ingress": (*SECRET_KEYS["ingress"], "redis_url")}
"""Keys that may come from a file named by `EXECUTOR__SECTION__KEY_FILE`: the secrets, and the URLs that
can carry a password (a container gets them as secret files, not in its environment)."""


def _secret_files() -> dict[str, Any]:
    """`EXECUTOR__SECTION__KEY_FILE=/run/secrets/x` reads the value of one of FILE_KEYS from that file."""
    found: dict[str, Any] = {}
    for section, keys in FILE_KEYS.items():
        for key in keys:
            variable = f"{ENV_PREFIX}{section.upper()}__{key.upper()}_FILE"
            path = os.environ.get(variable)
            if not path:
                continue
            try:
                value = Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{variable} names {path}, which cannot be read: {exc.strerror}") from exc
            found.setdefault(section, {})[key] = value
    return found


def _environment() -> dict[str, Any]:
    """EXECUTOR__SECTION__KEY[__SUBKEY…] overrides; values are read as TOML literals when they parse."""
    found: dict[str, Any] = {}
    for variable, raw in os.environ.items():
        if not variable.startswith(ENV_PREFIX) or variable.endswith("_FILE"):
            continue
        path = [part.lower() for part in variable[len(ENV_PREFIX) :].split("__")]
        if len(path) < 2 or not all(path):
            raise ConfigError(f"{variable} must name a SECTION__KEY, e.g. {ENV_PREFIX}DATABASE__URL")
        node = found
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{variable} conflicts with another variable for the same key")
        node[path[-1]] = raw if _is_secret(path) else _literal(raw)
    return found


def _is_secret(path: list[str]) -> bool:
    return len(path) == 2 and path[1] in SECRET_KEYS.get(path[0], ())


def _literal(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class ConfigError(ValueError):
    """A configuration the daemon refuses to start with; the message names the key and the fix."""


class Settings(Frozen):
    """The whole configuration. A plain frozen model: `load_settings` gathers its sources itself (pydantic-
    settings would add ~0.1 s to every command's start for sources this project does not use)."""

    exchange: ExchangeSettings = ExchangeSettings()
    database: DatabaseSettings = DatabaseSettings()
    ingress: IngressSettings = IngressSettings()
    risk: RiskSettings = RiskSettings()
    execution: ExecutionSettings = ExecutionSettings()
    alerts: AlertSettings = AlertSettings()
    reports: ReportSettings = ReportSettings()
    logging: LoggingSettings = LoggingSettings()
    service: ServiceSettings = ServiceSettings()
    testing: TestingSettings = TestingSettings()

    @model_validator(mode="after")
    def _no_crash_points_live(self) -> Self:
        if self.testing.crash_at and self.exchange.mode is ExchangeMode.LIVE:
            raise ValueError(
                "testing.crash_at is refused with exchange.mode = 'live': crash points are for crash "
                "trials against the simulator or a testnet; remove it (and EXECUTOR__TESTING__CRASH_AT)"
            )
        return self

    def risk_profile(self) -> RiskProfile:
        """The named profile with [risk.overrides] applied; a bad value is a ConfigError naming it."""
        try:
            return load_profile(self.risk.profile, self.risk.overrides)
        except ProfileError as exc:
            raise ConfigError(prefixed("config: risk", str(exc))) from None

    def urls(self) -> dict[str, str]:
        """Every URL setting by its dotted name; any of them may carry a password or a token."""
        return {
            "exchange.sim_url": self.exchange.sim_url,
            "database.url": self.database.url,
            "ingress.redis_url": self.ingress.redis_url,
            "alerts.webhook_url": self.alerts.webhook_url,
            "reports.link_url": self.reports.link_url,
        }

    def secrets(self) -> list[str]:
        """Every configured secret's plain value (and URL credentials), for the log redactor."""
        values = [self.exchange.api_key, self.exchange.api_secret, self.ingress.secret]
        found = [value.get_secret_value() for value in values if value is not None]
        found += [secret for url in self.urls().values() for secret in url_secrets(url)]
        found += [secret for target in self.alerts.urls for secret in target.secrets()]
        return [value for value in found if value]

    def redacted(self) -> dict[str, Any]:
        """The resolved configuration as plain data with every secret and URL credential masked."""
        data = self.model_dump(mode="json")
        for name, url in self.urls().items():
            section, key = name.split(".")
            data[section][key] = redact_url(url)
        for target in data["alerts"]["urls"]:
            target["url"] = redact_notification_url(target["url"])
        return data


def load_settings(path: Path | None = None) -> Settings:
    """Resolve and validate the configuration, or raise ConfigError with one line per problem.

    Sources from lowest to highest precedence: config/default.toml, the user's file, EXECUTOR__ variables,
    then the values of EXECUTOR__…_FILE files. They are merged here rather than by pydantic-settings: its
    import cost ~0.1 s of every CLI start (docs/performance.md), and the `_FILE` secrets and the refusal
    of secrets in files needed sources of our own under it anyway.
    """
    files = (config_dir() / "default.toml",) if path is None else (config_dir() / "default.toml", path)
    from_files, from_environment = _secret_files(), _environment()
    data = _deep_merge(_deep_merge(_toml_files(files), from_environment), from_files)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc)) from None
    settings.risk_profile()
    return settings


def _explain(exc: ValidationError) -> str:
    return prefixed("config", "\n".join(explain(exc, Settings, secret_keys=_ALL_SECRET_NAMES)))


_ALL_SECRET_NAMES = {key for keys in SECRET_KEYS.values() for key in keys} | {"urls"}
"""Values shown as (redacted) in errors; alerts.urls entries carry their tokens in host and path."""
