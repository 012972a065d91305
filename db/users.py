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

import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session

from db.schema import User, utcnow

ROLES: tuple[str, ...] = ("viewer", "reviewer", "admin")
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
    user = _existing(db_session=db_session, username=username)
    user.password_hash = hash_password(check_password(password))


def set_role(*, db_session: Session, username: str, role: str) -> None:
    _existing(db_session=db_session, username=username).role = check_role(role)


def set_active(*, db_session: Session, username: str, active: bool) -> None:
    _existing(db_session=db_session, username=username).active = active


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
    back and are re-activated, so the credentials the caller prints always work.
    Returns username -> role.
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
    db_session.flush()
    return {username: role for role, username in DEMO_USERS.items()}
