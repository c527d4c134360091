"""The lab's demo data (``--seed lab``): one register, one staff user, five members, two offers.

Idempotent: what exists already (matched by device code, staff login, card number, offer name) is left
as it is, so a restart with the seed keeps whatever the lab changed since.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select

from register.backend.auth import register_device, register_staff
from register.backend.members import fold_name
from register.backend.schema import cards, devices, members, offers, staff
from register.backend.timeutil import utc_now_text

LAB_DEVICE = ("POS-1", "lab")
LAB_STAFF = ("crm", "lab")
_MEMBER_IDS = uuid.UUID("6f1c1f8e-7a51-4c1e-9c55-6c6f79616c74")  # namespace: stable ids from card numbers


@dataclass(frozen=True, slots=True)
class LabMember:
    card: str
    name: str
    email: str | None = None
    email_confirmed: bool = False
    phone: str | None = None
    phone_confirmed: bool = False
    preferred: str | None = None
    paper_refused: bool = False
    blocked: bool = False
    balance: int = 0

    @property
    def id(self) -> str:
        return str(uuid.uuid5(_MEMBER_IDS, self.card))


LAB_MEMBERS = (
    LabMember(
        "7000000000001",
        "Анна Смирнова",
        email="anna@example.ru",
        email_confirmed=True,
        preferred="email",
        paper_refused=True,
        balance=120,
    ),
    LabMember(
        "7000000000002",
        "Борис Петров",
        phone="+79001234502",
        phone_confirmed=True,
        preferred="phone",
        paper_refused=True,
        balance=45,
    ),
    LabMember("7000000000003", "Вера Кузнецова", email="vera@example.ru", paper_refused=True, balance=10),
    LabMember("7000000000004", "Глеб Иванов", email="gleb@example.ru", email_confirmed=True, balance=300),
    LabMember("7000000000005", "Дарья Орлова", phone="+79001234505", phone_confirmed=True, blocked=True),
)


@dataclass(frozen=True, slots=True)
class LabOffer:
    name: str
    channel: str
    subject: str
    template: str


LAB_OFFERS = (
    LabOffer(
        "Электронный чек на e-mail",
        "email",
        "Ваш чек: {shop}",
        "Ваш чек: {receipt_url}\nСумма: {total}\nДата: {datetime}\n{shop}\nСпасибо за покупку!",
    ),
    LabOffer("Электронный чек в SMS", "sms", "", "Ваш чек: {receipt_url} на {total}, {shop}"),
)


def seed_lab(conn: Connection) -> None:
    if conn.execute(select(devices.c.id).where(devices.c.code == LAB_DEVICE[0])).first() is None:
        register_device(conn, *LAB_DEVICE)
    if conn.execute(select(staff.c.id).where(staff.c.login == LAB_STAFF[0])).first() is None:
        register_staff(conn, *LAB_STAFF)
    now = utc_now_text()
    for member in LAB_MEMBERS:
        if conn.execute(select(cards.c.number).where(cards.c.number == member.card)).first() is None:
            add_member(conn, member, now)
    for offer in LAB_OFFERS:
        if conn.execute(select(offers.c.id).where(offers.c.name == offer.name)).first() is None:
            conn.execute(
                insert(offers).values(
                    id=str(uuid.uuid5(_MEMBER_IDS, offer.name)),
                    name=offer.name,
                    event="purchase_completed",
                    channel=offer.channel,
                    subject=offer.subject,
                    template=offer.template,
                    active=True,
                    valid_from=None,
                    valid_to=None,
                    created_at=now,
                )
            )


def add_member(conn: Connection, member: LabMember, now: str) -> None:
    conn.execute(
        insert(members).values(
            id=member.id,
            name=member.name,
            name_folded=fold_name(member.name),
            email=member.email,
            email_confirmed=member.email_confirmed,
            phone=member.phone,
            phone_confirmed=member.phone_confirmed,
            preferred=member.preferred,
            paper_refused=member.paper_refused,
            blocked=member.blocked,
            balance=member.balance,
            created_at=now,
        )
    )
    conn.execute(insert(cards).values(number=member.card, member_id=member.id, created_at=now))


LOAD_CARD_PREFIX = "71"


def load_cards(count: int) -> list[str]:
    """The cards of ``seed_load``'s members, in order."""
    return [f"{LOAD_CARD_PREFIX}{n:011d}" for n in range(1, count + 1)]


def seed_load(conn: Connection, registers: int, member_count: int) -> list[tuple[str, str]]:
    """The benchmark's shop: ``registers`` registers LOAD-01… (password "lab"), whose (code, password)
    are returned, and ``member_count`` members whose cards ``load_cards`` lists: in turn one who refused
    paper with a confirmed e-mail, one with a confirmed phone, one who has not refused."""
    credentials = [(f"LOAD-{n:02d}", "lab") for n in range(1, registers + 1)]
    for code, secret in credentials:
        register_device(conn, code, secret)
    now = utc_now_text()
    for n, number in enumerate(load_cards(member_count)):
        kind = n % 3
        add_member(
            conn,
            LabMember(
                number,
                f"Участник {n + 1}",
                email=f"load{n + 1}@example.ru" if kind != 1 else None,
                email_confirmed=kind != 1,
                phone=f"+7901{n + 1:07d}" if kind == 1 else None,
                phone_confirmed=kind == 1,
                preferred=("email", "phone", None)[kind],
                paper_refused=kind != 2,
            ),
            now,
        )
    return credentials
