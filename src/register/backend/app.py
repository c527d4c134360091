"""``make_app(settings)``: the loyalty backend as an ASGI application (FastAPI).

Building the app migrates the database to head, creates the shop settings of a new database and adds
the seed; the message sender and the expiry sweep run for the app's lifespan. Every error answer,
FastAPI's own included, has the shape ``{"errorCode", "message"}``; a malformed body is 400 VALIDATION,
never 422.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from register.backend.api import crm_routes, member_routes, pos_routes
from register.backend.api.direct import DirectRoutes, direct_routes
from register.backend.auth import DeviceAuthenticator
from register.backend.context import Backend
from register.backend.database import Database
from register.backend.errors import ApiError, ErrorCode
from register.backend.expiry import ExpirySweeper
from register.backend.migrations import migrate, startup_lock
from register.backend.seed import seed_lab
from register.backend.sender import MessageQueue, MessageSender
from register.backend.settings import BackendSettings, DeliveryMode
from register.backend.shop import ensure_shop_settings

log = logging.getLogger(__name__)

TITLE = "Loyalty backend (Loymax-like)"
API_VERSION = "1.0"
DESCRIPTION = (
    "The register's loyalty service: members, two-phase purchases, electronic receipts and offers. "
    "Money in kopecks, times ISO 8601 with offset, every register request idempotent on requestId."
)
_MAX_REPORTED_ERRORS = 3
REQUEST_THREADS = 2
_CODE_OF_STATUS = {
    400: ErrorCode.VALIDATION,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
}


def make_app(settings: BackendSettings, *, sender: MessageQueue | None = None) -> BackendApp:
    """The service over ``settings.db_url``, migrated and seeded, ready for uvicorn or a test client.
    ``sender``: who delivers the messages (default: a ``MessageSender`` thread of this process)."""
    db = Database(settings.db_url)
    migrate(db)
    with db.write() as conn:
        startup_lock(conn, db)  # several backends starting at once seed the shop once
        if settings.seed == "lab":
            ensure_shop_settings(conn, DeliveryMode.LOYALTY, settings.shop_name_default)
            seed_lab(conn)
        ensure_shop_settings(conn, settings.delivery_mode_default, settings.shop_name_default)
    backend = Backend(
        settings=settings,
        db=db,
        devices=DeviceAuthenticator(db),
        sender=sender if sender is not None else MessageSender(db, settings),
        sweeper=ExpirySweeper(db, settings),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The requests FastAPI serves (members, staff, a register's malformed or first request; the
        # others take ``DirectRoutes``) run in anyio's thread pool: two threads a process, since more
        # only fought the event loop for the GIL (4 threads were 15 % slower than 2).
        to_thread.current_default_thread_limiter().total_tokens = REQUEST_THREADS
        backend.sender.start()
        backend.sweeper.start()
        try:
            yield
        finally:
            backend.sweeper.stop()
            backend.sender.stop()
            db.dispose()

    app = BackendApp(title=TITLE, version=API_VERSION, description=DESCRIPTION, lifespan=lifespan)
    app.state.backend = backend
    app.include_router(pos_routes.router)
    app.include_router(member_routes.router)
    app.include_router(crm_routes.router)
    _install_error_handlers(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.direct = DirectRoutes(
        super(BackendApp, app).__call__,
        backend,
        direct_routes(pos_routes.router.routes, pos_routes.DIRECT_PATHS),
        error_response=endpoint_error_response,
    )
    return app


class BackendApp(FastAPI):
    """The FastAPI app whose register requests go through ``DirectRoutes`` first (see there)."""

    direct: DirectRoutes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.direct is None:
            await super().__call__(scope, receive, send)
        else:
            await self.direct(scope, receive, send)


def endpoint_error_response(exc: Exception) -> JSONResponse:
    """The answer to an exception out of an endpoint: a refusal's own, else 500 INTERNAL."""
    if isinstance(exc, ApiError):
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers or None)
    log.error("unhandled error", exc_info=exc)
    return JSONResponse(
        {"errorCode": ErrorCode.INTERNAL.value, "message": "Внутренняя ошибка сервиса лояльности"},
        status_code=500,
    )


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return endpoint_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"errorCode": ErrorCode.VALIDATION.value, "message": validation_message(exc.errors())},
            status_code=400,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _CODE_OF_STATUS.get(exc.status_code)
        body = {
            "errorCode": code.value if code else f"HTTP_{exc.status_code}",
            "message": _HTTP_MESSAGES.get(exc.status_code, str(exc.detail)),
        }
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _crash(_request: Request, exc: Exception) -> JSONResponse:
        return endpoint_error_response(exc)


_HTTP_MESSAGES = {
    400: "Неверный запрос: тело не удалось прочитать",
    401: "Неверные данные авторизации",
    404: "Такого адреса в API нет",
    405: "Этот метод не поддерживается по этому адресу",
}


def validation_message(problems: Any) -> str:
    """One line for people: where each problem is (``lines.0.price``) and what it is."""
    parts = []
    for problem in list(problems)[:_MAX_REPORTED_ERRORS]:
        if problem.get("type") == "json_invalid":
            position = ".".join(str(p) for p in problem.get("loc", ()) if p != "body")
            reason = problem.get("ctx", {}).get("error", "")
            parts.append(f"тело запроса не JSON (символ {position}: {reason})")
            continue
        where = ".".join(str(p) for p in problem.get("loc", ()) if p != "body") or "тело запроса"
        parts.append(f"{where}: {problem.get('msg', 'неверное значение')}")
    more = len(list(problems)) - _MAX_REPORTED_ERRORS
    suffix = f" (и ещё {more})" if more > 0 else ""
    return "Неверные данные запроса — " + "; ".join(parts) + suffix


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document without its 422 answers: this API answers malformed input with 400."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
        app.openapi_schema = schema
    return app.openapi_schema
