from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from app.auth import bp
from app.auth.accounts import user_by_email
from app.auth.forms import LoginForm
from app.core import clock
from app.extensions import db, limiter


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


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        user = user_by_email(email)
        if user is None or not user.check_password(form.password.data):
            form.password.errors.append(_("Wrong e-mail or password."))
        elif not user.is_active:
            form.email.errors.append(_("This account is disabled."))
        else:
            login_user(user, remember=form.remember.data)
            user.last_login_at = clock.utc_now()
            db.session.commit()
            return redirect(safe_next(form.next.data))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    flash(_("You have logged out."), "info")
    return redirect(url_for("auth.login"))
