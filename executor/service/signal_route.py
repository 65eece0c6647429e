"""`GET /signals/{id}`: the stored signal as `executor explain` shows it, served by the daemon."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from executor.service.explanation import explanation, outcome
from executor.store.store import Store


def signal_view_router(store: Store, account: str) -> APIRouter:
    """`GET /signals/{id}`: the stored signal with its status, decision, orders and events; 404 unknown."""
    router = APIRouter()

    @router.get(
        "/signals/{signal_id}",
        responses={
            200: {"description": "the stored signal with its outcome, decision, orders and events"},
            404: {"description": "no signal with this id was stored"},
        },
    )
    async def stored_signal(signal_id: str) -> JSONResponse:
        """The stored signal, its decision with the step log, its orders, positions and events, and
        `outcome` (what the sender wants to know)."""
        found = await explanation(store, account, signal_id)
        if found is None:
            return JSONResponse({"error": f"no signal {signal_id!r} in account {account!r}"}, status_code=404)
        return JSONResponse({**found, "outcome": outcome(found)})

    return router
