"""URL credentials out of every message: the password in the user-info and credential query values.

A database, Redis, simulator or webhook URL may carry a password (`postgresql://u:pw@host/db`) or a
credential in its query (`?password=…`, `?token=…`, `?api_key=…`, `?sig=…`). Configuration errors,
log lines and CLI output pass through `redact_urls`, so such a value never reaches a terminal or a log
whatever the scheme and wherever in the text the URL stands. The user name is kept (it identifies,
it does not authenticate); everything else of the URL is kept byte for byte, so the message still says
which host and which setting are meant.
"""

from __future__ import annotations

import re
from typing import Final

MASK: Final = "***"
_URL: Final = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"]+")
_CREDENTIAL_WORDS: Final = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "signature",
    "credential",
    "auth",
    "apikey",
    "privatekey",
    "accesskey",
)
_CREDENTIAL_KEYS: Final = frozenset({"key", "pass", "pwd", "sig", "sign", "jwt", "session", "code"})


def is_credential_key(name: str) -> bool:
    """`password`, `token`, `api_key`, `X-Amz-Signature`, `key`, `sig`…: a name that holds a credential."""
    folded = "".join(character for character in name.lower() if character.isalnum())
    return (
        folded in _CREDENTIAL_KEYS
        or folded.endswith("key")
        or any(word in folded for word in _CREDENTIAL_WORDS)
    )


_PAIRS: Final = (
    re.compile(r"(?P<lead>[?&;])(?P<name>[^=&;#?]*)=(?P<value>[^&;#?]*)"),
    re.compile(r"(?P<lead>[?&;])(?P<name>[^=&;#?]*)=(?P<value>[^&;#]*)"),
)
"""A credential pair wherever it follows ?, & or ;: once with values ending at a '?' (so a password
holding '?' cannot hide the pairs after it), once with values running past one (legal in a query)."""


def _userinfo(tail: str) -> tuple[str, str] | None:
    """(user, password) when the URL has a password: up to the last '@', which a password may contain."""
    userinfo, at, _ = tail.rpartition("@")
    user, colon, password = userinfo.partition(":")
    return (user, password) if at and colon and password else None


def url_secrets(url: str) -> list[str]:
    """The credential values in a URL, for a log redactor's list of secrets to replace.

    Both readings of an ambiguous URL count: the password up to the last '@' (one with an unencoded
    '/', '?' or '@') and the standard one (up to the authority's end, when the query holds an '@').
    """
    _, sep, tail = url.partition("://")
    if not sep:
        return []
    found = []
    authority = re.split(r"[/?#]", tail, maxsplit=1)[0]
    for part in (tail, authority):
        credentials = _userinfo(part)
        if credentials:
            found.append(credentials[1])
    pairs = [pair for pattern in _PAIRS for pair in pattern.finditer(tail)]
    found += [pair["value"] for pair in pairs if pair["value"] and is_credential_key(pair["name"])]
    return list(dict.fromkeys(found))


def redact_url(url: str) -> str:
    """`postgresql://u:pw@h/db?sslpassword=x&a=1` → `postgresql://u:***@h/db?sslpassword=***&a=1`.

    Malformed URLs are masked on the safe side: everything up to the last '@' after `user:` counts
    as the password, and a credential pair is masked wherever it follows a `?`, `&` or `;`.
    """
    scheme, sep, tail = url.partition("://")
    if not sep:
        return url
    credentials = _userinfo(tail)
    if credentials:
        tail = f"{credentials[0]}:{MASK}@{tail.rpartition('@')[2]}"

    def mask(pair: re.Match[str]) -> str:
        if pair["value"] and is_credential_key(pair["name"]):
            return f"{pair['lead']}{pair['name']}={MASK}"
        return pair[0]

    for pattern in _PAIRS:
        tail = pattern.sub(mask, tail)
    return scheme + sep + tail


def redact_urls(text: str) -> str:
    """`text` with every URL in it passed through `redact_url`."""
    if "://" not in text:
        return text
    return _URL.sub(lambda match: redact_url(match[0]), text)


def redact_notification_url(url: str) -> str:
    """`tgram://123456:AAH…/chat` → `tgram://***`: only the service is named, never its tokens."""
    scheme, sep, _ = url.partition("://")
    return f"{scheme}://{MASK}" if sep else MASK
