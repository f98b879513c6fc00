from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.auth import bp, throttle
from app.auth.accounts import user_by_email
from app.auth.forms import LoginForm
from app.auth.loader import (
    REMEMBER_COOKIE,
    forget_previous_request,
    sign_in,
    sign_out,
    write_remember_cookie,
)
from app.core import clock
from app.extensions import db

#: Flask-Login's former ``user_id|HMAC`` remember cookie: no longer honoured, deleted on sight.
LEGACY_REMEMBER_COOKIE = "remember_token"
#: Requests that never need the signed-in user (no sign-in lookup for them).
STATIC_ENDPOINTS = frozenset({"static", "bootstrap.static"})


def safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after login (no open redirects)."""
    if not target:
        return url_for("main.dashboard")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("main.dashboard")
    if "\\" in target:
        return url_for("main.dashboard")
    return target


@bp.before_app_request
def check_sign_in():
    """Look the request's sign-in up before any view runs (it may be ended, or a remember-me
    token may start a new one), and commit what that wrote before the view's own work."""
    forget_previous_request()
    if request.endpoint in STATIC_ENDPOINTS:
        return
    if "_user_id" not in session and REMEMBER_COOKIE not in request.cookies:
        return
    if not current_user.is_authenticated:
        session.pop("_user_id", None)  # an ended sign-in: the cookie forgets it
        session.pop("_fresh", None)
    db.session.commit()


@bp.after_app_request
def update_remember_cookie(response):
    if LEGACY_REMEMBER_COOKIE in request.cookies:
        response.delete_cookie(LEGACY_REMEMBER_COOKIE)
    return write_remember_cookie(response)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        refused = throttle.refusal(email, request.remote_addr)
        if refused is not None:
            form.email.errors.append(refused.message)
            page = render_template("auth/login.html", form=form)
            return page, 429, {"Retry-After": str(refused.retry_after)}
        user = user_by_email(email)
        if user is None or not user.check_password(form.password.data):
            throttle.record_failure(email, request.remote_addr)
            form.password.errors.append(_("Wrong e-mail or password."))
        elif not user.is_active:
            form.email.errors.append(_("This account is disabled."))
        else:
            throttle.record_success(email, request.remote_addr)
            sign_in(user, remember=bool(form.remember.data))
            user.last_login_at = clock.utc_now()
            db.session.commit()
            return redirect(safe_next(form.next.data))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    sign_out()
    db.session.commit()
    flash(_("You have logged out."), "info")
    return redirect(url_for("auth.login"))
