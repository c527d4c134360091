"""The running service's parts, shared by every request (kept on ``app.state.backend``)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from register.backend.auth import DeviceAuthenticator
from register.backend.database import Database
from register.backend.expiry import ExpirySweeper
from register.backend.sender import MessageQueue
from register.backend.settings import BackendSettings


@dataclass(frozen=True, slots=True)
class Backend:
    settings: BackendSettings
    db: Database
    devices: DeviceAuthenticator
    sender: MessageQueue
    sweeper: ExpirySweeper


async def backend_of(request: Request) -> Backend:
    """FastAPI dependency: the service the request arrived at (async: FastAPI runs a plain ``def``
    dependency in its thread pool, a hop that costs more than this lookup)."""
    return request.app.state.backend
