"""The staff endpoints (/crm/v1): members, their history and messages, offers, shop settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from register.backend import errors
from register.backend.api.crm_models import (
    MemberList,
    MessageList,
    Offer,
    OfferFields,
    OfferList,
    ShopSettings,
    StaffLoginAnswer,
    StaffLoginRequest,
)
from register.backend.api.docs import refusals
from register.backend.api.wire import NO_CONTROL_CHARS, History
from register.backend.auth import BEARER_CHALLENGE, issue_token, staff_login, token_subject
from register.backend.context import Backend, backend_of
from register.backend.crm import list_messages, search_members
from register.backend.history import member_history
from register.backend.members import load_member
from register.backend.offers import create_offer, list_offers, update_offer
from register.backend.settings import DeliveryMode
from register.backend.shop import ShopState, load_shop, save_shop

router = APIRouter(prefix="/crm/v1", tags=["crm"])
_bearer = HTTPBearer(auto_error=False, description="Staff token from POST /crm/v1/login.")

BackendDep = Annotated[Backend, Depends(backend_of)]
IdParam = Annotated[str, Path(min_length=1, max_length=64, pattern=NO_CONTROL_CHARS)]


def current_staff(
    backend: BackendDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str:
    if credentials is None:
        raise errors.unauthorized("Нужен вход сотрудника (токен CRM)", BEARER_CHALLENGE)
    return token_subject(backend.db, credentials.credentials, "staff")


StaffDep = Annotated[str, Depends(current_staff)]


@router.post("/login", response_model=StaffLoginAnswer, responses=refusals(400, 401))
def login(request: StaffLoginRequest, backend: BackendDep) -> StaffLoginAnswer:
    with backend.db.write() as conn:
        staff_id = staff_login(conn, request.login, request.password)
        if staff_id is None:
            raise errors.unauthorized("Неверный логин или пароль", BEARER_CHALLENGE)
        return StaffLoginAnswer(
            token=issue_token(conn, "staff", staff_id, backend.settings.token_ttl_seconds)
        )


@router.get("/members", response_model=MemberList, responses=refusals(400, 401, 403))
def find_members(
    _staff: StaffDep,
    backend: BackendDep,
    query: Annotated[str | None, Query(max_length=64, pattern=NO_CONTROL_CHARS)] = None,
) -> MemberList:
    """Search by card, phone, e-mail or a part of the name; without a query, the first 100 members."""
    with backend.db.read() as conn:
        return MemberList(items=search_members(conn, query))


@router.get("/members/{member_id}/history", response_model=History, responses=refusals(400, 401, 403, 404))
def history(member_id: IdParam, _staff: StaffDep, backend: BackendDep) -> History:
    with backend.db.read() as conn:
        if load_member(conn, member_id) is None:
            raise errors.member_not_found()
        return member_history(conn, member_id, staff_view=True)


@router.get("/messages", response_model=MessageList, responses=refusals(400, 401, 403))
def messages(
    _staff: StaffDep,
    backend: BackendDep,
    member_id: Annotated[
        str | None, Query(alias="memberId", min_length=1, max_length=64, pattern=NO_CONTROL_CHARS)
    ] = None,
) -> MessageList:
    """Messages sent (or not) to a member, or to everyone, newest first."""
    with backend.db.read() as conn:
        return MessageList(items=list_messages(conn, member_id))


@router.get("/offers", response_model=OfferList, responses=refusals(401, 403))
def get_offers(_staff: StaffDep, backend: BackendDep) -> OfferList:
    with backend.db.read() as conn:
        return OfferList(items=list_offers(conn))


@router.post("/offers", response_model=Offer, status_code=201, responses=refusals(400, 401, 403))
def post_offer(request: OfferFields, _staff: StaffDep, backend: BackendDep) -> Offer:
    with backend.db.write() as conn:
        return create_offer(conn, request)


@router.put("/offers/{offer_id}", response_model=Offer, responses=refusals(400, 401, 403, 404))
def put_offer(offer_id: IdParam, request: OfferFields, _staff: StaffDep, backend: BackendDep) -> Offer:
    with backend.db.write() as conn:
        return update_offer(conn, offer_id, request)


@router.get("/settings", response_model=ShopSettings, responses=refusals(401, 403))
def get_settings(_staff: StaffDep, backend: BackendDep) -> ShopSettings:
    with backend.db.read() as conn:
        shop = load_shop(conn)
    return ShopSettings(delivery_mode=shop.delivery_mode.value, shop_name=shop.shop_name)


@router.put("/settings", response_model=ShopSettings, responses=refusals(400, 401, 403))
def put_settings(request: ShopSettings, _staff: StaffDep, backend: BackendDep) -> ShopSettings:
    """Delivery mode (LOYALTY or OFD) for purchases calculated from now on, and the shop name."""
    with backend.db.write() as conn:
        save_shop(conn, ShopState(DeliveryMode(request.delivery_mode), request.shop_name))
    return request
