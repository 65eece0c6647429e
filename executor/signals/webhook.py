"""HTTP webhook ingress, TradingView-compatible: `POST /signals`, answered within a few seconds.

202 queued, 200 duplicate, 400 invalid with the errors, 401 unauthorized, and 503 when the
signal could not be stored in time or the database cannot take writes now. TradingView gives up
after 3 s and resends on a 5xx, so a slow store is answered 503 while the store carries on in the
background, and the resend is then either queued or a duplicate, never a second decision.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from executor.domain.enums import SignalSource
from executor.observability.logging import get_logger
from executor.signals.auth import Credentials
from executor.signals.inbox import Inbox, InboxUnavailable
from executor.signals.result import IngressResult, IngressStatus, OutcomeWaiter
from executor.signals.schema import BODY, MAX_BODY_BYTES, SignalMessage

log = get_logger("executor.signals.webhook")

PATH: Final = "/signals"


class AnswerError(BaseModel):
    field: str
    message: str


class IngressAnswer(BaseModel):
    """Every answer of the webhook, whatever its status code."""

    signal_id: str | None
    status: str
    errors: list[AnswerError]


HTTP_STATUS: Final = {
    IngressStatus.QUEUED: 202,
    IngressStatus.DUPLICATE: 200,
    IngressStatus.INVALID: 400,
    IngressStatus.UNAUTHORIZED: 401,
    IngressStatus.UNAVAILABLE: 503,
}


async def _read_capped(request: Request, limit: int) -> bytes:
    """At most limit + 1 bytes: enough for the inbox to see it is too large, never the whole flood."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            break
    return bytes(body[: limit + 1])


MAX_WAIT_SECONDS: Final = 30.0
"""`POST /signals?wait=` waits at most this long for the decision."""


def _wait_seconds(value: str | None) -> float | None:
    """The `wait` query parameter: 0 to MAX_WAIT_SECONDS seconds; None when it is not one."""
    if value is None:
        return 0.0
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 <= seconds <= MAX_WAIT_SECONDS else None


def signals_router(
    inbox: Inbox, *, answer_within: float = 2.5, wait_for_outcome: OutcomeWaiter | None = None
) -> APIRouter:
    """The `POST /signals` route; the caller mounts it and refuses a public bind without a secret.

    With `wait_for_outcome`, `?wait=SECONDS` (≤ 30) holds the answer until the signal is decided (or
    the seconds pass) and adds its `outcome`."""
    router = APIRouter()
    pending: set[asyncio.Task[IngressResult]] = set()

    @router.post(
        PATH,
        summary="Submit one signal",
        description=(
            "The body is one signal as JSON (any content type; TradingView sends text/plain). It is "
            "stored before the answer; a resend of the same id is answered as a duplicate. The schema "
            "gives the fields; the daemon checks more than it can say (id characters, stop below a "
            "long's entry, fields each action needs) and answers 400 naming each problem."
        ),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _inlined(SignalMessage.model_json_schema())}},
            }
        },
        responses={
            202: {"model": IngressAnswer, "description": "queued: stored, it will be decided"},
            200: {"model": IngressAnswer, "description": "duplicate: this id was stored before"},
            400: {"model": IngressAnswer, "description": "invalid: the errors name each field and the fix"},
            401: {"model": IngressAnswer, "description": "unauthorized: bad or missing signature or token"},
            503: {
                "model": IngressAnswer,
                "description": "unavailable: not stored (in time); resend it unchanged",
            },
        },
    )
    async def receive_signal(request: Request) -> JSONResponse:
        wait = _wait_seconds(request.query_params.get("wait"))
        if wait is None:
            message = f"must be a number of seconds from 0 to {MAX_WAIT_SECONDS:g}, e.g. ?wait=5"
            refusal = {
                "signal_id": None,
                "status": "invalid",
                "errors": [{"field": "wait", "message": message}],
            }
            return JSONResponse(refusal, status_code=400)
        body = await _read_capped(request, MAX_BODY_BYTES)
        credentials = Credentials.from_headers(request.headers)
        task = asyncio.create_task(inbox.submit(body, SignalSource.WEBHOOK, credentials))
        pending.add(task)
        task.add_done_callback(_finished(pending))
        try:
            async with asyncio.timeout(answer_within):
                result = await asyncio.shield(task)
        except (TimeoutError, InboxUnavailable):
            if not task.done():
                log.warning("webhook answered 503: the store is slow", answer_within=answer_within)
            return _unavailable()
        answer = result.as_dict()
        settled = result.status in (IngressStatus.QUEUED, IngressStatus.DUPLICATE)
        if wait and wait_for_outcome is not None and settled and result.signal_id is not None:
            answer["outcome"] = await wait_for_outcome(result.signal_id, wait)
        return JSONResponse(answer, status_code=HTTP_STATUS[result.status])

    return router


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema with its local `$defs` references replaced by their definitions: an OpenAPI
    document resolves `#/...` against itself, where pydantic's `$defs` do not exist."""
    definitions = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref")
            if isinstance(reference, str) and reference.startswith("#/$defs/"):
                return resolve(definitions[reference.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items() if key != "$defs"}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    inlined: dict[str, Any] = resolve(schema)
    return inlined


def _finished(pending: set[asyncio.Task[IngressResult]]) -> Callable[[asyncio.Task[IngressResult]], None]:
    def done(task: asyncio.Task[IngressResult]) -> None:
        pending.discard(task)
        if not task.cancelled():
            task.exception()  # marks a failure as seen: the inbox has logged it, the sender got 503

    return done


def _unavailable() -> JSONResponse:
    body = {
        "signal_id": None,
        "status": IngressStatus.UNAVAILABLE.value,
        "errors": [{"field": BODY, "message": "the signal could not be stored in time; resend it unchanged"}],
    }
    return JSONResponse(body, status_code=503)
