"""Dashboard users: roles and Argon2-hashed passwords (``argon2-cffi``; no hand-rolled crypto).

Roles, each including the ones before it:

``viewer``
    sees the map, the patterns, the ingestion status, and may run the detector on a photo;
``reviewer``
    also accepts, rejects and relabels detections and exports the reviewed set;
``admin``
    also manages users.

Like every query module, nothing here commits: the caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session

# ROLES lives in db.roles (no imports) for the CLI's help; re-exported here.
from db.roles import ROLES as ROLES
from db.schema import LoginSession, User, utcnow

#: Usernames of the demo accounts, one per role (``make demo`` creates them).
DEMO_USERS: dict[str, str] = {"viewer": "viewer", "reviewer": "reviewer", "admin": "admin"}
MIN_PASSWORD_LENGTH = 8

_hasher = PasswordHasher()
# Verified when the username does not exist, so that a wrong name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class UserError(ValueError):
    """A user cannot be created or changed as asked (the message says why and what to do)."""


@dataclass(frozen=True)
class AuthenticatedUser:
    """Who is logged in: plain values, safe to keep in a session."""

    id: int
    username: str
    role: str

    def can(self, role: str) -> bool:
        """Whether this user has ``role`` or a higher one."""
        return ROLES.index(self.role) >= ROLES.index(role)


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; the roles are {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(
            f"the password is too short ({len(password)} characters); "
            f"use at least {MIN_PASSWORD_LENGTH}"
        )
    return password


def _check_username(username: str) -> str:
    name = username.strip()
    if not name or len(name) > 100 or any(c.isspace() for c in name):
        raise UserError(f"invalid username {username!r}: use 1-100 characters without spaces")
    return name


def hash_password(password: str) -> str:
    """The Argon2id hash (with its salt and parameters) of ``password``."""
    return _hasher.hash(password)


def get_by_username(*, db_session: Session, username: str) -> User | None:
    return db_session.scalar(sa.select(User).where(User.username == username))


def create(*, db_session: Session, username: str, password: str, role: str = "viewer") -> User:
    """A new user; raises :class:`UserError` if the name is taken or the input is invalid."""
    name = _check_username(username)
    check_role(role)
    check_password(password)
    if get_by_username(db_session=db_session, username=name) is not None:
        raise UserError(f"a user called {name!r} exists already; choose another name")
    user = User(username=name, password_hash=hash_password(password), role=role, active=True)
    db_session.add(user)
    db_session.flush()
    return user


def set_password(*, db_session: Session, username: str, password: str) -> None:
    """A new password; every login of the user ends (a stolen session dies with the old one)."""
    user = _existing(db_session=db_session, username=username)
    user.password_hash = hash_password(check_password(password))
    end_user_sessions(db_session=db_session, user_id=user.id)


def set_role(*, db_session: Session, username: str, role: str) -> None:
    _existing(db_session=db_session, username=username).role = check_role(role)


def set_active(*, db_session: Session, username: str, active: bool) -> None:
    """(De)activate an account; deactivating ends its logins at once."""
    user = _existing(db_session=db_session, username=username)
    user.active = active
    if not active:
        end_user_sessions(db_session=db_session, user_id=user.id)


def _existing(*, db_session: Session, username: str) -> User:
    user = get_by_username(db_session=db_session, username=username)
    if user is None:
        raise UserError(f"no user called {username!r}; `wastemap users list` shows who exists")
    return user


def authenticate(*, db_session: Session, username: str, password: str) -> AuthenticatedUser | None:
    """The user if ``password`` is theirs and their account is active, else ``None``.

    Records the login time and upgrades the stored hash when Argon2's parameters have changed.
    """
    user = get_by_username(db_session=db_session, username=username.strip())
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    return AuthenticatedUser(id=user.id, username=user.username, role=user.role)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(*, db_session: Session, user_id: int, lifetime: dt.timedelta) -> str:
    """A new login of ``user_id`` lasting ``lifetime``; returns its token (only its SHA-256 is
    stored). Expired logins of every user are deleted on the way."""
    if lifetime <= dt.timedelta(0):
        raise ValueError(f"a login must last a positive time, got {lifetime}")
    now = utcnow()
    db_session.execute(sa.delete(LoginSession).where(LoginSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    db_session.add(
        LoginSession(
            user_id=user_id,
            token_sha256=_token_hash(token),
            created_at=now,
            expires_at=now + lifetime,
            last_seen_at=now,
        )
    )
    db_session.flush()
    return token


def session_user(*, db_session: Session, token: str) -> AuthenticatedUser | None:
    """Who ``token`` logs in, with their current role, or ``None`` when the login has expired or
    ended or the account is inactive. Records when the login was last used."""
    if not token:
        return None
    now = utcnow()
    row = db_session.execute(
        sa.select(LoginSession, User)
        .join(User, User.id == LoginSession.user_id)
        .where(LoginSession.token_sha256 == _token_hash(token))
    ).first()
    if row is None:
        return None
    login, user = row
    if login.expires_at <= now or not user.active:
        return None
    if now - login.last_seen_at > dt.timedelta(minutes=1):  # not a write on every page run
        login.last_seen_at = now
    return AuthenticatedUser(id=user.id, username=user.username, role=user.role)


def end_session(*, db_session: Session, token: str) -> bool:
    """Log ``token`` out; True when it was a live login."""
    result = db_session.execute(
        sa.delete(LoginSession).where(LoginSession.token_sha256 == _token_hash(token))
    )
    return bool(result.rowcount)


def end_user_sessions(*, db_session: Session, user_id: int) -> int:
    """End every login of ``user_id``; returns how many there were."""
    result = db_session.execute(sa.delete(LoginSession).where(LoginSession.user_id == user_id))
    return int(result.rowcount or 0)


def list_all(*, db_session: Session) -> list[dict[str, object]]:
    """Every user (without the hash), by name."""
    stmt = sa.select(
        User.id, User.username, User.role, User.active, User.created_at, User.last_login_at
    ).order_by(User.username)
    return [dict(row._mapping) for row in db_session.execute(stmt)]


def count(*, db_session: Session) -> int:
    return int(db_session.scalar(sa.select(sa.func.count(User.id))) or 0)


def generate_password() -> str:
    """A random password of about 16 URL-safe characters (96 bits)."""
    return secrets.token_urlsafe(12)


def ensure_demo_users(*, db_session: Session, password: str) -> dict[str, str]:
    """Make the three demo accounts (``viewer``, ``reviewer``, ``admin``) log in with ``password``.

    Idempotent: missing accounts are created, existing ones get their role and ``password``
    back and are re-activated, so the credentials the caller prints always work. Like
    :func:`set_password`, resetting an existing account's password ends its dashboard logins
    (whoever held the old password is logged out). Returns username -> role.
    """
    check_password(password)
    for role, username in DEMO_USERS.items():
        user = get_by_username(db_session=db_session, username=username)
        if user is None:
            create(db_session=db_session, username=username, password=password, role=role)
        else:
            user.password_hash = hash_password(password)
            user.role = role
            user.active = True
            end_user_sessions(db_session=db_session, user_id=user.id)
    db_session.flush()
    return {username: role for role, username in DEMO_USERS.items()}
