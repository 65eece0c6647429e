"""The durable inbox: a signal is stored before any source acknowledges it, once per id.

Every transport hands the raw message and what it saw beside it to `Inbox.submit`, which
authenticates, validates and stores, and returns the answer to send back. The order matters:
authentication comes before validation, so a stranger learns nothing about the schema and
writes nothing; an invalid message leaves only a `rejected_signals` row; a valid one is
committed before `queued` is returned, and only then is the consumer handed the stored row (in memory:
it need not read the queue back) and woken.

What is kept of a rejected message is bounded and clean: at most `MAX_REPORTED_ERRORS` errors (then
one saying how many more), at most `MAX_STORED_RAW_CHARS` of its text, and no credential in either.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final

import structlog

from executor.config.settings import IngressSettings
from executor.crashpoints import CrashPoint, crash_point
from executor.domain.enums import SignalSource
from executor.observability.logging import get_logger
from executor.signals.auth import Authenticator, Credentials, Unauthorized
from executor.signals.redaction import replace_secrets, strip_credentials
from executor.signals.result import IngressResult, IngressStatus
from executor.signals.schema import (
    BODY,
    MAX_BODY_BYTES,
    FieldError,
    InvalidSignal,
    SignalMessage,
    load_object,
)
from executor.store.models import SignalRow
from executor.store.store import Store

log = get_logger("executor.signals")

AUTH_FIELD = "auth"
MAX_REPORTED_ERRORS: Final = 20
"""Errors answered, logged and stored per message; a body with thousands of problems gets the first
ones and a count, not a megabyte."""
MAX_STORED_RAW_CHARS: Final = MAX_BODY_BYTES
"""A rejected message's text is kept up to this many characters (a WebSocket frame may be larger)."""


class InboxUnavailable(Exception):
    """The signal could not be stored; the sender must not be told it was received, and should retry."""


def _as_bytes(raw: bytes | str) -> bytes:
    return raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")


def _as_text(raw: bytes | str) -> str:
    """The message as storable text: undecodable bytes replaced, no NULs (PostgreSQL refuses them)."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


def capped(errors: Sequence[FieldError], limit: int = MAX_REPORTED_ERRORS) -> tuple[FieldError, ...]:
    """The first `limit` errors, then one more saying how many were left out."""
    if len(errors) <= limit:
        return tuple(errors)
    more = len(errors) - limit
    return (*errors[:limit], FieldError(BODY, f"{more} more problems not listed; fix the ones above first"))


class Inbox:
    def __init__(
        self,
        store: Store,
        account: str,
        clock: Callable[[], datetime],
        authenticator: Authenticator | None = None,
        on_result: Callable[[IngressResult], None] | None = None,
        store_problem: Callable[[], str | None] | None = None,
        on_queued: Callable[[SignalRow], None] | None = None,
    ) -> None:
        self.store = store
        self.on_queued = on_queued
        """Handed each newly stored row once it is committed (the consumer takes it without a read)."""
        self.store_problem = store_problem
        """Why the store cannot take writes now (None while it can): then nothing is accepted."""
        self.on_result = on_result
        """Told every answer (the daemon counts them by status for its metrics)."""
        self.account = account
        self.clock = clock
        self.authenticator = authenticator if authenticator is not None else Authenticator(None)
        self.wakeup = asyncio.Event()
        """Set whenever a signal was queued; the consumer clears it, then reads the queued rows."""

    @classmethod
    def from_settings(
        cls,
        store: Store,
        account: str,
        settings: IngressSettings,
        clock: Callable[[], datetime],
        on_result: Callable[[IngressResult], None] | None = None,
        store_problem: Callable[[], str | None] | None = None,
        on_queued: Callable[[SignalRow], None] | None = None,
    ) -> Inbox:
        authenticator = Authenticator(settings.secret, settings.replay_window_seconds)
        return cls(store, account, clock, authenticator, on_result, store_problem, on_queued)

    async def submit(
        self, raw: bytes | str, source: SignalSource, auth: Credentials | None = None
    ) -> IngressResult:
        """Authenticate, validate and store one message; raises InboxUnavailable if it cannot be stored."""
        result = await self._submit(raw, source, auth)
        if self.on_result is not None:
            self.on_result(result)
        return result

    async def _submit(
        self, raw: bytes | str, source: SignalSource, auth: Credentials | None
    ) -> IngressResult:
        received_at = self.clock()
        credentials = auth if auth is not None else Credentials()
        try:
            data = self._authenticate(raw, credentials, received_at)
            signal = self._validate(raw, data, source)
        except Unauthorized as refused:
            log.warning("signal refused: unauthorized", source=source, reason=str(refused))
            return IngressResult(None, IngressStatus.UNAUTHORIZED, (FieldError(AUTH_FIELD, str(refused)),))
        except InvalidSignal as invalid:
            return self._unavailable(source) or await self._reject(raw, source, invalid, received_at)
        return self._unavailable(source) or await self._store(signal, source, received_at)

    def _unavailable(self, source: SignalSource) -> IngressResult | None:
        """The refusal to give while the store cannot take writes: acknowledge nothing it cannot keep."""
        problem = None if self.store_problem is None else self.store_problem()
        if problem is None:
            return None
        log.warning("signal refused: database unavailable", source=source, problem=problem)
        message = f"not stored: the database cannot take writes now ({problem}); resend it unchanged later"
        return IngressResult(None, IngressStatus.UNAVAILABLE, (FieldError(BODY, message),))

    @staticmethod
    def _validate(raw: bytes | str, data: dict[str, Any] | None, source: SignalSource) -> SignalMessage:
        """The schema; should it ever fail in an unforeseen way, that is one more invalid message."""
        try:
            return SignalMessage.parse(raw) if data is None else SignalMessage.from_object(data)
        except InvalidSignal:
            raise
        except Exception as exc:
            log.exception("signal validation failed unexpectedly", source=source)
            message = "the message could not be validated; check it against docs/signals.md"
            raise InvalidSignal([FieldError(BODY, message)]) from exc

    def _authenticate(
        self, raw: bytes | str, credentials: Credentials, now: datetime
    ) -> dict[str, Any] | None:
        """The parsed object (None if it is not one), once every credential present has been checked:
        a body token must be right even when a header already proved the secret."""
        method = self.authenticator.check_headers(_as_bytes(raw), credentials, now)
        data = None
        with contextlib.suppress(InvalidSignal):
            data = load_object(raw)
        token = None if data is None else data.get("token")
        if method is None or token is not None:
            self.authenticator.check_token(token)
        return data

    def strip_credentials(self, raw: bytes | str) -> str:
        """A message as storable text, bounded, with every credential and the secret replaced."""
        text = _as_text(raw)
        if len(text) > MAX_STORED_RAW_CHARS:
            text = text[:MAX_STORED_RAW_CHARS] + "…"
        return strip_credentials(text, self.authenticator.secrets)

    async def _reject(
        self, raw: bytes | str, source: SignalSource, invalid: InvalidSignal, received_at: datetime
    ) -> IngressResult:
        secrets = self.authenticator.secrets
        reported = tuple(
            FieldError(replace_secrets(error.field, secrets), replace_secrets(error.message, secrets))
            for error in capped(invalid.errors)
        )
        errors = [error.as_dict() for error in reported]
        with structlog.contextvars.bound_contextvars(signal_id=invalid.signal_id):
            try:
                async with self.store.transaction() as tx:
                    await tx.rejected.add(
                        account=self.account,
                        source=source,
                        raw=self.strip_credentials(raw),
                        errors=errors,
                        received_at=received_at,
                        signal_id=invalid.signal_id,
                    )
            except Exception as exc:
                log.exception("rejected signal could not be recorded", source=source)
                raise InboxUnavailable("the rejected signal could not be recorded") from exc
            log.info("signal invalid", source=source, errors=errors)
        return IngressResult(invalid.signal_id, IngressStatus.INVALID, reported)

    async def _store(
        self, signal: SignalMessage, source: SignalSource, received_at: datetime
    ) -> IngressResult:
        payload = signal.payload()
        with structlog.contextvars.bound_contextvars(signal_id=signal.id):
            try:
                async with self.store.transaction() as tx:
                    row, duplicate = await tx.signals.store(
                        account=self.account,
                        signal_id=signal.id,
                        source=source,
                        payload=payload,
                        received_at=received_at,
                    )
            except Exception as exc:
                log.exception("signal could not be stored", source=source)
                raise InboxUnavailable("the signal could not be stored; retry") from exc
            if duplicate:
                log.info(
                    "signal duplicate",
                    source=source,
                    first_source=row.source,
                    same_content=row.payload == payload,
                )
                return IngressResult(signal.id, IngressStatus.DUPLICATE)
            crash_point(CrashPoint.SIGNAL_STORED)
            if self.on_queued is not None:
                self.on_queued(row)
            self.wakeup.set()
            log.info(
                "signal queued",
                source=source,
                action=signal.action.value,
                symbol=signal.symbol,
                side=signal.side.value if signal.side else None,
            )
        return IngressResult(signal.id, IngressStatus.QUEUED)
