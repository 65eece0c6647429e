"""What the dialects share on the wire: request parameters, the raw strings signatures cover, errors."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web


@dataclass(frozen=True)
class WireRequest:
    """The request as sent: raw query and body strings (what is signed) and their parsed parameters."""

    method: str
    path: str
    raw_query: str
    body: str
    params: dict[str, Any]
    arrival_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    """Host wall clock at arrival: the gateway checks a request's timestamp window at this moment."""


WIRE_KEY = web.RequestKey("sim_wire", WireRequest)  # set by the server middleware on every exchange request
REFUSED_KEY = web.ResponseKey("sim_refused", int)
"""On an answer in the exchange's error envelope: its code. Phemex refuses with HTTP 200 and a non-zero
`code` in the body, so the request log needs this beside the status to tell a refusal from an order."""


def wire_of(request: web.Request) -> WireRequest:
    return request[WIRE_KEY]


async def read_wire(request: web.Request) -> WireRequest:
    raw_path = request.raw_path
    raw_query = raw_path.split("?", 1)[1] if "?" in raw_path else ""
    body = await request.text() if request.can_read_body else ""
    params: dict[str, Any] = dict(parse_qsl(raw_query, keep_blank_values=True))
    if body:
        if body.lstrip().startswith("{"):
            try:
                decoded = json.loads(body)
            except ValueError:
                decoded = {}
            if isinstance(decoded, dict):
                params.update(decoded)
        else:
            params.update(parse_qsl(body, keep_blank_values=True))
    return WireRequest(request.method, request.path, raw_query, body, params)


class ApiError(Exception):
    """An answer in the exchange's error envelope, raised from anywhere inside a handler."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(json.dumps(body))
        self.status = status
        self.body = body

    def response(self) -> web.Response:
        response = web.json_response(self.body, status=self.status)
        response[REFUSED_KEY] = int(self.body.get("code") or 0)
        return response


def flag(params: dict[str, Any], name: str) -> bool:
    value = params.get(name)
    if isinstance(value, bool):
        return value
    return str(value).lower() == "true"
