from __future__ import annotations

import io
import json
import logging

import structlog

from executor.observability.logging import REDACTED, configure_logging, get_logger

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
