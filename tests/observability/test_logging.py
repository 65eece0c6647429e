from __future__ import annotations

import io
import json
import logging

import structlog

from executor.observability.logging import REDACTED, configure_logging, get_logger
from executor.observability.repeats import RepeatLimiter

SECRET = 'k3y"with\\quote-0123456789'


def test_secret_never_appears_in_json_lines_including_exception_message_and_traceback() -> None:
    out = io.StringIO()
    configure_logging(fmt="json", secrets=[SECRET], stream=out)
    log = get_logger("test")
    with structlog.contextvars.bound_contextvars(signal_id="s-1"):
        log.info("placing", api_secret=SECRET, nested={"key": SECRET})
        try:
            raise RuntimeError(f"exchange refused key {SECRET}")
        except RuntimeError:
            log.exception("failed")
    logging.getLogger("ccxt.base").error("raw %s", SECRET)
    text = out.getvalue()
    assert SECRET not in text
    assert json.dumps(SECRET)[1:-1] not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert [line["event"] for line in lines] == ["placing", "failed", f"raw {REDACTED}"]
    assert lines[0]["signal_id"] == lines[1]["signal_id"] == "s-1"
    assert "Traceback" in lines[1]["exception"] and REDACTED in lines[1]["exception"]
    assert lines[0]["timestamp"].endswith("Z")


def test_console_format_redacts_too() -> None:
    out = io.StringIO()
    configure_logging(fmt="console", secrets=[SECRET], stream=out)
    try:
        raise ValueError(SECRET)
    except ValueError:
        get_logger("test").exception("failed", secret=SECRET)
    assert SECRET not in out.getvalue() and REDACTED in out.getvalue()


def test_auto_format_is_json_when_the_stream_is_not_a_terminal() -> None:
    out = io.StringIO()
    configure_logging(fmt="auto", stream=out)
    get_logger("test").info("hello", n=1)
    assert json.loads(out.getvalue())["n"] == 1


def test_url_credentials_are_masked_in_every_line_even_when_not_configured_as_secrets() -> None:
    out = io.StringIO()
    configure_logging(fmt="json", stream=out)
    log = get_logger("test")
    log.warning("redis unreachable", url="redis://:pw-userinfo@cache:6379/0")
    try:
        raise ConnectionError("POST https://hooks.example/a?token=tok-query&x=1 failed")
    except ConnectionError:
        log.exception("alert_webhook_failed")
    logging.getLogger("asyncpg").error("connect postgresql://u:pg-pass@db/x?sslpassword=ssl-pass")
    text = out.getvalue()
    for secret in ("pw-userinfo", "tok-query", "pg-pass", "ssl-pass"):
        assert secret not in text
    assert "redis://:***@cache:6379/0" in text and "?token=***&x=1" in text


def test_a_flood_of_one_warning_is_cut_to_a_burst_and_the_next_one_says_how_many_were_dropped() -> None:
    out = io.StringIO()
    configure_logging(fmt="json", stream=out)
    log = get_logger("flood")
    for number in range(5000):
        log.warning("connection refused: too many open", attempt=number)
        log.info("signal queued", signal_id=f"s-{number}")
    accept = logging.getLogger("asyncio")
    for _ in range(5000):
        accept.error("socket.accept() out of system resource\nsocket: %s", "<listening socket>")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    warnings = [line for line in lines if line["event"] == "connection refused: too many open"]
    assert [line["attempt"] for line in warnings] == list(range(10))
    assert sum(line["event"] == "signal queued" for line in lines) == 5000  # info is never dropped
    assert sum(line["event"].startswith("socket.accept()") for line in lines) == 10
    assert sum(line["level"] in ("warning", "error") for line in lines) == 20


def test_after_the_window_the_first_line_carries_the_count_of_those_dropped() -> None:
    moments = iter([0.0] * 25 + [11.0] * 2)
    limiter = RepeatLimiter(burst=10, window=10.0, clock=lambda: next(moments))
    records = [
        logging.LogRecord("x", logging.WARNING, __file__, 1, {"event": "same"}, None, None) for _ in range(26)
    ]
    passed = [limiter.filter(record) for record in records]
    assert passed == [True] * 10 + [False] * 15 + [True]
    assert records[-1].msg == {"event": "same", "repeats_suppressed": 15}
    other = logging.LogRecord("x", logging.ERROR, __file__, 1, "text %s", ("a",), None)
    assert limiter.filter(other) and other.msg == "text %s"


def test_the_console_shows_money_with_2_decimals_and_json_lines_keep_the_exact_value() -> None:
    out = io.StringIO()
    configure_logging(fmt="console", stream=out)
    get_logger("test").info(
        "position_closed", pnl="-44.0795", fees="2.0811", funding="0", stop_price="147.00"
    )
    line = out.getvalue()
    assert (
        "pnl=-44.08" in line
        and "fees=2.08" in line
        and "funding=0.00" in line
        and "stop_price=147.00" in line
    )

    out = io.StringIO()
    configure_logging(fmt="json", stream=out)
    get_logger("test").info("position_closed", pnl="-44.0795", fees="2.0811")
    assert json.loads(out.getvalue())["pnl"] == "-44.0795"


def test_the_console_shows_prices_to_the_tick_and_quantities_to_the_step_the_line_names() -> None:
    fields = {
        "fill_price": "150.1234567",
        "stop_price": "147.0",
        "slippage": "0.0216667",
        "filled": "14.9",
        "price_tick": "0.010",
        "amount_step": "1",
    }
    out = io.StringIO()
    configure_logging(fmt="console", stream=out)
    get_logger("test").info("entry_placed", **fields)
    line = out.getvalue()
    assert "fill_price=150.12" in line and "stop_price=147.00" in line and "slippage=0.02" in line, line
    assert "filled=14 " in line  # down to the step, as every quantity sent is
    assert "price_tick" not in line and "amount_step" not in line

    out = io.StringIO()
    configure_logging(fmt="json", stream=out)
    get_logger("test").info("entry_placed", **fields)
    assert json.loads(out.getvalue()) | fields == json.loads(out.getvalue())  # exact, with the grid


def test_without_the_market_the_console_shows_prices_and_quantities_as_given() -> None:
    out = io.StringIO()
    configure_logging(fmt="console", stream=out)
    get_logger("test").info("alert", liquidation_price="136.2244", qty="0.123")
    assert "liquidation_price=136.2244" in out.getvalue() and "qty=0.123" in out.getvalue()


def test_the_console_says_a_negative_loss_as_a_profit_and_json_keeps_the_signed_value() -> None:
    out = io.StringIO()
    configure_logging(fmt="console", stream=out)
    log = get_logger("test")
    log.warning("breaker_resumed", loss_at_resume="-3.456")
    log.warning("daily_loss_breach_pending_confirmation", loss="310.004", limit="300")
    resumed, breach = out.getvalue().splitlines()
    assert "loss_at_resume='profit 3.46'" in resumed and "-3.4" not in resumed
    assert "loss=310.00" in breach and "limit=300.00" in breach

    out = io.StringIO()
    configure_logging(fmt="json", stream=out)
    get_logger("test").warning("breaker_resumed", loss_at_resume="-3.456")
    assert json.loads(out.getvalue())["loss_at_resume"] == "-3.456"
