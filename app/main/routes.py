from __future__ import annotations

from flask import current_app, jsonify, redirect, render_template, request, session
from flask_login import current_user, login_required

from app.auth.routes import safe_next
from app.core import health as health_checks
from app.core.glossary import TERMS
from app.core.i18n import SUPPORTED
from app.core.jobs import QUEUE_NAME
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
    """For load balancers: 200 when the database (and Redis and the report queue, when
    configured) answer, else 503 naming the failed check. No login, no details of errors."""
    checks = {"database": health_checks.database()}
    redis_url = current_app.config.get("REDIS_URL")
    if redis_url:
        choice = current_app.config.get("JOB_RUNNER") or current_app.config.get("REPORT_RUNNER")
        uses_queue = choice in (None, "rq")
        queue = QUEUE_NAME if uses_queue else None
        checks.update(health_checks.redis_and_queue(redis_url, queue=queue))
    healthy = all(check["ok"] for check in checks.values())
    body = {"status": "ok" if healthy else "unavailable", "checks": checks}
    if not healthy:
        body["failed"] = sorted(name for name, check in checks.items() if not check["ok"])
    response = jsonify(body)
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/glossary")
@login_required
def glossary():
    """Plain-language explanations of the terms reports use, one anchor per term."""
    return render_template("main/glossary.html", terms=TERMS)
