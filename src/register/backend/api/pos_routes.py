"""The register endpoints (/pos/v1): HTTP Basic per register, every request idempotent on requestId."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from register.backend import errors
from register.backend.api.docs import refusals
from register.backend.api.pos_models import (
    BalanceAnswer,
    BalanceRequest,
    CalculateAnswer,
    CalculateRequest,
    CancelAnswer,
    CancelRequest,
    ChequeLinkAnswer,
    ChequeLinkRequest,
    ConfirmAnswer,
    ConfirmRequest,
    MemberBrief,
    OfflineBatchAnswer,
    OfflineBatchRequest,
    RefundAnswer,
    RefundRequest,
)
from register.backend.auth import BASIC_CHALLENGE, Device
from register.backend.cheque_links import store_link
from register.backend.context import Backend, backend_of
from register.backend.idempotency import Answer, lookup, remember, request_key, run_once
from register.backend.members import electronic_cheque, find_by_identifier
from register.backend.offline import run_batch
from register.backend.purchases import calculate, cancel, confirm, refund
from register.backend.shop import load_shop

router = APIRouter(prefix="/pos/v1", tags=["pos"])
_basic = HTTPBasic(auto_error=False, description="Register: device code and secret.")

BackendDep = Annotated[Backend, Depends(backend_of)]
DIRECT_PATHS = tuple(
    f"{router.prefix}/{name}"
    for name in ("balance", "calculate", "confirm", "cancel", "refund", "cheque-link")
)
"""Served by ``direct.DirectRoutes`` when well-formed: short requests a register sends with every sale."""


async def current_device(
    backend: BackendDep, credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)]
) -> Device:
    """The calling register: from the cache on the event loop, else checked (scrypt) in the thread pool."""
    if credentials is None:
        raise errors.unauthorized("Нужна авторизация кассы (HTTP Basic: код кассы и пароль)", BASIC_CHALLENGE)
    known = backend.devices.known(credentials.username, credentials.password)
    if known is not None:
        return known
    return await run_in_threadpool(backend.devices.authenticate, credentials.username, credentials.password)


DeviceDep = Annotated[Device, Depends(current_device)]


def _once(
    backend: Backend,
    device: Device,
    endpoint: str,
    request: BaseModel,
    work: Callable[[Connection], BaseModel],
) -> Response:
    key = request_key(device.id, str(request.request_id), endpoint, request, {"request_id"})  # type: ignore[attr-defined]
    return _respond(run_once(backend.db, key, work))


def _respond(answer: Answer) -> Response:
    """The answer's JSON text as stored (compact, as JSONResponse would write it)."""
    return Response(answer.text.encode(), status_code=answer.status, media_type="application/json")


@router.post(
    "/balance",
    response_model=BalanceAnswer,
    responses=refusals(400, 401, 403, 404, 409),
    summary="The member's balance and e-receipt choice",
)
def balance(request: BalanceRequest, backend: BackendDep, device: DeviceDep) -> Any:
    def work(conn: Connection) -> BalanceAnswer:
        member = find_by_identifier(conn, request.identifier.type, request.identifier.value)
        return BalanceAnswer(
            member=MemberBrief(id=member.id, name=member.name, balance=member.balance),
            electronic_cheque=electronic_cheque(member, load_shop(conn).delivery_mode),
        )

    return _once(backend, device, "balance", request, work)


@router.post(
    "/calculate",
    response_model=CalculateAnswer,
    responses=refusals(400, 401, 403, 404, 409),
    summary="Phase 1: price the cheque, identify the member, fix the delivery mode",
)
def calculate_cheque(request: CalculateRequest, backend: BackendDep, device: DeviceDep) -> Any:
    return _once(backend, device, "calculate", request, lambda conn: calculate(conn, device.id, request))


@router.post(
    "/confirm",
    response_model=ConfirmAnswer,
    responses=refusals(400, 401, 404, 409),
    summary="Phase 2: the fiscal document is made; accrue points (PURCHASE_EXPIRED after the lifetime)",
)
def confirm_purchase(request: ConfirmRequest, backend: BackendDep, device: DeviceDep) -> Any:
    lifetime = backend.settings.calculation_lifetime_seconds

    def work(conn: Connection) -> ConfirmAnswer:
        return confirm(conn, request.purchase_id, request.fiscal, lifetime_seconds=lifetime)

    return _once(backend, device, "confirm", request, work)


@router.post(
    "/cancel",
    response_model=CancelAnswer,
    responses=refusals(400, 401, 404, 409),
    summary="Release a calculated purchase",
)
def cancel_purchase(request: CancelRequest, backend: BackendDep, device: DeviceDep) -> Any:
    return _once(backend, device, "cancel", request, lambda conn: cancel(conn, request.purchase_id))


@router.post(
    "/refund",
    response_model=RefundAnswer,
    responses=refusals(400, 401, 404, 409),
    summary="A return of sale (1054 = 2) attached to its purchase",
)
def refund_purchase(request: RefundRequest, backend: BackendDep, device: DeviceDep) -> Any:
    return _once(backend, device, "refund", request, lambda conn: refund(conn, device.id, request))


@router.post(
    "/cheque-link",
    response_model=ChequeLinkAnswer,
    responses=refusals(400, 401, 404, 409),
    summary="Store the receipt link; in mode LOYALTY send the offers and the owed e-receipt, once",
)
def cheque_link(request: ChequeLinkRequest, backend: BackendDep, device: DeviceDep) -> Any:
    """In mode LOYALTY the first link fires the active offers. When the member refused paper and had a
    notifier at calculate, the receipt is owed: if no offer message goes to the notifier on its channel,
    the built-in e-receipt message does. ``eReceipt`` says whether a message carries the receipt and how
    far it got; ``messages`` lists every message, each marked ``carriesReceipt``."""
    lifetime = backend.settings.calculation_lifetime_seconds
    queued: list[str] = []  # the ids of the messages the work queued (of its last run)

    def work(conn: Connection) -> ChequeLinkAnswer:
        found = store_link(
            conn, request.purchase_id, request.fiscal, request.url, request.qr, lifetime_seconds=lifetime
        )
        queued[:] = [message.id for message in found.messages if message.status == "queued"]
        return ChequeLinkAnswer(stored=True, messages=found.messages, e_receipt=found.e_receipt)

    response = _once(backend, device, "cheque-link", request, work)
    if queued:  # the only request that queues messages besides offline-batch
        backend.sender.wake(queued)
    return response


@router.post(
    "/offline-batch",
    response_model=OfflineBatchAnswer,
    responses=refusals(400, 401, 409),
    summary="Upload what was done offline; one result per request, in order",
)
def offline_batch(request: OfflineBatchRequest, backend: BackendDep, device: DeviceDep) -> Any:
    key = request_key(device.id, str(request.request_id), "offline-batch", request, {"request_id"})
    answer = lookup(backend.db, key)
    if answer is None:
        results = run_batch(backend.db, device.id, request)
        answer = remember(backend.db, key, Answer.of(200, {"results": results}))
    backend.sender.wake()
    return _respond(answer)
