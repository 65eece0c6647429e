"""Deterministic client order ids: the same signal and leg always give the same id.

A resent request after a crash or timeout therefore carries the id of the first attempt, and the
exchange's duplicate-id check (or a lookup by id) prevents a second position. The format

    px-<24 base32 chars of BLAKE2b(signal id)>-<leg code><sequence>

is at most 33 characters of ``[a-z0-9-]``: inside Binance's ``newClientOrderId``/``clientAlgoId``
(≤ 36 of ``[.A-Z:/a-z0-9_-]``) and Phemex's ``clOrdID`` (≤ 40). The 120-bit digest makes a
collision between two signals practically impossible. The sequence numbers successive orders of
the same leg (a replaced stop gets the next one) so no two live orders share an id.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

from executor.domain.enums import OrderKind

PREFIX = "px"
MAX_SEQUENCE = 999
DIGEST_CHARS = 24

_LEG_CODES: dict[OrderKind, str] = {
    OrderKind.ENTRY: "en",
    OrderKind.STOP: "sl",
    OrderKind.TAKE_PROFIT: "tp",
    OrderKind.CLOSE: "cl",
}
_KINDS_BY_CODE = {code: kind for kind, code in _LEG_CODES.items()}
_PATTERN = re.compile(
    rf"^{PREFIX}-(?P<digest>[a-z2-7]{{{DIGEST_CHARS}}})-(?P<leg>[a-z]{{2}})(?P<seq>\d{{1,3}})$"
)

BINANCE_MAX_LENGTH = 36
BINANCE_CHARSET = re.compile(r"^[.A-Z:/a-z0-9_-]+$")
PHEMEX_MAX_LENGTH = 40


@dataclass(frozen=True, slots=True)
class ClientIdParts:
    signal_digest: str
    kind: OrderKind
    sequence: int


def signal_digest(signal_id: str) -> str:
    """The signal id's 120-bit fingerprint in lowercase base32 (no padding needed: 15 bytes)."""
    if not signal_id:
        raise ValueError("signal id must not be empty")
    raw = hashlib.blake2b(signal_id.encode("utf-8"), digest_size=15).digest()
    return base64.b32encode(raw).decode("ascii").lower()


def client_order_id(signal_id: str, kind: OrderKind, sequence: int = 0) -> str:
    if not 0 <= sequence <= MAX_SEQUENCE:
        raise ValueError(f"sequence must be within 0..{MAX_SEQUENCE}")
    return f"{PREFIX}-{signal_digest(signal_id)}-{_LEG_CODES[kind]}{sequence}"


def parse_client_order_id(client_id: str | None) -> ClientIdParts | None:
    """The parts of one of our ids, or None for an id this daemon did not make."""
    if client_id is None:
        return None
    match = _PATTERN.match(client_id)
    if match is None or match["leg"] not in _KINDS_BY_CODE:
        return None
    return ClientIdParts(match["digest"], _KINDS_BY_CODE[match["leg"]], int(match["seq"]))


def kind_of(client_id: str | None) -> OrderKind | None:
    parts = parse_client_order_id(client_id)
    return parts.kind if parts is not None else None


def is_valid_for_binance(client_id: str) -> bool:
    return len(client_id) <= BINANCE_MAX_LENGTH and BINANCE_CHARSET.match(client_id) is not None


def is_valid_for_phemex(client_id: str) -> bool:
    return 0 < len(client_id) <= PHEMEX_MAX_LENGTH and client_id.isascii() and client_id.isprintable()
