"""The browser's way in when `ingress.secret` is set: a login form that sets a session cookie.

A browser cannot add an `Authorization` header to a page it navigates to, so `POST /login` checks the
secret once (like any other credential, in constant time) and answers a cookie that proves it until it
expires: `EXPIRY.HMAC-SHA256(secret, "dashboard-session:EXPIRY")`. The cookie never holds the secret, a
new secret ends every session, and it is HttpOnly and SameSite=Strict. A cookie alone authenticates only
reads (GET, HEAD); a POST (pause, close) must also carry the `X-Executor-Dashboard` header, which
another site's page cannot send without a CORS preflight the daemon never grants (OWASP's custom
request header defence against cross-site request forgery).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Final

COOKIE: Final = "executor_session"
FORM_HEADER: Final = "X-Executor-Dashboard"
"""Sent by the page's own script with every POST; required beside the cookie for anything but a read."""
LIFETIME: Final = timedelta(hours=12)
SAFE_METHODS: Final = frozenset({"GET", "HEAD"})


class Sessions:
    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    @classmethod
    def for_secrets(cls, secrets: tuple[str, ...]) -> Sessions | None:
        """Sessions keyed by the ingress secret; None when there is none (the page is then open)."""
        return cls(secrets[0]) if secrets else None

    def _mac(self, expires: int) -> str:
        return hmac.new(self._key, f"dashboard-session:{expires}".encode(), hashlib.sha256).hexdigest()

    def issue(self, now: datetime) -> str:
        """A cookie value valid until now + LIFETIME."""
        expires = int((now + LIFETIME).timestamp())
        return f"{expires}.{self._mac(expires)}"

    def valid(self, value: str | None, now: datetime) -> bool:
        if not value:
            return False
        stamp, _, mac = value.partition(".")
        if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
            return False
        expires = int(stamp)
        return expires > now.timestamp() and hmac.compare_digest(
            self._mac(expires).encode(), mac.encode("utf-8", "replace")
        )

    def admits(
        self, method: str, cookies: Mapping[str, str], headers: Mapping[str, str], now: datetime
    ) -> bool:
        """A request the session cookie authenticates: a read, or a POST from the page's own script."""
        if not self.valid(cookies.get(COOKIE), now):
            return False
        return method in SAFE_METHODS or headers.get(FORM_HEADER) == "1"
