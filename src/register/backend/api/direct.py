"""The register's hot endpoints without FastAPI's per-request machinery.

A register's request is a JSON body, HTTP Basic and one endpoint function. FastAPI's way there (seven
middleware layers, routing, dependency solving, a hop into the thread pool and back) cost about as much
CPU as the endpoint's own database work. ``DirectRoutes`` takes the requests it can answer in full:
a POST to a register endpoint, with a JSON body that validates and credentials already verified; it
calls the same endpoint function FastAPI would, with the same validated model. Everything else (a body
that does not validate, unknown or new credentials, another content type, a large body) goes to FastAPI
unchanged, body included, so every error answer and the OpenAPI document stay FastAPI's.

The endpoint runs on the event loop, not in the thread pool: its transaction is a few short statements
(``prepared.Prepared``) and the hop into a thread and back cost more than the transaction itself, and
the request threads fought the event loop for the GIL. A process thus runs one register request at a
time; the worker processes (``server.serve``) are what runs several at once. On SQLite writes are
serial anyway; on PostgreSQL this gave 190 purchases/s against 160 in the thread pool.
"""

from __future__ import annotations

import base64
import binascii
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, get_type_hints

from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from register.backend.auth import Device
from register.backend.context import Backend

MAX_DIRECT_BODY = 1 << 20
"""Bigger bodies take FastAPI's way (the offline batch, which is not direct anyway)."""

_ENDPOINT_PARAMETERS = ["request", "backend", "device"]
Endpoint = Callable[[BaseModel, Backend, Device], Response]


@dataclass(frozen=True, slots=True)
class DirectRoute:
    endpoint: Endpoint
    body: type[BaseModel]


def direct_routes(routes: list[Any], paths: Iterable[str]) -> dict[str, DirectRoute]:
    """The POST routes at ``paths``, each an endpoint ``(request: Model, backend, device) -> Response``."""
    by_path = {r.path: r for r in routes if isinstance(r, APIRoute) and r.methods == {"POST"}}
    found: dict[str, DirectRoute] = {}
    for path in paths:
        route = by_path.get(path)
        if route is None or list(inspect.signature(route.endpoint).parameters) != _ENDPOINT_PARAMETERS:
            raise TypeError(f"{path} is not a POST route with an endpoint (request, backend, device)")
        found[path] = DirectRoute(route.endpoint, get_type_hints(route.endpoint)["request"])
    return found


class DirectRoutes:
    """Answers the direct routes' well-formed requests; hands every other request to ``fallback``."""

    def __init__(
        self,
        fallback: ASGIApp,
        backend: Backend,
        routes: dict[str, DirectRoute],
        *,
        error_response: Callable[[Exception], Response],
    ) -> None:
        self._fallback = fallback
        self._backend = backend
        self._routes = routes
        self._error_response = error_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._routes.get(scope["path"]) if scope["type"] == "http" else None
        if route is None or scope["method"] != "POST":
            await self._fallback(scope, receive, send)
            return
        headers = _headers_of(scope)
        if not _takes_directly(headers):
            await self._fallback(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:  # the client went away
            return
        request = self._parse(route, body)
        device = self._device(headers) if request is not None else None
        if request is None or device is None:
            await self._fallback(scope, _replaying(body, receive), send)
            return
        try:
            response = route.endpoint(request, self._backend, device)
        except Exception as exc:  # the same answers as the app's exception handlers give
            response = self._error_response(exc)
        await response(scope, receive, send)

    @staticmethod
    def _parse(route: DirectRoute, body: bytes) -> BaseModel | None:
        try:
            return route.body.model_validate_json(body)
        except ValidationError:  # FastAPI tells the client what is wrong
            return None

    def _device(self, headers: dict[bytes, bytes]) -> Device | None:
        scheme, _, token = headers.get(b"authorization", b"").partition(b" ")
        if scheme.lower() != b"basic":
            return None
        try:
            code, colon, secret = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return self._backend.devices.known(code, secret) if colon else None


_WANTED_HEADERS = (b"authorization", b"content-type", b"content-length", b"transfer-encoding")


def _headers_of(scope: Scope) -> dict[bytes, bytes]:
    return {name: value for name, value in scope["headers"] if name in _WANTED_HEADERS}


def _takes_directly(headers: dict[bytes, bytes]) -> bool:
    """A JSON body of a stated length, small enough to read whole first."""
    content_type = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
    length = headers.get(b"content-length", b"")
    return (
        content_type == b"application/json"
        and b"transfer-encoding" not in headers
        and length.isdigit()
        and 0 < int(length) <= MAX_DIRECT_BODY
    )


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body; None when the client disconnected first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the fallback: the body read already, then the client's own messages."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replay
