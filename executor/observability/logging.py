"""structlog set-up: JSON lines in a container, a readable console on a TTY, secrets never printed.

Redaction runs on the final rendered line, after exceptions and tracebacks have been formatted, so a
secret that reached an exception message is caught too. Standard-library loggers (uvicorn, alembic,
ccxt, asyncio) are routed through the same pipeline. On the console, numbers read as people read them
(executor/observability/console.py); JSON lines keep the exact values.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

from executor.domain.redaction import redact_urls
from executor.observability.console import readable_numbers
from executor.observability.repeats import RepeatLimiter

REDACTED = "[REDACTED]"


class SecretRedactor:
    """Replaces every configured secret, and every URL credential, wherever it appears in a line."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: tuple[str, ...] = ()
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret containing another is replaced whole; the JSON-escaped form too,
        # since the JSON renderer escapes quotes and backslashes. Values under 4 characters would blank
        # out ordinary words, so they are not matched.
        forms = {form for s in secrets if len(s) >= 4 for form in (s, json.dumps(s)[1:-1])}
        self._secrets = tuple(sorted(forms, key=len, reverse=True))

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return redact_urls(text)


_redactor = SecretRedactor()


def _redacting(renderer: Any) -> Any:
    def render(logger: Any, method: str, event: MutableMapping[str, Any]) -> str:
        return _redactor.redact(str(renderer(logger, method, event)))

    return render


def configure_logging(
    *,
    level: str = "info",
    fmt: str = "auto",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Idempotent: the CLI calls it once config is known, tests call it with their own stream."""
    out = stream if stream is not None else sys.stdout
    _redactor.update(secrets)
    as_json = fmt == "json" or (fmt == "auto" and not out.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(
            colors=out.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if as_json:
        shared.append(structlog.processors.format_exc_info)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *([] if as_json else [readable_numbers]),
            _redacting(renderer),
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    handler.addFilter(RepeatLimiter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in (
        "alembic",
        "ccxt",
        "aiohttp.access",
        "uvicorn.access",
        "websockets",
        "httpx",
        "httpcore",
        "apprise",
        "matplotlib",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
