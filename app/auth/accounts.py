"""Account workflows shared by the admin pages and the ``flask users`` commands."""

from __future__ import annotations

from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from sqlalchemy import func, select

from app.auth.sessions import end_all_sessions
from app.core.audit import record
from app.core.errors import ServiceError
from app.extensions import db
from app.models import Role, User


class AccountError(ServiceError):
    """An account that cannot be created or changed as asked."""

    code = "account"


def checked_email(raw: str) -> str:
    """The address, trimmed and lower-cased, if Rollwise accepts it; else AccountError.

    The one rule for every account address: the login form, the admin's account form and
    ``flask users create`` all call it, so an account can always log in with its address.
    Special-use domains (``.test``, ``.local``, ``.invalid`` …) and malformed addresses are
    refused; whether the domain receives mail is not checked (no DNS at sign-in).
    """
    email = (raw or "").strip().lower()
    try:
        validate_email(email, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise AccountError(_("Invalid email address."), "email") from exc
    return email


def create_user(
    email: str,
    name: str,
    role: Role,
    password: str,
    site_id: int | None = None,
    locale: str | None = None,
) -> User:
    if role is Role.STAFF and site_id is None:
        raise AccountError(_("A staff account must be bound to a site."), "site_id")
    user = User(
        email=checked_email(email), name=name, role=role, site_id=site_id, locale=locale or None
    )
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def apply_user_form(user: User | None, data: dict[str, Any], by: User | None) -> User:
    """Create (``user`` None) or update an account from the admin form's data."""
    role = Role(data["role"])
    site_id = (data["site_id"] or None) if role is Role.STAFF else None
    if user is None:
        user = create_user(
            data["email"], data["name"], role, data["password"], site_id, data["locale"]
        )
        record("user.created", user, by=by, after={"email": user.email, "role": role.value})
        return user
    before = {"email": user.email, "role": user.role.value, "active": user.is_active_account}
    user.email = checked_email(data["email"])
    user.name = data["name"]
    user.role = role
    user.site_id = site_id
    user.locale = data["locale"] or None
    user.is_active_account = bool(data["is_active"])
    if data.get("password"):
        change_password(user, data["password"], by=by)
    if not user.is_active_account:
        end_all_sessions(user)
    db.session.flush()
    after = {"email": user.email, "role": user.role.value, "active": user.is_active_account}
    record("user.updated", user, by=by, before=before, after=after)
    return user


def change_password(user: User, password: str, *, by: User | None) -> None:
    """A new password, and every other sign-in of the user ended (someone who knew the old
    password, or holds a copied cookie, is out). The changer's own sign-in stays when they
    change their own password."""
    user.set_password(password)
    end_all_sessions(user, keep=_own_sign_in(user, by))


def sign_out_everywhere(user: User, *, by: User | None) -> int:
    """End every sign-in of ``user`` (sessions and remember-me tokens); the number ended."""
    ended = end_all_sessions(user)
    record("user.signed_out_everywhere", user, by=by, after={"sessions": ended})
    return ended


def _own_sign_in(user: User, by: User | None):
    if by is None or by.id != user.id:
        return None
    return by.login_session


def all_users() -> list[User]:
    """Every account, by role and e-mail (the admin's list)."""
    return list(db.session.scalars(select(User).order_by(User.role, User.email)))


def user_by_email(email: str) -> User | None:
    """The account with this e-mail address (case does not matter)."""
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
