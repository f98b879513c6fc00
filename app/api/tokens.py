"""Per-integration API tokens: created and revoked by admins and change leads, stored hashed."""

from __future__ import annotations

from datetime import UTC, timedelta

from sqlalchemy import select

from app.core import clock
from app.core.audit import add_and_record, record
from app.extensions import db
from app.models import ApiToken, User

#: ``last_used_at`` is written at most this often, so busy integrations do not write per call.
LAST_USED_RESOLUTION = timedelta(minutes=5)


def create_token(name: str, *, by: User) -> tuple[ApiToken, str]:
    """A new token and its raw secret (shown once; only the SHA-256 is stored)."""
    token, raw = ApiToken.generate(name.strip(), created_by=by)
    add_and_record(
        "api_token.created", token, by=by, after={"name": token.name, "prefix": token.prefix}
    )
    return token, raw


def revoke_token(token: ApiToken, *, by: User) -> None:
    if token.revoked_at is None:
        token.revoked_at = clock.utc_now()
        record("api_token.revoked", token, by=by, before={"name": token.name})


def list_tokens() -> list[ApiToken]:
    return list(
        db.session.scalars(
            select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc())
        )
    )


def owner_may_use(token: ApiToken) -> bool:
    """A token works only while the account that created it is active: disabling a departed
    employee's account stops their integrations at the next call. (A token whose creator is
    unknown, from before accounts were recorded, is governed by revocation alone.)"""
    return token.created_by is None or token.created_by.is_active


def authenticate(raw: str | None) -> ApiToken | None:
    """The usable token for a raw secret, or None. Constant work per call (one hash lookup)."""
    if not raw or not raw.startswith("rw_") or len(raw) > 200:
        return None
    token = db.session.scalar(
        select(ApiToken).where(ApiToken.token_hash == ApiToken.hash_token(raw))
    )
    if token is None or not token.is_active or not owner_may_use(token):
        return None
    now = clock.utc_now()
    last = token.last_used_at
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    if last is None or now - last > LAST_USED_RESOLUTION:
        token.last_used_at = now
    return token
