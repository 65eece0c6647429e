"""What each simulator key may do: trading on or off, withdrawals on or off (`[sim] keys`).

Binance: a key whose Futures permission is off cannot use the USDⓈ-M API at all ("The Futures API cannot
be used if the API key was created before the Futures account was opened…", Get API Key Permission,
developers.binance.com/docs/wallet/account/api-key-permission): every signed `/fapi/` request is refused
with -2015 "Invalid API-key, IP, or permissions for action." (HTTP 401), and the key's restrictions are
served at `GET /sapi/v1/account/apiRestrictions` in the documented shape.

Phemex: a key without trade permission still reads; a write is refused with
`{"code": "401", "msg": "401 Insufficient privilege."}` (ccxt phemex.py, exceptions.broad). Phemex
documents no endpoint that reports a key's permissions (none among ccxt's 115 Phemex endpoints), so the
withdrawal flag has nothing to answer there.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from adapters.sim.config import ApiCredential
from adapters.sim.wire import ApiError, WireRequest, wire_of

BINANCE_RESTRICTIONS_PATH = "/sapi/v1/account/apiRestrictions"
BINANCE_NO_PERMISSION = ApiError(
    401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}
)
PHEMEX_NO_PERMISSION = ApiError(401, {"code": "401", "msg": "401 Insufficient privilege.", "data": None})


class Permissions:
    def __init__(self, exchange: str, credentials: tuple[ApiCredential, ...]) -> None:
        self.exchange = exchange
        self.keys = {c.api_key: c for c in credentials}

    def refusal(self, wire: WireRequest, api_key: str | None) -> web.Response | None:
        """The exchange's answer when this key may not make this request, else None."""
        key = self.keys.get(api_key or "")
        if key is None or key.trading:
            return None
        if self.exchange == "binance" and wire.path.startswith("/fapi/") and "signature" in wire.params:
            return BINANCE_NO_PERMISSION.response()
        if self.exchange == "phemex" and wire.method != "GET" and not wire.path.startswith("/public/"):
            return PHEMEX_NO_PERMISSION.response()
        return None

    def restrictions(self, key: ApiCredential, now_ms: int) -> dict[str, Any]:
        """Binance `GET /sapi/v1/account/apiRestrictions`, the documented fields."""
        return {
            "ipRestrict": key.ip_restrict,
            "createTime": now_ms - 86_400_000,
            "enableReading": True,
            "enableWithdrawals": key.withdrawals,
            "enableInternalTransfer": False,
            "enableMargin": False,
            "enableFutures": key.trading,
            "permitsUniversalTransfer": False,
            "enableVanillaOptions": False,
            "enableFixApiTrade": False,
            "enableFixReadOnly": False,
            "enableSpotAndMarginTrading": False,
            "enablePortfolioMarginTrading": False,
        }


def add_binance_restrictions_route(app: web.Application, dialect: Any, permissions: Permissions) -> None:
    """The route, signed and checked by the dialect's own `authenticate` (key, timestamp, signature)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        wire = wire_of(request)
        api_key = request.headers.get("X-MBX-APIKEY")
        try:
            account = dialect.authenticate(wire, api_key)
        except ApiError as exc:
            return exc.response()
        key = permissions.keys[account.api_key]
        return web.json_response(permissions.restrictions(key, wire.arrival_ms))

    app.router.add_route("GET", BINANCE_RESTRICTIONS_PATH, handle)
