"""Accounts, roles, their sign-ins and integration API tokens."""

from __future__ import annotations

import enum
import hashlib
import secrets
from datetime import datetime
from typing import TYPE_CHECKING

from flask import current_app, has_app_context
from flask_login import UserMixin
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from app.models.base import Base, str_enum, utcnow

if TYPE_CHECKING:
    from app.models.site import Site


def sha256_hex(raw: str) -> str:
    """How every bearer secret (API token, session id, remember token) is stored."""
    return hashlib.sha256(raw.encode()).hexdigest()


class Role(enum.Enum):
    ADMIN = "admin"
    CHANGE_LEAD = "change_lead"
    STAFF = "staff"
    ANALYST = "analyst"


class User(UserMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"))
    locale: Mapped[str | None] = mapped_column(String(10))
    is_active_account: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    site: Mapped[Site | None] = relationship()

    #: The sign-in this request runs under (set by the login loader, never stored).
    login_session = None

    def get_id(self) -> str:
        """What Flask-Login keeps in the session cookie: the sign-in's secret, not the user id.

        The loader looks the secret up on every request, so ending the sign-in (logout, a
        password change, a disabled account) ends every copy of the cookie at once.
        """
        if self.login_session is None or self.login_session.raw_token is None:
            raise RuntimeError("sign in with app.auth.sessions.start_session, not login_user")
        return self.login_session.raw_token

    def set_password(self, password: str) -> None:
        method = current_app.config["PASSWORD_HASH_METHOD"] if has_app_context() else "scrypt"
        self.password_hash = generate_password_hash(password, method=method)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive accounts
        return self.is_active_account

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role.value}>"


class ApiToken(Base):
    """A per-integration token for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(12), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    created_by: Mapped[User | None] = relationship()

    @staticmethod
    def hash_token(raw: str) -> str:
        return sha256_hex(raw)

    @classmethod
    def generate(cls, name: str, created_by: User | None = None) -> tuple[ApiToken, str]:
        """Return a new token row and the raw secret, shown once to its creator."""
        raw = "rw_" + secrets.token_urlsafe(32)
        token = cls(
            name=name, prefix=raw[:10], token_hash=cls.hash_token(raw), created_by=created_by
        )
        return token, raw

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class UserSession(Base):
    """One sign-in of a user on one browser: its session id and, when the user asked to be
    remembered, its remember-me token. Only SHA-256 digests are stored.

    Deleting the row ends the sign-in everywhere: the session cookie and the remember cookie
    (and any copy of them) then open nothing, on every app server.
    """

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    remember_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    remember_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()

    #: The raw session id, known only in the request that issued it (never stored).
    raw_token = None

    def issue_token(self) -> str:
        """A new random session id for this sign-in; the old one stops working."""
        raw = secrets.token_urlsafe(32)
        self.token_hash = sha256_hex(raw)
        self.raw_token = raw
        return raw

    def issue_remember_token(self) -> str:
        """A new random remember-me token; the old one stops working."""
        raw = secrets.token_urlsafe(32)
        self.remember_hash = sha256_hex(raw)
        return raw
