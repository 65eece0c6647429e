"""The operator's levers over HTTP: `POST /pause`, `POST /unpause`, `POST /positions/{symbol}/close`.

The same rows as `executor pause|unpause|close` (executor/execution/operator.py), authenticated like
every path but /health and /ready. No body: the optional `note` and `by` are query parameters, so a
signature over the empty body authenticates them like a GET. Who asked is recorded as
`http:BY` (or `http:` and the client's address).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.convertors import PathConvertor, register_url_convertor

from executor.domain.signal import InvalidSymbol
from executor.execution.operator import NothingToClose, Pause, queue_closes, set_pause
from executor.observability.logging import get_logger
from executor.store.store import Store

log = get_logger("executor.service.controls")

MAX_TEXT = 200
BY_LIMIT = 64


class AnyText(PathConvertor):
    """Starlette's `path` matches no line break, so a symbol holding one found no route (an undocumented
    404); this one matches any text, so the handler's symbol check answers it with its 400 line."""

    regex = "(?s:.*)"


register_url_convertor("any_text", AnyText())


def _text(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if not 1 <= len(text) <= MAX_TEXT or not text.isprintable():
        raise ValueError(f"{name} must be 1–{MAX_TEXT} printable characters on one line")
    return text


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


def _who(request: Request, by: str | None) -> str:
    client = request.client.host if request.client else "unknown"
    return f"http:{by or client}"[:BY_LIMIT]


class _Levers:
    """What the routes do, on the daemon's store; `wake` tells the consumer a close was queued."""

    def __init__(
        self, store: Store, account: str, clock: Callable[[], datetime], wake: Callable[[], None]
    ) -> None:
        self.store, self.account, self.clock, self.wake = store, account, clock, wake

    async def pause(self, paused: bool, request: Request, note: str | None, by: str | None) -> JSONResponse:
        try:
            text, who = _text(note, "note"), _who(request, _text(by, "by"))
        except ValueError as exc:
            return _bad(str(exc))
        change = await set_pause(self.store, self.account, paused, self.clock(), who, text)
        event = "operator_pause" if paused else "operator_unpause"
        log.info(event, by=who, note=text, changed=change.changed)
        return JSONResponse(_answer(change.changed, change.pause))

    async def close(self, request: Request, symbols: list[str] | None, by: str | None) -> JSONResponse:
        try:
            who = _who(request, _text(by, "by"))
        except ValueError as exc:
            return _bad(str(exc))
        try:
            queued = await queue_closes(self.store, self.account, symbols, self.clock(), who)
        except InvalidSymbol as exc:
            return _bad(f"symbol {exc}")
        except NothingToClose as exc:
            return JSONResponse({"queued": [], "message": str(exc)})
        self.wake()
        for item in queued:
            log.info("operator_close", by=who, symbol=item.symbol, signal_id=item.signal_id)
        body = {"queued": [{"symbol": item.symbol, "signal_id": item.signal_id} for item in queued]}
        return JSONResponse(body, status_code=202)


_BAD_TEXT = {"description": "a `note` or `by` that is too long or not printable"}


def controls_router(
    store: Store, account: str, clock: Callable[[], datetime], wake: Callable[[], None]
) -> APIRouter:
    """The routes; `wake` tells the signal consumer a close was queued, so it is taken at once."""
    router = APIRouter()
    levers = _Levers(store, account, clock, wake)

    @router.post("/pause", responses={200: {"description": "paused (or already)"}, 400: _BAD_TEXT})
    async def pause(request: Request, note: str | None = None, by: str | None = None) -> JSONResponse:
        """Pause new entries (open signals refused with PAUSED); open positions are still managed."""
        return await levers.pause(True, request, note, by)

    @router.post("/unpause", responses={200: {"description": "unpaused (or already)"}, 400: _BAD_TEXT})
    async def unpause(request: Request, by: str | None = None) -> JSONResponse:
        """End the pause: open signals are decided again."""
        return await levers.pause(False, request, None, by)

    @router.post(
        "/positions/close",
        responses={
            202: {"description": "a close signal queued per open position"},
            200: {"description": "no open position to close"},
            400: _BAD_TEXT,
        },
    )
    async def close_all(request: Request, by: str | None = None) -> JSONResponse:
        """Close every open position at market (a close signal each, queued now)."""
        return await levers.close(request, None, by)

    @router.post(
        "/positions/{symbol:any_text}/close",
        responses={
            202: {"description": "the close signal queued"},
            400: {"description": "a malformed symbol or `by`"},
        },
    )
    async def close(symbol: str, request: Request, by: str | None = None) -> JSONResponse:
        """Close SYMBOL's position at market: its stop and take-profit are cancelled, the trade booked."""
        return await levers.close(request, [symbol], by)

    return router


def _answer(changed: bool, pause: Pause) -> dict[str, Any]:
    return {"changed": changed, **pause.as_dict()}
