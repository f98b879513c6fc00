from __future__ import annotations

from flask import redirect, render_template, request, session
from flask_login import current_user, login_required

from app.auth.routes import safe_next
from app.core.i18n import SUPPORTED
from app.extensions import db
from app.main import bp
from app.pilots.overview import pilot_overview


@bp.route("/")
@login_required
def dashboard():
    show_archived = request.args.get("archived") == "1"
    rows = pilot_overview(current_user, archived=show_archived)
    return render_template("main/dashboard.html", rows=rows, show_archived=show_archived)


@bp.route("/lang/<code>", methods=["GET", "POST"])
def set_language(code: str):
    """Switch the language. A link (GET) switches this browser only; the account's saved
    language changes only by a POST (the nav's form, with its CSRF token), never by a link
    that any page or crawler could make the browser follow."""
    if code in SUPPORTED:
        session["lang"] = code
        if request.method == "POST" and current_user.is_authenticated:
            current_user.locale = code
            db.session.commit()
    return redirect(safe_next(request.args.get("next")))


@bp.route("/healthz")
def health():
    return {"status": "ok"}
