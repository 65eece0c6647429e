"""How the operator commands reach what they need: the configured database, checked before use."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

import click

from executor.config.settings import Settings
from executor.domain.redaction import redact_url, redact_urls
from executor.store.store import Store

T = TypeVar("T")

EXIT_FAILURE = 1


class Unreachable(Exception):
    """What the command needs (database, daemon) cannot be reached; the message says which and why."""


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    """One line on stderr (URL credentials masked: a message may quote a URL) and the exit code."""
    click.echo(redact_urls(message), err=True)
    sys.exit(code)


def quiet_http_client() -> None:
    """httpx logs every request at INFO, which would land in the command's (JSON) output."""
    logging.getLogger("httpx").setLevel(logging.WARNING)


def with_store(settings: Settings, action: Callable[[Store], Awaitable[T]]) -> T:
    """Run `action` on the configured database; exit 1 naming the database when it cannot be used."""

    async def run() -> T:
        store = Store.open(settings.database.url)
        try:
            await _check(store, redact_url(settings.database.url))
            return await action(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except Unreachable as exc:
        fail(str(exc))


async def _check(store: Store, shown_url: str) -> None:
    try:
        ready = await store.is_at_head()
    except Exception as exc:
        raise Unreachable(f"cannot read the database {shown_url}: {exc}") from exc
    if not ready:
        raise Unreachable(
            f"the database {shown_url} is not at the newest schema; run `executor db upgrade` first"
        )
