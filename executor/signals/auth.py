"""Who may send signals: a signed body, a Bearer or X-Token header or a token field, checked in constant time.

With no secret configured anyone who can reach the port can trade, so ingress then only binds to
loopback (`ensure_safe_bind`). A signed request can be replayed within the window, but the inbox is
idempotent by signal id, so a replay is answered as a duplicate and never decided twice. Every
credential that is present must be right: one right credential never excuses a wrong one beside it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from pydantic import SecretStr

from executor.config.binding import insecure_bind

SIGNATURE_HEADER: Final = "X-Signature"
TIMESTAMP_HEADER: Final = "X-Timestamp"
AUTHORIZATION_HEADER: Final = "Authorization"
TOKEN_HEADER: Final = "X-Token"
"""The secret as a plain header, for clients that can set a header but not `Authorization`."""
_BEARER = "bearer "
_MAX_TIMESTAMP_DIGITS = 12


class AuthMethod(StrEnum):
    OPEN = "open"
    """No secret is configured (loopback only)."""
    TRUSTED = "trusted"
    """The transport itself is authenticated (the Redis connection and its password)."""
    SIGNATURE = "signature"
    BEARER = "bearer"
    TOKEN = "token"
    """The `X-Token` header or the body's `token` field."""


class Unauthorized(Exception):
    """The sender did not prove it knows the secret; the message says what was wrong, never the secret."""


class InsecureBind(ValueError):
    """Ingress without a secret was asked to listen beyond this machine."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the transport saw besides the body."""

    signature: str | None = None
    timestamp: str | None = None
    bearer: str | None = None
    token: str | None = None
    trusted: bool = False

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Credentials:
        """From HTTP or WebSocket handshake headers (looked up case-insensitively by the caller's mapping)."""
        authorization = headers.get(AUTHORIZATION_HEADER)
        bearer = None
        if authorization is not None and authorization[: len(_BEARER)].lower() == _BEARER:
            bearer = authorization[len(_BEARER) :].strip()
        elif authorization is not None:
            bearer = ""
        return cls(
            signature=headers.get(SIGNATURE_HEADER),
            timestamp=headers.get(TIMESTAMP_HEADER),
            bearer=bearer,
            token=headers.get(TOKEN_HEADER),
        )


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The X-Signature for a body sent at `timestamp` (unix seconds): hex HMAC-SHA256 of "ts.body"."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


class Authenticator:
    def __init__(self, secret: SecretStr | str | None, replay_window_seconds: int = 300) -> None:
        value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        self._secret = value or None
        self.replay_window_seconds = replay_window_seconds

    @property
    def required(self) -> bool:
        return self._secret is not None

    @property
    def secrets(self) -> tuple[str, ...]:
        """What must never be stored or logged: the secret, when there is one."""
        return () if self._secret is None else (self._secret,)

    def check_bearer(self, bearer: str | None) -> None:
        """The WebSocket handshake's `Authorization: Bearer <secret>`."""
        if self._secret is None:
            return
        if bearer is None:
            raise Unauthorized(f"send the {AUTHORIZATION_HEADER}: Bearer <secret> header")
        if not _same(self._secret, bearer):
            raise Unauthorized("the Bearer token is wrong")

    def check_token(self, token: object) -> None:
        """The body's `token` field (or `X-Token`), for senders that cannot sign (TradingView)."""
        if self._secret is None:
            return
        if token is not None and not isinstance(token, str):
            raise Unauthorized('the "token" field must be a string holding the shared secret')
        if token is None:
            raise Unauthorized(
                f"sign the body ({SIGNATURE_HEADER} and {TIMESTAMP_HEADER}), send {AUTHORIZATION_HEADER}: "
                f'Bearer <secret> or {TOKEN_HEADER}: <secret>, or put the secret in a "token" field'
            )
        if not _same(self._secret, token):
            raise Unauthorized("the token is wrong")

    def check_headers(self, body: bytes, credentials: Credentials, now: datetime) -> AuthMethod | None:
        """Authenticate from what came beside the body; None when only a body token can still do it.

        Every credential present is checked, and any wrong one refuses the request even if another
        is right (or a body token would be), so a broken or guessing sender is noticed instead of
        silently falling back.
        """
        if self._secret is None:
            return AuthMethod.OPEN
        if credentials.trusted:
            return AuthMethod.TRUSTED
        methods: list[AuthMethod] = []
        if credentials.signature is not None or credentials.timestamp is not None:
            self._check_signature(body, credentials, now)
            methods.append(AuthMethod.SIGNATURE)
        if credentials.bearer is not None:
            self.check_bearer(credentials.bearer)
            methods.append(AuthMethod.BEARER)
        if credentials.token is not None:
            if not _same(self._secret, credentials.token):
                raise Unauthorized(f"the {TOKEN_HEADER} header is wrong")
            methods.append(AuthMethod.TOKEN)
        return methods[0] if methods else None

    def check_request(self, credentials: Credentials, now: datetime) -> None:
        """A request with no body to carry a token (GET /status, /metrics): a header must prove the secret."""
        if self.check_headers(b"", credentials, now) is None:
            raise Unauthorized(
                f"send {AUTHORIZATION_HEADER}: Bearer <secret> (or {TOKEN_HEADER}: <secret>); "
                "only /health and /ready answer without it"
            )

    def _check_signature(self, body: bytes, credentials: Credentials, now: datetime) -> None:
        assert self._secret is not None
        stamp, signature = credentials.timestamp, credentials.signature
        if stamp is None or signature is None:
            raise Unauthorized(f"send both {SIGNATURE_HEADER} and {TIMESTAMP_HEADER}")
        stamp = stamp.strip()
        if not stamp.isascii() or not stamp.isdigit() or len(stamp) > _MAX_TIMESTAMP_DIGITS:
            raise Unauthorized(f"{TIMESTAMP_HEADER} must be the unix time in whole seconds")
        skew = abs(now.timestamp() - int(stamp))
        if skew > self.replay_window_seconds:
            raise Unauthorized(
                f"{TIMESTAMP_HEADER} is {skew:.0f} s from the server's clock, outside the "
                f"{self.replay_window_seconds} s replay window; sign with the current time"
            )
        given = signature.strip().lower().removeprefix("sha256=")
        if not _same(sign(self._secret, body, int(stamp)), given):
            raise Unauthorized(
                f'{SIGNATURE_HEADER} does not match: send hex HMAC-SHA256 of "{TIMESTAMP_HEADER}.body" '
                "with the shared secret"
            )


def ensure_safe_bind(address: str, has_secret: bool, setting: str) -> None:
    """Refuse to listen on `address` (HOST:PORT) beyond loopback without a secret, naming both ways out."""
    problem = insecure_bind(setting, address, has_secret)
    if problem is not None:
        raise InsecureBind(f"{setting} = {address!r} {problem}")
