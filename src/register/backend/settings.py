"""Typed settings of the loyalty backend service."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

import platformdirs

DEFAULT_PORT = 8400
SMTP_HOST_ENV = "REGISTER_LOYALTY_SMTP_HOST"
SMTP_PORT_ENV = "REGISTER_LOYALTY_SMTP_PORT"


class DeliveryMode(StrEnum):
    """Who sends the electronic receipt: the loyalty backend (with the register's link) or the OFD."""

    LOYALTY = "LOYALTY"
    OFD = "OFD"


class SettingsError(ValueError):
    """A backend setting with a value the service cannot run with."""


def default_db_url() -> str:
    """SQLite file in the user's data directory (created on first use)."""
    return f"sqlite:///{Path(platformdirs.user_data_dir('register')) / 'loyalty.sqlite3'}"


@dataclass(frozen=True, slots=True)
class BackendSettings:
    """Everything the loyalty backend needs to start; every field has a working default."""

    db_url: str = ""
    """SQLAlchemy URL: ``sqlite:///PATH`` (default: a file in the user's data directory) or
    ``postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB`` for many registers."""
    host: str = "127.0.0.1"
    """Address the HTTP service listens on."""
    port: int = DEFAULT_PORT
    """TCP port the HTTP service listens on; 0 picks a free one (the real one is in the base URL)."""
    smtp_host: str | None = "127.0.0.1"
    """SMTP server the e-mail offers are sent through; None: e-mails fail with "SMTP не настроен"."""
    smtp_port: int = 8025
    """Port of the SMTP server (8025: aiosmtpd's default, the lab's sink)."""
    smtp_sender: str = "noreply@loyalty.lab"
    """From address of the e-mails the backend sends."""
    smtp_timeout: float = 5.0
    """Seconds to wait for the SMTP server before the attempt counts as failed."""
    smtp_max_attempts: int = 5
    """Attempts an e-mail gets when the SMTP server is unreachable or answers 4xx (a temporary refusal);
    after the last one it is marked failed with the reason. A 5xx refusal fails it at once."""
    smtp_retry_seconds: float = 2.0
    """Wait before the second attempt of an e-mail; doubled for each further one (2, 4, 8, 16 s)."""
    smtp_retry_max_seconds: float = 300.0
    """Longest wait between two attempts of an e-mail, however many came before."""
    delivery_mode_default: DeliveryMode = DeliveryMode.LOYALTY
    """Delivery mode of a new database (staff change it later with PUT /crm/v1/settings)."""
    shop_name_default: str = "Магазин №1"
    """Shop name of a new database, the ``{shop}`` placeholder of offer templates."""
    seed: str | None = None
    """Demo data to add at start: ``"lab"`` (devices, staff, members, offers) or None."""
    token_ttl_seconds: int = 12 * 3600
    """Lifetime of member and staff bearer tokens."""
    sender_poll_seconds: float = 1.0
    """How often the message sender looks for queued messages it was not woken for (other processes) and
    for e-mails whose next attempt is due."""
    calculation_lifetime_seconds: float = 15 * 60
    """How long a calculated purchase waits for its confirm or cancel. An older one is expired (status
    EXPIRED): what it blocked is released, and its confirm is refused with PURCHASE_EXPIRED. A register
    whose calculate timed out may never cancel, so without this a purchase would stay CALCULATED forever."""
    expiry_sweep_seconds: float = 30.0
    """How often calculated purchases past their lifetime are expired."""

    def __post_init__(self) -> None:
        if not self.db_url:
            object.__setattr__(self, "db_url", default_db_url())
        if not 0 <= self.port <= 0xFFFF:
            raise SettingsError(f"port must be 0..65535, got {self.port}")
        if not 0 < self.smtp_port <= 0xFFFF:
            raise SettingsError(f"smtp_port must be 1..65535, got {self.smtp_port}")
        if self.seed not in (None, "lab"):
            raise SettingsError(f"unknown seed {self.seed!r}: the only seed is 'lab'")
        if self.smtp_max_attempts < 1:
            raise SettingsError(f"smtp_max_attempts must be at least 1, got {self.smtp_max_attempts}")
        for name in ("smtp_retry_seconds", "smtp_retry_max_seconds", "calculation_lifetime_seconds"):
            if getattr(self, name) < 0:
                raise SettingsError(f"{name} must not be negative, got {getattr(self, name)}")
        for name in ("sender_poll_seconds", "expiry_sweep_seconds"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"{name} must be positive, got {getattr(self, name)}")
        if self.token_ttl_seconds <= 0:
            raise SettingsError(f"token_ttl_seconds must be positive, got {self.token_ttl_seconds}")
        object.__setattr__(self, "delivery_mode_default", DeliveryMode(self.delivery_mode_default))

    def with_smtp_from_env(self) -> BackendSettings:
        """These settings with the SMTP address taken from $REGISTER_LOYALTY_SMTP_HOST/_PORT when set."""
        host = os.environ.get(SMTP_HOST_ENV) or self.smtp_host
        port_text = os.environ.get(SMTP_PORT_ENV)
        if port_text is None:
            return replace(self, smtp_host=host)
        if not port_text.isdigit():
            raise SettingsError(f"${SMTP_PORT_ENV} must be a port number, got {port_text!r}")
        return replace(self, smtp_host=host, smtp_port=int(port_text))
