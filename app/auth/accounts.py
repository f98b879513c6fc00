"""Account workflows shared by the admin pages and the ``flask users`` commands."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select

from app.core.audit import record
from app.core.errors import ServiceError
from app.extensions import db
from app.models import Role, User


class AccountError(ServiceError):
    """An account that cannot be created or changed as asked."""

    code = "account"


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
        email=email.strip().lower(), name=name, role=role, site_id=site_id, locale=locale or None
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
    user.email = data["email"].strip().lower()
    user.name = data["name"]
    user.role = role
    user.site_id = site_id
    user.locale = data["locale"] or None
    user.is_active_account = bool(data["is_active"])
    if data.get("password"):
        user.set_password(data["password"])
    db.session.flush()
    after = {"email": user.email, "role": user.role.value, "active": user.is_active_account}
    record("user.updated", user, by=by, before=before, after=after)
    return user


def all_users() -> list[User]:
    """Every account, by role and e-mail (the admin's list)."""
    return list(db.session.scalars(select(User).order_by(User.role, User.email)))


def user_by_email(email: str) -> User | None:
    """The account with this e-mail address (case does not matter)."""
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
