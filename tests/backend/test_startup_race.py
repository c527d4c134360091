"""Several backends starting at once on one empty database: migrated once, seeded once, all start."""

from __future__ import annotations

import threading

from sqlalchemy import create_engine, func, select

from register.backend.app import make_app
from register.backend.database import normalise_url
from register.backend.schema import devices, shop_settings
from register.backend.settings import BackendSettings


def test_backends_starting_together(db_url: str) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def boot() -> None:
        try:
            start.wait()
            make_app(BackendSettings(db_url=db_url, seed="lab")).state.backend.db.dispose()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=boot) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    engine = create_engine(normalise_url(db_url))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(shop_settings)).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(devices)).scalar_one() == 1
    engine.dispose()
