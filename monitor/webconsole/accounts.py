"""Console accounts: argon2-hashed passwords, roles, locking after wrong passwords, sessions.

Everything here is plain functions over the state store so that the CLI
(``sunlight users …``) and the web app share one implementation. A session
token is handed to the browser once and only its SHA-256 is stored; the
CSRF token of a session lives with it.

argon2 is loaded, and the dummy hash computed, when the first password is
hashed or checked: the commands that import this module to list or disable
accounts, and the daemon's start, do not pay for it (~240 ms of hashing).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine

from sunlight.monitor.store.console_models import ROLES, ConsoleSession, ConsoleUser
from sunlight.monitor.webconsole.config import ConsoleConfig

if TYPE_CHECKING:
    from argon2 import PasswordHasher

log = structlog.get_logger("sunlight.console")
MIN_PASSWORD = 10

ROLE_ZH = {"admin": "系统管理员", "staff": "监察室工作人员", "leader": "领导", "liaison": "单位联络员"}


class AccountError(ValueError):
    """A request about accounts that cannot be done; ``str()`` is the Chinese reason."""


@dataclass(frozen=True)
class User:
    """The logged-in account as the pages see it."""

    id: int
    username: str
    display_name: str
    role: str
    unit_id: str | None

    @property
    def is_liaison(self) -> bool:
        return self.role == "liaison"

    @property
    def role_zh(self) -> str:
        return ROLE_ZH.get(self.role, self.role)

    def can(self, what: str) -> bool:
        """``act`` (the office's acts), ``unit_act`` (a unit's own acts), ``accounts``, ``read_all``."""
        allowed = {
            "act": {"staff"},
            "unit_act": {"staff", "liaison"},
            "accounts": {"admin"},
            "read_all": {"admin", "staff", "leader"},
        }
        return self.role in allowed.get(what, set())


@cache
def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher

    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so a wrong name costs as long as a wrong password.

    Made when the console is built (:func:`prepare_logins`), not at import: every
    ``sunlight`` command imports this module, and an argon2 hash takes 64 MiB for
    a moment. Nor at the first login of an unknown name, which would then cost
    one hash more than a wrong password and tell the name is unknown.
    """
    return _hasher().hash("sunlight-no-such-user")


def prepare_logins() -> None:
    """Make the dummy hash now (the console calls it when it is built), not at the first login."""
    _dummy_hash()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _user(row: sa.Row[Any]) -> User:
    return User(row.id, row.username, row.display_name, row.role, row.unit_id)


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"密码至少{MIN_PASSWORD}个字符")


def add_user(store: Engine, username: str, display_name: str, role: str, password: str,
             unit_id: str | None = None) -> User:
    username = username.strip()
    if not username or len(username) > 64 or not username.isprintable() or " " in username:
        raise AccountError("用户名不能为空，不能含空格，最长64个字符")
    if role not in ROLES:
        raise AccountError(f"角色应为 {', '.join(ROLES)} 之一")
    if role == "liaison" and not (unit_id or "").strip():
        raise AccountError("单位联络员须指定所属单位（--unit）")
    if role != "liaison" and unit_id:
        raise AccountError("只有单位联络员绑定单位")
    check_password_strength(password)
    now = _now()
    with store.begin() as conn:
        if conn.execute(sa.select(ConsoleUser.id).where(ConsoleUser.username == username)).first():
            raise AccountError(f"用户名 {username} 已存在")
        conn.execute(sa.insert(ConsoleUser).values(
            username=username, display_name=display_name.strip() or username, role=role,
            unit_id=unit_id.strip() if unit_id else None, password_hash=_hasher().hash(password),
            disabled=False, failed_logins=0, locked_until=None, password_changed_at=now,
            last_login_at=None, created_at=now))
        new_id = conn.execute(sa.select(ConsoleUser.id).where(ConsoleUser.username == username)).scalar_one()
    log.info("console account added", username=username, role=role)
    return User(int(new_id), username, display_name.strip() or username, role, unit_id)


def set_password(store: Engine, username: str, password: str) -> None:
    """A new password; it also unlocks the account and ends its sessions."""
    check_password_strength(password)
    with store.begin() as conn:
        row = conn.execute(sa.select(ConsoleUser).where(ConsoleUser.username == username)).first()
        if row is None:
            raise AccountError(f"没有用户 {username}")
        conn.execute(sa.update(ConsoleUser).where(ConsoleUser.id == row.id).values(
            password_hash=_hasher().hash(password), password_changed_at=_now(), failed_logins=0,
            locked_until=None))
        conn.execute(sa.delete(ConsoleSession).where(ConsoleSession.user_id == row.id))
    log.info("console password changed", username=username)


def set_disabled(store: Engine, username: str, disabled: bool = True) -> None:
    with store.begin() as conn:
        row = conn.execute(sa.select(ConsoleUser).where(ConsoleUser.username == username)).first()
        if row is None:
            raise AccountError(f"没有用户 {username}")
        conn.execute(sa.update(ConsoleUser).where(ConsoleUser.id == row.id).values(disabled=disabled))
        if disabled:
            conn.execute(sa.delete(ConsoleSession).where(ConsoleSession.user_id == row.id))
    log.info("console account disabled" if disabled else "console account enabled", username=username)


def list_users(store: Engine) -> list[sa.Row[Any]]:
    with store.connect() as conn:
        return list(conn.execute(sa.select(ConsoleUser).order_by(ConsoleUser.username)).all())


# --- logging in ----------------------------------------------------------------------


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    #: why not, in Chinese, for the login page (never says whether the name exists)
    problem: str | None = None


def authenticate(store: Engine, cfg: ConsoleConfig, username: str, password: str,
                 now: dt.datetime | None = None) -> LoginResult:
    """Check a password; ``cfg.lockout_after`` wrong ones in a row lock the account for a while."""
    from argon2.exceptions import InvalidHashError, VerificationError

    now = now or _now()
    wrong = LoginResult(None, "用户名或密码错误")
    with store.begin() as conn:
        row = conn.execute(sa.select(ConsoleUser).where(ConsoleUser.username == username.strip())).first()
        if row is None:
            with contextlib.suppress(VerificationError):
                _hasher().verify(_dummy_hash(), password)
            # not the name typed: people type their password into the name field
            log.info("console login refused", reason="unknown user")
            return wrong
        if row.locked_until is not None and row.locked_until > now:
            log.info("console login refused", username=row.username, reason="locked")
            minutes = max(1, int((row.locked_until - now).total_seconds() // 60) + 1)
            return LoginResult(None, f"密码连续输错{cfg.lockout_after}次，账户已锁定，请{minutes}分钟后再试")
        try:
            ok: bool = _hasher().verify(row.password_hash, password)
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok:
            failed = (0 if row.locked_until is not None else row.failed_logins) + 1
            locked = now + cfg.lockout_for if failed >= cfg.lockout_after else None
            conn.execute(sa.update(ConsoleUser).where(ConsoleUser.id == row.id).values(
                failed_logins=0 if locked else failed, locked_until=locked))
            log.info("console login refused", username=row.username, reason="password",
                     failed=failed, locked=locked is not None)
            if locked:
                return LoginResult(None, f"密码连续输错{cfg.lockout_after}次，账户已锁定，"
                                         f"请{int(cfg.lockout_for.total_seconds() // 60)}分钟后再试")
            return wrong
        if row.disabled:
            log.info("console login refused", username=row.username, reason="disabled")
            return LoginResult(None, "该账户已停用，请联系系统管理员")
        values: dict[str, object] = {"failed_logins": 0, "locked_until": None, "last_login_at": now}
        if _hasher().check_needs_rehash(row.password_hash):
            values["password_hash"] = _hasher().hash(password)
        conn.execute(sa.update(ConsoleUser).where(ConsoleUser.id == row.id).values(**values))
    log.info("console login", username=row.username, role=row.role)
    return LoginResult(_user(row))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(store: Engine, user: User, now: dt.datetime | None = None) -> tuple[str, str]:
    """A new session for ``user``: (the token for the cookie, the session's CSRF token)."""
    now = now or _now()
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with store.begin() as conn:
        conn.execute(sa.insert(ConsoleSession).values(token_hash=_digest(token), user_id=user.id,
                                                      csrf=csrf, created_at=now, last_seen_at=now))
    return token, csrf


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str


def resume_session(store: Engine, cfg: ConsoleConfig, token: str,
                   now: dt.datetime | None = None) -> Session | None:
    """The session of a cookie if it is still alive (and its account enabled); touches it."""
    if not token:
        return None
    now = now or _now()
    digest = _digest(token)
    with store.begin() as conn:
        row = conn.execute(
            sa.select(ConsoleSession.id, ConsoleSession.csrf, ConsoleSession.created_at,
                      ConsoleSession.last_seen_at, ConsoleUser.id.label("uid"), ConsoleUser.username,
                      ConsoleUser.display_name, ConsoleUser.role, ConsoleUser.unit_id,
                      ConsoleUser.disabled)
            .join(ConsoleUser, ConsoleUser.id == ConsoleSession.user_id)
            .where(ConsoleSession.token_hash == digest)).first()
        if row is None:
            return None
        if (row.disabled or now - row.last_seen_at > cfg.session_idle
                or now - row.created_at > cfg.session_max):
            conn.execute(sa.delete(ConsoleSession).where(ConsoleSession.id == row.id))
            return None
        if (now - row.last_seen_at).total_seconds() > 30:  # spare the store a write per request
            conn.execute(sa.update(ConsoleSession).where(ConsoleSession.id == row.id)
                         .values(last_seen_at=now))
    return Session(User(row.uid, row.username, row.display_name, row.role, row.unit_id), row.csrf)


def end_session(store: Engine, token: str) -> None:
    with store.begin() as conn:
        conn.execute(sa.delete(ConsoleSession).where(ConsoleSession.token_hash == _digest(token)))


def purge_sessions(store: Engine, cfg: ConsoleConfig, now: dt.datetime | None = None) -> int:
    """Delete sessions past their idle time (called at login, so the table stays small)."""
    now = now or _now()
    with store.begin() as conn:
        return conn.execute(sa.delete(ConsoleSession).where(
            ConsoleSession.last_seen_at < now - cfg.session_idle)).rowcount
