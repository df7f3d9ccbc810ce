"""State-store models of the web console: accounts and their sessions.

Change them only with a new migration (``0006_console_users`` created them).
Passwords are stored only as argon2 hashes; sessions only as the SHA-256 of
their token, so a copy of the store lets no one log in.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from sunlight.monitor.store.models import Base

#: admin: accounts and the config view; staff: every finding, letter and act;
#: leader: reads everything; liaison: one unit's letters and findings, and its acts on them
ROLES = ("admin", "staff", "leader", "liaison")


class ConsoleUser(Base):
    """One person who logs in to the console."""

    __tablename__ = "console_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(100))
    role: Mapped[str] = mapped_column(sa.String(16))
    unit_id: Mapped[str | None] = mapped_column(sa.String(255))  # a liaison's unit (as findings.unit_id)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    disabled: Mapped[bool] = mapped_column(default=False)
    failed_logins: Mapped[int] = mapped_column(default=0)  # wrong passwords since the last success
    locked_until: Mapped[dt.datetime | None]
    password_changed_at: Mapped[dt.datetime]
    last_login_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]


class ConsoleSession(Base):
    """A logged-in browser: the token's hash, its CSRF token and when it was last used."""

    __tablename__ = "console_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("console_users.id"), index=True)
    csrf: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]
