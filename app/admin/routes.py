from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.admin import bp
from app.admin.forms import UserForm
from app.auth.accounts import all_users, apply_user_form, sign_out_everywhere
from app.auth.permissions import require_role
from app.auth.sessions import active_session_count
from app.core.labels import ROLE_LABELS
from app.extensions import db
from app.models import Role, User


@bp.route("/users")
@require_role(Role.ADMIN)
def users():
    rows = all_users()
    return render_template("admin/users.html", users=rows, role_labels=ROLE_LABELS)


@bp.route("/users/new", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def create_user():
    form = UserForm()
    # claimed before validation, which would refuse the resent e-mail as taken by the first
    if form.is_submitted() and (resent := form.resent()) is not None:
        return resent
    if form.validate_on_submit():
        user = apply_user_form(None, form.data, by=current_user)
        form.answered(url_for("admin.users"))
        db.session.commit()
        flash(_("Account %(email)s created.", email=user.email), "success")
        return redirect(url_for("admin.users"))
    return render_template("admin/user_form.html", form=form, editing=None)


@bp.route("/users/<int:user_id>/edit", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def edit_user(user_id: int):
    user = db.get_or_404(User, user_id)
    form = UserForm(obj=user, editing=user)
    if not form.is_submitted():
        form.role.data = user.role.value
        form.site_id.data = user.site_id or 0
        form.locale.data = user.locale or ""
        form.is_active.data = user.is_active_account
    if form.validate_on_submit():
        if user.id == current_user.id and (
            form.role.data != Role.ADMIN.value or not form.is_active.data
        ):
            form.role.errors.append(_("You cannot remove your own admin rights."))
        else:
            apply_user_form(user, form.data, by=current_user)
            db.session.commit()
            flash(_("Account %(email)s saved.", email=user.email), "success")
            return redirect(url_for("admin.users"))
    return render_template(
        "admin/user_form.html", form=form, editing=user, sessions=active_session_count(user)
    )


@bp.route("/users/<int:user_id>/sign-out", methods=["POST"])
@require_role(Role.ADMIN)
def sign_out_user(user_id: int):
    """End every sign-in of the account: its sessions and remember-me tokens, on every
    device (a lost phone, a shared computer, a departure)."""
    user = db.get_or_404(User, user_id)
    ended = sign_out_everywhere(user, by=current_user)
    db.session.commit()
    flash(
        _(
            "%(email)s is signed out everywhere (%(count)d sign-ins ended).",
            email=user.email,
            count=ended,
        ),
        "success",
    )
    if user.id == current_user.id:
        return redirect(url_for("auth.login"))
    return redirect(url_for("admin.edit_user", user_id=user.id))
