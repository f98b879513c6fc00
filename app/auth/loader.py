"""Flask-Login wiring: the session cookie names a server-side sign-in, checked every request.

Flask-Login keeps ``user.get_id()`` in the session cookie; here that is the sign-in's random
session id (see :mod:`app.auth.sessions`), looked up by :func:`load_user` on each request.
Remember-me is Rollwise's own cookie (:data:`REMEMBER_COOKIE`): a random token, stored
hashed, replaced at each use, and ended with the sign-in. Flask-Login's own ``user_id|HMAC``
cookie is never set, and an old one is never honoured (its user id names no sign-in).
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, g, session
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, current_user, login_user, logout_user

from app.auth import sessions
from app.core import clock
from app.models import User

#: The remember-me cookie: a random token, replaced each time it signs the browser back in.
REMEMBER_COOKIE = "rollwise_remember"


def _seconds(value: timedelta | int | float) -> timedelta:
    return value if isinstance(value, timedelta) else timedelta(seconds=value)


def lifetimes(*, remember: bool) -> sessions.Lifetimes:
    """A sign-in's lifetimes from the configuration (``PERMANENT_SESSION_LIFETIME``, and
    ``REMEMBER_COOKIE_DURATION`` when the user asked to be remembered)."""
    config = current_app.config
    return sessions.Lifetimes(
        session=_seconds(config["PERMANENT_SESSION_LIFETIME"]),
        remember=_seconds(config["REMEMBER_COOKIE_DURATION"]) if remember else None,
    )


def sign_in(user: User, *, remember: bool) -> None:
    """Start a sign-in for ``user`` and put it in this browser's cookies."""
    _enter(sessions.start_session(user, lifetimes(remember=remember)))


def _enter(signed: sessions.SignIn) -> None:
    login_user(signed.user)
    session.permanent = True  # the cookie lives as long as the server-side sign-in
    if signed.remember_token is not None:
        g.remember_cookie = (signed.remember_token, signed.row.remember_expires_at)


def sign_out() -> None:
    """End this browser's sign-in: its session id and remember token stop working."""
    if current_user.is_authenticated:
        sessions.end_session(current_user.login_session)
    logout_user()
    g.forget_remember = True


def load_remembered(cookies) -> User | None:
    """Flask-Login's request loader: a browser without a live session comes back with its
    remember-me token, which signs it in again under a new session id and a new token."""
    raw = cookies.get(REMEMBER_COOKIE)
    if not raw:
        return None
    signed = sessions.resume_remembered(raw, lifetimes(remember=True))
    if signed is None:
        g.forget_remember = True  # used, expired or ended: the browser drops it
        return None
    _enter(signed)
    session["_fresh"] = False  # a remembered sign-in is not a fresh password check
    return signed.user


def forget_previous_request() -> None:
    """Start the request with no signed-in user and no cookie decision yet. ``g`` lives as
    long as the app context, which a test (or a job) may keep across several requests."""
    for name in ("_login_user", "remember_cookie", "forget_remember"):
        g.pop(name, None)


def write_remember_cookie(response):
    """Set or delete the remember-me cookie as this request decided."""
    config = current_app.config
    if getattr(g, "remember_cookie", None):
        token, expires_at = g.remember_cookie
        expires_at = sessions.aware(expires_at)
        max_age = max(round((expires_at - clock.utc_now()).total_seconds()), 0)
        response.set_cookie(
            REMEMBER_COOKIE,
            token,
            max_age=max_age,
            secure=config.get("REMEMBER_COOKIE_SECURE", False),
            httponly=True,
            samesite=config.get("REMEMBER_COOKIE_SAMESITE", "Lax"),
        )
    elif getattr(g, "forget_remember", False):
        response.delete_cookie(
            REMEMBER_COOKIE,
            secure=config.get("REMEMBER_COOKIE_SECURE", False),
            httponly=True,
            samesite=config.get("REMEMBER_COOKIE_SAMESITE", "Lax"),
        )
    return response


def configure_login(manager: LoginManager) -> None:
    manager.login_view = "auth.login"
    manager.login_message = _l("Please log in to see this page.")
    manager.login_message_category = "info"
    manager.user_loader(sessions.session_user)
    manager.request_loader(lambda request: load_remembered(request.cookies))
