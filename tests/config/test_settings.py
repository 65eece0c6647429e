from __future__ import annotations

from pathlib import Path

import pytest

from executor.config.settings import ConfigError, load_settings
from executor.crashpoints import CrashPoint, CrashSpec
from executor.domain.enums import ExchangeId
from executor.domain.notices import GROUPS, TRADES, AlertKind


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for variable in list(os.environ):
        if variable.startswith("EXECUTOR__"):
            monkeypatch.delenv(variable)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "my.toml"
    path.write_text(text)
    return path


def test_embedded_default_is_sqlite_simulator_and_loopback() -> None:
    settings = load_settings()
    assert settings.database.url == "sqlite+aiosqlite:///var/executor.db"
    assert settings.exchange.name is ExchangeId.SIM_BINANCE
    assert settings.ingress.http.startswith("127.0.0.1:")
    assert settings.ingress.websocket.startswith("127.0.0.1:")
    assert settings.risk.profile == "handbook"


def test_user_file_overrides_default_and_environment_overrides_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, '[ingress]\nhttp = "127.0.0.1:9000"\nwebsocket = "127.0.0.1:9001"\n')
    monkeypatch.setenv("EXECUTOR__INGRESS__HTTP", "127.0.0.1:9100")
    settings = load_settings(path)
    assert (settings.ingress.http, settings.ingress.websocket) == ("127.0.0.1:9100", "127.0.0.1:9001")


def test_environment_values_are_typed_and_reach_nested_risk_overrides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings().exchange.request_timeout_seconds == 10
    monkeypatch.setenv("EXECUTOR__EXCHANGE__REQUEST_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("EXECUTOR__SERVICE__SHUTDOWN_TIMEOUT_SECONDS", "3")
    monkeypatch.setenv("EXECUTOR__RISK__OVERRIDES__DAILY_LOSS__LIMIT_PCT", '"0.02"')
    settings = load_settings()
    assert settings.service.shutdown_timeout_seconds == 3
    assert settings.exchange.request_timeout_seconds == 2.5
    assert settings.risk.overrides == {"daily_loss": {"limit_pct": "0.02"}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[exchange]\nname = "kraken"\n', "config: exchange.name = 'kraken': Input should be 'binance'"),
        ("[ingress]\nhttp = 8080\n", "config: ingress.http = 8080: Input should be a valid string"),
        ('[ingress]\nhttp = "localhost"\n', "ingress.http must be HOST:PORT"),
        ('[database]\nurl = "sqlite:///x.db"\n', "database.url must start with sqlite+aiosqlite://"),
        (
            "[service]\nshutdown_timeout_seconds = -1\n",
            "service.shutdown_timeout_seconds = -1: Input should be greater than 0",
        ),
        ('[exchange]\nnmae = "binance"\n', "config: exchange.nmae = 'binance': is not a known setting"),
        (
            '[exchange]\naccount = "has space"\n',
            "config: exchange.account = 'has space': String should match pattern",
        ),
        ('[exchange]\nname = "binance"\n', "needs EXECUTOR__EXCHANGE__API_KEY"),
        (
            "[exchange]\nrequest_timeout_seconds = 0.1\n",
            "exchange.request_timeout_seconds = 0.1: Input should be greater than or equal to 0.5",
        ),
        ("[exchange\n", "is not valid TOML"),
    ],
)
def test_bad_value_is_refused_with_a_message_naming_key_value_and_what_is_allowed(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(write(tmp_path, text))
    assert expected in str(error.value)


def test_unknown_environment_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXECUTOR__DATABASE__URLL", "x")
    with pytest.raises(ConfigError, match=r"database\.urll"):
        load_settings()


def test_secret_in_a_file_is_refused_and_not_echoed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(write(tmp_path, '[exchange]\napi_secret = "s3cr3t-value"\n'))
    assert "EXECUTOR__EXCHANGE__API_SECRET" in str(error.value)
    assert "s3cr3t-value" not in str(error.value)


def test_secrets_come_from_environment_or_a_named_file_and_are_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("file-secret-value\n")
    monkeypatch.setenv("EXECUTOR__EXCHANGE__NAME", "binance")
    monkeypatch.setenv("EXECUTOR__EXCHANGE__API_KEY", "env-key-value")
    monkeypatch.setenv("EXECUTOR__EXCHANGE__API_SECRET_FILE", str(secret_file))
    monkeypatch.setenv("EXECUTOR__DATABASE__URL", "postgresql+asyncpg://u:db-password@127.0.0.1/x")
    settings = load_settings()
    assert settings.exchange.api_secret is not None
    assert settings.exchange.api_secret.get_secret_value() == "file-secret-value"
    shown = repr(settings) + str(settings) + repr(settings.redacted())
    for secret in ("env-key-value", "file-secret-value", "db-password"):
        assert secret not in shown
    assert set(settings.secrets()) == {"env-key-value", "file-secret-value", "db-password"}


def test_unreadable_secret_file_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXECUTOR__INGRESS__SECRET_FILE", "/nonexistent/secret")
    with pytest.raises(ConfigError, match="EXECUTOR__INGRESS__SECRET_FILE names /nonexistent/secret"):
        load_settings()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            "[risk.overrides.risk]\npercent = -0.01\n",
            "risk.percent = -0.01: expected a number from 0 to 1",
        ),
        (
            "[risk.overrides.daily_loss]\nlimit_pct = 1.5\n",
            "daily_loss.limit_pct = 1.5: expected a number from 0 to 1, or false to turn the rule off",
        ),
        (
            "[risk.overrides.leverage]\nmax_per_trade = 0\n",
            "leverage.max_per_trade = 0: expected a whole number from 1 to 125",
        ),
        ("[risk.overrides]\nleverag = 3\n", "leverag = 3: is not a known setting"),
        ('[risk]\nprofile = "nope"\n', "risk profile 'nope': no file"),
    ],
)
def test_impossible_risk_values_are_refused_naming_the_key_and_the_allowed_range(
    tmp_path: Path, overrides: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(write(tmp_path, overrides))
    assert str(error.value).startswith("config: risk: ")
    assert expected in str(error.value)


def test_risk_overrides_reach_the_loaded_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXECUTOR__RISK__PROFILE", "fixed-risk")
    monkeypatch.setenv("EXECUTOR__RISK__OVERRIDES__LEVERAGE__MAX_PER_TRADE", "7")
    profile = load_settings().risk_profile()
    assert profile.name == "fixed-risk" and profile.leverage.max_per_trade == 7


@pytest.mark.parametrize(
    ("variable", "value", "key"),
    [
        ("EXECUTOR__INGRESS__HTTP", "127.0.0.1:８０８０", "ingress.http"),
        ("EXECUTOR__INGRESS__WEBSOCKET", "127.0.0.1:٨٧٦٥", "ingress.websocket"),
        ("EXECUTOR__INGRESS__REPLAY_WINDOW_SECONDS", "３００", "ingress.replay_window_seconds"),
        ("EXECUTOR__EXECUTION__POLL_INTERVAL_SECONDS", "١", "execution.poll_interval_seconds"),
        ("EXECUTOR__RISK__OVERRIDES__RISK__PERCENT", '"０.01"', "risk.percent"),
        ("EXECUTOR__RISK__OVERRIDES__DAILY_LOSS__LIMIT_AMOUNT", '"٣٠٠"', "daily_loss.limit_amount"),
    ],
)
def test_numbers_in_other_digits_than_ascii_are_refused_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, key: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert key in str(error.value)


def test_crash_points_are_parsed_from_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXECUTOR__TESTING__CRASH_AT", "entry_answered@2, fill_booked")
    settings = load_settings()
    assert settings.testing.crash_at == (
        CrashSpec(CrashPoint.ENTRY_ANSWERED, 2),
        CrashSpec(CrashPoint.FILL_BOOKED, 1),
    )
    assert settings.redacted()["testing"] == {"crash_at": "entry_answered@2,fill_booked"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("entry_answerd", "config: testing.crash_at = 'entry_answerd': unknown crash point 'entry_answerd'"),
        ("fill_booked@0", "N of POINT@N must be a whole number ≥ 1"),
        ("fill_booked@x", "N of POINT@N must be a whole number ≥ 1"),
    ],
)
def test_a_mistyped_crash_point_is_one_config_line_naming_the_field(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv("EXECUTOR__TESTING__CRASH_AT", value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert expected in str(error.value)
    assert "\n" not in str(error.value)


def test_crash_points_are_refused_when_trading_live(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXECUTOR__TESTING__CRASH_AT", "signal_stored")
    monkeypatch.setenv("EXECUTOR__EXCHANGE__MODE", "live")
    with pytest.raises(ConfigError, match=r"testing\.crash_at is refused with exchange\.mode = 'live'"):
        load_settings()


def test_the_streamed_account_poll_may_not_be_slower_than_the_account_may_be_old(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EXECUTOR__EXECUTION__STREAMED_ACCOUNT_SECONDS", "12")
    with pytest.raises(ConfigError, match=r"streamed_account_seconds \(12\) must not exceed .*\(10\)"):
        load_settings()
    monkeypatch.setenv("EXECUTOR__EXECUTION__ACCOUNT_MAX_AGE_SECONDS", "12")
    assert load_settings().execution.streamed_account_seconds == 12


BAD_URLS = {
    "database.url": "postgresql://{cred}db.example/x{query}",
    "ingress.redis_url": "http://{cred}cache.example:6379/0{query}",
    "exchange.sim_url": "ftp://{cred}sim.example{query}",
    "alerts.webhook_url": "ftp://{cred}hooks.example/alert{query}",
    "reports.link_url": "ftp://{cred}ops.example/executor{query}",
}
CREDENTIALS = [
    ("u:pw-in-userinfo@", "", "pw-in-userinfo"),
    ("u@", "?password=pw-in-query", "pw-in-query"),
    ("", "?sslmode=require&token=tok-in-query", "tok-in-query"),
    ("", "?api_key=key-in-query", "key-in-query"),
    ("", "?signature=sig-in-query", "sig-in-query"),
]


def env_name(setting: str) -> str:
    return "EXECUTOR__" + setting.upper().replace(".", "__")


@pytest.mark.parametrize("setting", sorted(BAD_URLS))
@pytest.mark.parametrize(("cred", "query", "secret"), CREDENTIALS)
def test_a_refused_url_is_named_with_its_credentials_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str, cred: str, query: str, secret: str
) -> None:
    monkeypatch.setenv(env_name(setting), BAD_URLS[setting].format(cred=cred, query=query))
    with pytest.raises(ConfigError) as error:
        load_settings()
    message = str(error.value)
    assert secret not in message
    assert f"config: {setting} = " in message and "***" in message
    assert len(message.splitlines()) == 1


GOOD_URLS = {
    "database.url": "postgresql+asyncpg://{cred}db.example/x{query}",
    "ingress.redis_url": "redis://{cred}cache.example:6379/0{query}",
    "exchange.sim_url": "http://{cred}sim.example{query}",
    "alerts.webhook_url": "https://{cred}hooks.example/alert{query}",
    "reports.link_url": "https://{cred}ops.example/executor{query}",
}


@pytest.mark.parametrize("setting", sorted(GOOD_URLS))
@pytest.mark.parametrize(("cred", "query", "secret"), CREDENTIALS)
def test_url_credentials_reach_the_log_redactor_and_never_the_shown_configuration(
    monkeypatch: pytest.MonkeyPatch, setting: str, cred: str, query: str, secret: str
) -> None:
    monkeypatch.setenv(env_name(setting), GOOD_URLS[setting].format(cred=cred, query=query))
    settings = load_settings()
    section, key = setting.split(".")
    assert secret in settings.secrets()
    shown = settings.redacted()
    assert secret not in repr(shown) and "***" in shown[section][key]
    assert secret not in repr(settings) + str(settings)


@pytest.mark.parametrize("setting", sorted(GOOD_URLS))
def test_a_url_with_a_port_that_is_not_a_number_is_refused_at_start_with_its_password_masked(
    monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    url = GOOD_URLS[setting].format(cred="u:pw-before-a-bad-port@", query="")
    url = url.replace(".example", ".example:x")
    monkeypatch.setenv(env_name(setting), url)
    with pytest.raises(ConfigError) as error:
        load_settings()
    message = str(error.value)
    assert f"config: {setting} = " in message and "u:***@" in message
    assert "has a port that is not a number" in message and "pw-before-a-bad-port" not in message


TELEGRAM = "tgram://123456789:AAHsecretbottokenvalue0123456789abc/-100200300"


def test_notification_urls_take_a_plain_url_for_every_event_or_a_table_with_a_filter(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f'[alerts]\nurls = ["{TELEGRAM}", {{url = "ntfy://ops", events = ["trades", "stop_not_placed"]}}]',
    )
    settings = load_settings(path)
    everything, filtered = settings.alerts.urls
    assert everything.accepted() == GROUPS["all"]
    assert filtered.accepted() == TRADES | {AlertKind.STOP_NOT_PLACED}


def test_a_notification_urls_tokens_reach_the_log_redactor_and_never_the_shown_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EXECUTOR__ALERTS__URLS", f'["{TELEGRAM}"]')
    settings = load_settings()
    token = "AAHsecretbottokenvalue0123456789abc"
    assert token in settings.secrets()
    shown = settings.redacted()
    assert shown["alerts"]["urls"][0]["url"] == "tgram://***"
    assert token not in repr(shown) + repr(settings) + str(settings)


@pytest.mark.parametrize(
    ("urls", "named"),
    [
        (
            '["nosuchservice://AAHsecretbottokenvalue0123456789abc"]',
            "alerts.urls[0].url = (redacted): is not a notification URL",
        ),
        (
            f'[{{url = "{TELEGRAM}", events = ["trade"]}}]',
            "alerts.urls[0].events = (redacted): unknown event trade; use any of: all, trades",
        ),
    ],
)
def test_a_bad_notification_url_or_event_is_one_line_naming_it_without_its_token(
    monkeypatch: pytest.MonkeyPatch, urls: str, named: str
) -> None:
    monkeypatch.setenv("EXECUTOR__ALERTS__URLS", urls)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert named in message and "AAHsecret" not in message and "Traceback" not in message
