"""Routes of the integrations area (API tokens for point-of-sale and operations systems)."""

from __future__ import annotations

from flask import flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.api.tokens import create_token, list_tokens, revoke_token
from app.auth.permissions import PILOT_EDITORS, require_role
from app.extensions import db
from app.integrations import bp
from app.integrations.forms import RevokeForm, TokenForm
from app.models import ApiToken


@bp.route("/tokens", methods=["GET", "POST"])
@require_role(*PILOT_EDITORS)
def tokens():
    form = TokenForm()
    if form.validate_on_submit():
        if (resent := form.resent()) is not None:
            return resent
        token, raw = create_token(form.name.data, by=current_user)
        form.answered(url_for("integrations.tokens"))
        db.session.commit()
        # the secret is shown once, in this response only: never in a redirect or a cookie
        response = make_response(
            render_template(
                "integrations/tokens.html",
                form=TokenForm(formdata=None),
                revoke_form=RevokeForm(),
                tokens=list_tokens(),
                new_token=token,
                raw=raw,
            )
        )
        response.headers["Cache-Control"] = "no-store"
        return response
    return render_template(
        "integrations/tokens.html",
        form=form,
        revoke_form=RevokeForm(),
        tokens=list_tokens(),
        new_token=None,
        raw=None,
    )


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@require_role(*PILOT_EDITORS)
def revoke(token_id: int):
    token = db.get_or_404(ApiToken, token_id)
    form = RevokeForm()
    if form.validate_on_submit():
        revoke_token(token, by=current_user)
        db.session.commit()
        flash(
            _("Token %(name)s revoked; calls with it are refused from now on.", name=token.name),
            "success",
        )
    return redirect(url_for("integrations.tokens"))
