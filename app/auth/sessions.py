"""Sign-ins kept on the server, so that ending one ends it on every app server at once.

Each sign-in is a :class:`~app.models.user.UserSession` row holding the SHA-256 of its
session id (what the session cookie carries) and, when the user asked to be remembered, of
its remember-me token. Every request looks its session id up (:func:`session_user`):

* logging out deletes the row: the session cookie, the remember cookie and any copy of
  them open nothing any more;
* a password change, a disabled account and an admin's "sign out everywhere" delete every
  row of the user (:func:`end_all_sessions`);
* a remember-me token is used once: coming back with it issues a new session id and a new
  token on the same row (:func:`resume_remembered`), so a stolen copy dies at the next use.

The functions add, change and delete rows; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from app.core import clock
from app.extensions import db
from app.models import User
from app.models.user import UserSession, sha256_hex

#: ``last_seen_at`` is written at most this often, so a busy page does not write per request.
LAST_SEEN_RESOLUTION = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Lifetimes:
    """How long a sign-in lasts without the browser coming back, and how long it is
    remembered (``remember`` None: not remembered)."""

    session: timedelta
    remember: timedelta | None = None


@dataclass(frozen=True, slots=True)
class SignIn:
    """A sign-in just started or resumed, with the raw remember token to set as a cookie."""

    user: User
    row: UserSession
    remember_token: str | None


def aware(moment: datetime | None) -> datetime | None:
    """Stored times come back naive from SQLite: they are UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def _expired(moment: datetime | None, now: datetime) -> bool:
    moment = aware(moment)
    return moment is None or moment <= now


def start_session(user: User, lifetimes: Lifetimes) -> SignIn:
    """A new sign-in for ``user`` (who has just proved who they are)."""
    now = clock.utc_now()
    _forget_expired(user, now)
    row = UserSession(user=user, created_at=now, last_seen_at=now, expires_at=now)
    return _issue(row, lifetimes, now, remember=lifetimes.remember is not None)


def _issue(row: UserSession, lifetimes: Lifetimes, now: datetime, *, remember: bool) -> SignIn:
    row.issue_token()
    row.expires_at = now + lifetimes.session
    remember_token = None
    if remember and lifetimes.remember is not None:
        remember_token = row.issue_remember_token()
        row.remember_expires_at = now + lifetimes.remember
    db.session.add(row)
    db.session.flush()
    row.user.login_session = row
    return SignIn(user=row.user, row=row, remember_token=remember_token)


def _row_holding(column, raw: str | None) -> UserSession | None:
    """The sign-in whose session id (or remember token) ``column`` holds the digest of ``raw``."""
    if not raw or len(raw) > 200:
        return None
    return db.session.scalar(select(UserSession).where(column == sha256_hex(raw)))


def session_user(raw: str | None) -> User | None:
    """The active user whose unexpired sign-in has this session id, or None."""
    row = _row_holding(UserSession.token_hash, raw)
    now = clock.utc_now()
    if row is None or _expired(row.expires_at, now) or not row.user.is_active:
        return None
    last_seen = aware(row.last_seen_at)
    if last_seen is None or now - last_seen > LAST_SEEN_RESOLUTION:
        row.last_seen_at = now
    row.raw_token = raw
    row.user.login_session = row
    return row.user


def resume_remembered(raw: str | None, lifetimes: Lifetimes) -> SignIn | None:
    """Sign back in with a remember-me token: a new session id and a new token (rotation).

    None when the token is unknown, used already, expired or its user disabled.
    """
    row = _row_holding(UserSession.remember_hash, raw)
    now = clock.utc_now()
    if row is None or _expired(row.remember_expires_at, now) or not row.user.is_active:
        return None
    row.last_seen_at = now
    signed_in = _issue(row, lifetimes, now, remember=False)
    token = row.issue_remember_token()  # the same remembered life, a new token
    return SignIn(user=signed_in.user, row=row, remember_token=token)


def end_session(row: UserSession | None) -> None:
    """End one sign-in (logout): its session id and its remember token stop working."""
    if row is not None:
        row.user.login_session = None
        db.session.delete(row)


def end_all_sessions(user: User, *, keep: UserSession | None = None) -> int:
    """End every sign-in of ``user`` except ``keep``; the number ended."""
    query = delete(UserSession).where(UserSession.user_id == user.id)
    if keep is not None:
        query = query.where(UserSession.id != keep.id)
    result = db.session.execute(query.execution_options(synchronize_session="fetch"))
    return result.rowcount or 0


def active_session_count(user: User) -> int:
    """Sign-ins of ``user`` that still open a page (directly or through remember-me)."""
    now = clock.utc_now()
    rows = db.session.scalars(select(UserSession).where(UserSession.user_id == user.id))
    return sum(
        1
        for row in rows
        if not _expired(row.expires_at, now) or not _expired(row.remember_expires_at, now)
    )


def _forget_expired(user: User, now: datetime) -> None:
    """Housekeeping at each sign-in: drop the user's sign-ins that can open nothing any more."""
    rows = db.session.scalars(select(UserSession).where(UserSession.user_id == user.id))
    for row in rows:
        if _expired(row.expires_at, now) and _expired(row.remember_expires_at, now):
            db.session.delete(row)
