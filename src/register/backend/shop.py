"""The shop-wide settings row: delivery mode and shop name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from register.backend.prepared import Prepared
from register.backend.schema import shop_settings
from register.backend.settings import DeliveryMode

SHOP_ROW_ID = 1
_ROW_ID = SHOP_ROW_ID
_SELECT_ROW = Prepared(select(shop_settings).where(shop_settings.c.id == _ROW_ID))


@dataclass(frozen=True, slots=True)
class ShopState:
    delivery_mode: DeliveryMode
    shop_name: str


def ensure_shop_settings(conn: Connection, mode: DeliveryMode, shop_name: str) -> None:
    """Create the settings row of a new database; an existing one is left as staff set it."""
    if conn.execute(select(shop_settings.c.id).where(shop_settings.c.id == _ROW_ID)).first() is None:
        conn.execute(insert(shop_settings).values(id=_ROW_ID, delivery_mode=mode.value, shop_name=shop_name))


def load_shop(conn: Connection) -> ShopState:
    return shop_state(_SELECT_ROW.execute(conn).one())


SHOP_QUERY = (_SELECT_ROW, {})
"""The statement ``load_shop`` runs, to run it with others (``prepared.read_together``)."""


def shop_state(row: Mapping[str, Any]) -> ShopState:
    return ShopState(DeliveryMode(row["delivery_mode"]), row["shop_name"])


def save_shop(conn: Connection, state: ShopState) -> ShopState:
    conn.execute(
        update(shop_settings)
        .where(shop_settings.c.id == _ROW_ID)
        .values(delivery_mode=state.delivery_mode.value, shop_name=state.shop_name)
    )
    return state
