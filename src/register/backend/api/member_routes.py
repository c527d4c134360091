"""The personal account (/member/v1): a member's bearer token reaches only that member's data."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select

from register.backend import errors
from register.backend.api.docs import refusals
from register.backend.api.member_models import (
    ConfirmContactRequest,
    ContactsRequest,
    MemberLoginAnswer,
    MemberLoginRequest,
    PaperReceiptsRequest,
    Profile,
)
from register.backend.api.wire import History
from register.backend.auth import BEARER_CHALLENGE, issue_token, token_subject
from register.backend.contacts import ContactError, ContactKind, normalise_phone
from register.backend.context import Backend, backend_of
from register.backend.history import member_history
from register.backend.members import (
    LAB_CONFIRMATION_CODE,
    Member,
    confirm_contact,
    load_member,
    profile,
    set_paper_refused,
    update_contacts,
)
from register.backend.schema import cards, members

router = APIRouter(prefix="/member/v1", tags=["member"])
_bearer = HTTPBearer(auto_error=False, description="Member token from POST /member/v1/login.")

BackendDep = Annotated[Backend, Depends(backend_of)]


def current_member_id(
    backend: BackendDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str:
    if credentials is None:
        raise errors.unauthorized("Нужен вход в личный кабинет (токен участника)", BEARER_CHALLENGE)
    return token_subject(backend.db, credentials.credentials, "member")


MemberIdDep = Annotated[str, Depends(current_member_id)]


def _member(member: Member | None) -> Member:
    if member is None:  # the token outlived its member
        raise errors.member_not_found()
    return member


@router.post("/login", response_model=MemberLoginAnswer, responses=refusals(400, 401))
def login(request: MemberLoginRequest, backend: BackendDep) -> MemberLoginAnswer:
    """Log in with a card number or a confirmed phone and the code sent by SMS (the lab's is "0000")."""
    refused = errors.unauthorized("Неверный номер или код", BEARER_CHALLENGE)
    if request.code != LAB_CONFIRMATION_CODE:
        raise refused
    with backend.db.write() as conn:
        if request.card is not None:
            query = select(cards.c.member_id).where(cards.c.number == request.card.strip())
        else:
            try:
                phone = normalise_phone(request.phone or "")
            except ContactError:
                raise refused from None
            query = select(members.c.id).where(members.c.phone == phone, members.c.phone_confirmed.is_(True))
        member_id = conn.execute(query).scalar_one_or_none()
        if member_id is None:
            raise refused
        token = issue_token(conn, "member", member_id, backend.settings.token_ttl_seconds)
    return MemberLoginAnswer(token=token, member_id=member_id)


@router.get("/profile", response_model=Profile, responses=refusals(401, 403, 404))
def get_profile(member_id: MemberIdDep, backend: BackendDep) -> Profile:
    with backend.db.read() as conn:
        return profile(conn, _member(load_member(conn, member_id)))


@router.put("/profile/paper-receipts", response_model=Profile, responses=refusals(400, 401, 403, 404))
def put_paper_receipts(request: PaperReceiptsRequest, member_id: MemberIdDep, backend: BackendDep) -> Profile:
    """Refuse paper receipts (or take the refusal back)."""
    with backend.db.write() as conn:
        _member(load_member(conn, member_id, for_update=True))
        set_paper_refused(conn, member_id, request.refused)
        return profile(conn, _member(load_member(conn, member_id)))


@router.put("/profile/contacts", response_model=Profile, responses=refusals(400, 401, 403, 404))
def put_contacts(request: ContactsRequest, member_id: MemberIdDep, backend: BackendDep) -> Profile:
    """Change the e-mail, the phone or the preferred channel; a new contact must then be confirmed."""
    changes = request.model_dump(include=request.model_fields_set)
    with backend.db.write() as conn:
        update_contacts(conn, _member(load_member(conn, member_id, for_update=True)), changes)
        return profile(conn, _member(load_member(conn, member_id)))


@router.post("/profile/contacts/confirm", response_model=Profile, responses=refusals(400, 401, 403, 404))
def post_confirm_contact(
    request: ConfirmContactRequest, member_id: MemberIdDep, backend: BackendDep
) -> Profile:
    """Confirm a contact with the code sent to it (the lab's is "0000")."""
    with backend.db.write() as conn:
        member = _member(load_member(conn, member_id, for_update=True))
        confirm_contact(conn, member, ContactKind(request.kind), request.code)
        return profile(conn, _member(load_member(conn, member_id)))


@router.get("/history", response_model=History, responses=refusals(401, 403, 404))
def get_history(member_id: MemberIdDep, backend: BackendDep) -> History:
    """Purchases and refunds, newest first, with their receipt links."""
    with backend.db.read() as conn:
        _member(load_member(conn, member_id))
        return member_history(conn, member_id, staff_view=False)
