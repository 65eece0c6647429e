"""Credentials out of anything ingress keeps: rejected rows, Redis dead letters, log lines.

A rejected message is kept so its sender can be told what was wrong with it, but a body may carry
the shared secret (`token`) or another system's credential. Every value under a key that names a
credential (`is_credential_key`, the same rule as for URL query values) is replaced, at any depth,
and the configured secret wherever else it appears. A body that does not parse is scrubbed by
pattern, so a truncated `{"token": "…` is caught too. A body with nothing to strip is kept byte for
byte.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, Final

from executor.domain.redaction import is_credential_key

REDACTED: Final = "[REDACTED]"
_QUOTED_KEY_VALUE = re.compile(
    r'("(?P<key>(?:[^"\\]|\\.){1,80})"\s*:\s*)(?P<value>"(?:[^"\\]|\\.)*"?|[^,}\]\s]+)'
)


class _Verbatim(str):
    """A JSON number or constant exactly as it was written, so re-serialising changes no digits."""


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its key/value pairs: order and repeated keys kept."""


def _parse(text: str) -> Any:
    return json.loads(
        text,
        object_pairs_hook=_Pairs,
        parse_float=_Verbatim,
        parse_int=_Verbatim,
        parse_constant=_Verbatim,
    )


def _scrub(node: Any) -> tuple[Any, bool]:
    """The node with every credential value replaced, and whether anything was."""
    if isinstance(node, _Pairs):
        changed = False
        pairs = _Pairs()
        for key, value in node:
            if is_credential_key(key):
                pairs.append((key, REDACTED))
                changed = True
            else:
                scrubbed, inner = _scrub(value)
                pairs.append((key, scrubbed))
                changed = changed or inner
        return pairs, changed
    if isinstance(node, list):
        items = [_scrub(item) for item in node]
        return [item for item, _ in items], any(inner for _, inner in items)
    return node, False


def _dump(node: Any) -> str:
    if isinstance(node, _Pairs):
        return (
            "{"
            + ", ".join(f"{json.dumps(key, ensure_ascii=False)}: {_dump(value)}" for key, value in node)
            + "}"
        )
    if isinstance(node, list):
        return "[" + ", ".join(_dump(item) for item in node) + "]"
    if isinstance(node, _Verbatim):
        return str(node)
    return json.dumps(node, ensure_ascii=False)


def _by_pattern(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if not is_credential_key(match["key"]):
            return match[0]
        return f'{match[1]}"{REDACTED}"'

    return _QUOTED_KEY_VALUE.sub(replace, text)


def strip_credentials(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` (a message as received) with every credential in it replaced by [REDACTED]."""
    try:
        scrubbed, changed = _scrub(_parse(text))
        stripped = _dump(scrubbed) if changed else text
    except (ValueError, RecursionError):
        stripped = _by_pattern(text)
    return replace_secrets(stripped, secrets)


def replace_secrets(text: str, secrets: Iterable[str]) -> str:
    """Every known secret, as written or JSON-escaped, replaced wherever it appears in `text`."""
    for secret in sorted(secrets, key=len, reverse=True):
        for form in (secret, json.dumps(secret)[1:-1]):
            if form:
                text = text.replace(form, REDACTED)
    return text
