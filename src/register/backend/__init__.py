"""The loyalty backend: a real HTTP service (FastAPI on uvicorn, SQLite or PostgreSQL) that the register
asks about members during a sale. Protocol: /work/shared/reference/loyalty-protocol.md.

``make_app(settings)`` builds the ASGI app; ``serve(...)`` runs it for ``register loyalty serve``;
``BackendServer(settings)`` runs it in a thread for tests and the embedded lab.
"""

from register.backend.app import make_app
from register.backend.server import BackendServer, BackendServerError, serve
from register.backend.settings import BackendSettings, DeliveryMode

__all__ = ["BackendServer", "BackendServerError", "BackendSettings", "DeliveryMode", "make_app", "serve"]
