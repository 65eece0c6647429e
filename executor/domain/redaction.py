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
_URL: Final = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")
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


def _split(url: str) -> tuple[str, str, str, str] | None:
    """(scheme://, user-info or '', rest up to the query, '?query#fragment' or '')."""
    scheme, sep, tail = url.partition("://")
    if not sep:
        return None
    cut = min((i for i in (tail.find("?"), tail.find("#")) if i >= 0), default=len(tail))
    before, query = tail[:cut], tail[cut:]
    userinfo, at, rest = before.rpartition("@")
    return scheme + sep, (userinfo + at) if at else "", rest, query


def _password(userinfo: str) -> str:
    return userinfo.removesuffix("@").partition(":")[2]


def _credential_values(query: str) -> list[str]:
    body = query[1:].partition("#")[0] if query.startswith("?") else ""
    pairs = (pair.partition("=") for pair in re.split(r"[&;]", body))
    return [value for name, _, value in pairs if value and is_credential_key(name)]


def url_secrets(url: str) -> list[str]:
    """The credential values in a URL (password, credential query values), for a log redactor's list."""
    parts = _split(url)
    if parts is None:
        return []
    _, userinfo, _, query = parts
    password = _password(userinfo)
    return ([password] if password else []) + _credential_values(query)


def redact_url(url: str) -> str:
    """`postgresql://u:pw@h/db?sslpassword=x&a=1` → `postgresql://u:***@h/db?sslpassword=***&a=1`."""
    parts = _split(url)
    if parts is None:
        return url
    scheme, userinfo, rest, query = parts
    if _password(userinfo):
        userinfo = f"{userinfo.partition(':')[0]}:{MASK}@"
    if query.startswith("?"):
        body, hash_, fragment = query[1:].partition("#")
        pieces = re.split(r"([&;])", body)
        for index in range(0, len(pieces), 2):
            name, eq, value = pieces[index].partition("=")
            if value and is_credential_key(name):
                pieces[index] = f"{name}{eq}{MASK}"
        query = "?" + "".join(pieces) + hash_ + fragment
    return scheme + userinfo + rest + query


def redact_urls(text: str) -> str:
    """`text` with every URL in it passed through `redact_url`."""
    if "://" not in text:
        return text
    return _URL.sub(lambda match: redact_url(match[0]), text)
