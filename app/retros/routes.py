"""Routes of the retros area: daily retros with their brief, decisions, actions, adjustments,
the pilot timeline, minutes and "my actions"."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError

from app.auth import permissions
from app.auth.permissions import (
    get_action_or_404,
    get_retro_or_404,
    get_retro_pilot_or_404,
    require_login,
)
from app.core import clock
from app.core.errors import show_error
from app.core.formfields import OnceFormMixin
from app.core.labels import (
    ACTION_STATUS_COLOURS,
    ACTION_STATUS_LABELS,
    ADJUSTMENT_SCOPE_LABELS,
    METHOD_LABELS,
    RETRO_CATEGORY_LABELS,
    RETRO_FORMAT_LABELS,
    SITE_ATTRIBUTE_LABELS,
    metric_label,
    unit_label,
)
from app.extensions import db
from app.models import (
    ActionStatus,
    Adjustment,
    AdjustmentScope,
    Pilot,
    RetroFormat,
    RetroItem,
    Retrospective,
    User,
)
from app.pilots.observations import chart_marks
from app.retros import adjustments as adjustment_service
from app.retros import bp
from app.retros import meetings as retro_service
from app.retros import minutes as minutes_service
from app.retros.brief import daily_brief
from app.retros.forms import (
    ActionForm,
    AdjustmentForm,
    CloseActionForm,
    DetailsForm,
    ItemForm,
    OpenRetroForm,
    UpdateActionForm,
    VisibilityForm,
)
from app.retros.meetings import RetroError
from app.retros.timeline import pilot_timeline, timeline_chart_svg


@bp.context_processor
def labels() -> dict:
    return {
        "category_labels": RETRO_CATEGORY_LABELS,
        "action_status_labels": ACTION_STATUS_LABELS,
        "action_status_colours": ACTION_STATUS_COLOURS,
        "format_labels": RETRO_FORMAT_LABELS,
        "scope_labels": ADJUSTMENT_SCOPE_LABELS,
        "attribute_labels": SITE_ATTRIBUTE_LABELS,
        "describe_condition": adjustment_service.describe_condition,
        "can_edit_retros": permissions.can_edit_retros(current_user),
    }


# ----------------------------------------------------------------- loaders (404 / 403)


def _parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        abort(404)


def _user_or_none(user_id: int | None) -> User | None:
    return db.session.get(User, user_id) if user_id else None


# ----------------------------------------------------------------- pilot's retros


@bp.route("/pilot/<int:pilot_id>")
def index(pilot_id: int):
    pilot = get_retro_pilot_or_404(pilot_id)
    wanted = request.args.get("day")
    if wanted:  # the readers' "show the day" form
        try:
            day = date.fromisoformat(wanted)
        except ValueError:
            flash(_("That is not a date."), "warning")
        else:
            return redirect(url_for("retros.day", pilot_id=pilot.id, day=day.isoformat()))
    form = OpenRetroForm(data={"day": clock.today()})
    return _render_index(pilot, form)


def _render_index(pilot: Pilot, form: OpenRetroForm, status: int = 200):
    retros = retro_service.retros_of(pilot)
    counts = retro_service.decision_counts(pilot)
    return (
        render_template(
            "retros/index.html",
            pilot=pilot,
            retros=retros,
            counts=counts,
            form=form,
            open_actions=retro_service.carried_actions(pilot, clock.today(), include_new=True),
            adjustments=adjustment_service.adjustments_of(pilot),
            visibility_form=VisibilityForm(data={"visible": pilot.retros_visible_to_staff}),
            today=clock.today(),
        ),
        status,
    )


@bp.route("/pilot/<int:pilot_id>/visibility", methods=["POST"])
def staff_visibility(pilot_id: int):
    """The change lead decides whether staff of the pilot's sites may read its retros."""
    pilot = get_retro_pilot_or_404(pilot_id, for_edit=True)
    form = VisibilityForm()
    if form.validate_on_submit():
        retro_service.set_staff_visibility(pilot, bool(form.visible.data), by=current_user)
        db.session.commit()
        if pilot.retros_visible_to_staff:
            flash(_("Staff of the pilot's sites can now read its retros."), "success")
        else:
            flash(_("Retros are now hidden from staff."), "success")
    return redirect(url_for("retros.index", pilot_id=pilot.id))


@bp.route("/pilot/<int:pilot_id>/open", methods=["POST"])
def open_day(pilot_id: int):
    """Open the retro of a day: create it, or open the existing one on a second attempt."""
    pilot = get_retro_pilot_or_404(pilot_id, for_edit=True)
    form = OpenRetroForm()
    if not form.validate_on_submit():
        return _render_index(pilot, form)
    day = form.day.data
    try:
        retro_service.check_retro_date(pilot, day, clock.today())
    except RetroError as exc:
        show_error(exc, form, field="day")
        return _render_index(pilot, form)
    try:
        _retro_obj, created = retro_service.open_retro(
            pilot, day, by=current_user, retro_format=RetroFormat(form.retro_format.data)
        )
        db.session.commit()
    except IntegrityError:  # a colleague opened the same day a moment ago
        db.session.rollback()
        created = False
    if not created:
        flash(_("The retro of this day was already open; here it is."), "info")
    return redirect(url_for("retros.day", pilot_id=pilot.id, day=day.isoformat()))


@bp.route("/pilot/<int:pilot_id>/day/<day>")
def day(pilot_id: int, day: str):
    pilot = get_retro_pilot_or_404(pilot_id)
    the_day = _parse_day(day)
    return _render_day(pilot, the_day)


def _render_day(pilot: Pilot, the_day: date, **forms):
    retro = retro_service.get_retro(pilot, the_day)
    brief = daily_brief(pilot, the_day)
    context = {
        "pilot": pilot,
        "day": the_day,
        "retro": retro,
        "brief": brief,
        "day_number": pilot.day_number(the_day),
        "today": clock.today(),
    }
    editing = permissions.can_edit_retros(current_user)
    if retro is not None:
        adjustments, actions = retro_service.decisions_of(retro)
        context.update(
            adjustments=adjustments,
            actions=actions,
            previous=retro_service.previous_retro(retro),
            following=retro_service.next_retro(retro),
            columns=retro_service.categories(retro),
            chat_text=minutes_service.minutes_text(retro),
        )
        if editing:
            users = retro_service.assignable_users()
            context.update(
                details_form=forms.get("details_form") or _details_form(retro, users),
                item_form=forms.get("item_form") or _item_form(retro, brief),
                action_form=forms.get("action_form") or ActionForm(users=users),
            )
    elif editing:
        context["open_form"] = OpenRetroForm(data={"day": the_day})
    return render_template("retros/day.html", **context)


def _details_form(retro: Retrospective, users, formdata=None) -> DetailsForm:
    form = DetailsForm(formdata=formdata, users=users) if formdata else DetailsForm(users=users)
    if formdata is None:
        form.retro_format.data = retro.format.value
        form.facilitator_id.data = retro.facilitator_id or 0
        form.attendees.data = retro.attendees or ""
        form.summary.data = retro.summary or ""
    return form


def _item_form(retro: Retrospective, brief) -> ItemForm:
    # the data day's comments and the new strongly negative ones, each once
    seen: set[int] = set()
    comments = []
    for comment in [*brief.feedback.negative_comments, *brief.feedback.comments]:
        if comment.response_id not in seen:
            seen.add(comment.response_id)
            comments.append(comment)
    return ItemForm(
        category_choices=[
            (c, RETRO_CATEGORY_LABELS.get(c, c)) for c in retro_service.categories(retro)
        ],
        sites=retro_service.pilot_sites_by_id(
            retro.pilot, [a.site_id for a in retro.pilot.assignments]
        ),
        comments=comments,
    )


@bp.route("/<int:retro_id>/details", methods=["POST"])
def details(retro_id: int):
    retro = get_retro_or_404(retro_id, for_edit=True)
    users = retro_service.assignable_users()
    form = DetailsForm(users=users)
    return _save_on_day(
        retro,
        form,
        lambda: retro_service.update_details(
            retro,
            retro_format=RetroFormat(form.retro_format.data),
            facilitator=_user_or_none(form.facilitator_id.data),
            attendees=form.attendees.data,
            summary=form.summary.data,
        ),
        form_name="details_form",
        error_field="retro_format",
        done=_("Retro details saved."),
        anchor="details",
    )


@bp.route("/<int:retro_id>/items", methods=["POST"])
def add_item(retro_id: int):
    retro = get_retro_or_404(retro_id, for_edit=True)
    form = _item_form(retro, daily_brief(retro.pilot, retro.date))
    return _save_on_day(
        retro,
        form,
        lambda: retro_service.add_item(
            retro,
            form.category.data,
            form.text.data,
            site_ids=form.site_ids.data or [],
            response_ids=form.response_ids.data or [],
        ),
        form_name="item_form",
        error_field="text",
        done=_("Note added."),
        anchor="notes",
    )


@bp.route("/<int:retro_id>/items/<int:item_id>/delete", methods=["POST"])
def delete_item(retro_id: int, item_id: int):
    retro = get_retro_or_404(retro_id, for_edit=True)
    item = db.get_or_404(RetroItem, item_id)
    if item.retro_id != retro.id:
        abort(404)
    retro_service.delete_item(item)  # CSRFProtect has checked the token of the button's form
    db.session.commit()
    flash(_("Note deleted."), "success")
    return _back_to(retro, "notes")


@bp.route("/<int:retro_id>/actions", methods=["POST"])
def add_action(retro_id: int):
    retro = get_retro_or_404(retro_id, for_edit=True)
    form = ActionForm(users=retro_service.assignable_users())
    return _save_on_day(
        retro,
        form,
        lambda: retro_service.add_action(
            retro,
            form.title.data,
            owner=_user_or_none(form.owner_id.data),
            due_date=form.due_date.data,
            by=current_user,
        ),
        form_name="action_form",
        error_field="due_date",
        done=_("Action added."),
        anchor="decisions",
    )


def _save_on_day(
    retro: Retrospective,
    form,
    save: Callable[[], object],
    *,
    form_name: str,
    error_field: str,
    done: str,
    anchor: str,
):
    """When ``form`` validates, ``save`` and commit, flash ``done`` and go back to ``anchor``
    of the retro's day; else (or when the workflow refuses, its message on ``error_field``)
    show the day again with ``form`` as ``form_name``. A form that creates (``OnceFormMixin``)
    does so once however often it is sent."""
    creates = isinstance(form, OnceFormMixin)
    if form.validate_on_submit():
        if creates and (resent := form.resent()) is not None:
            return resent
        try:
            save()
        except RetroError as exc:
            show_error(exc, form, field=error_field)
        else:
            response = _back_to(retro, anchor)
            if creates:
                form.answered(response.location)
            db.session.commit()
            flash(done, "success")
            return response
    return _render_day(retro.pilot, retro.date, **{form_name: form})


def _back_to(retro: Retrospective, anchor: str):
    return redirect(
        url_for("retros.day", pilot_id=retro.pilot_id, day=retro.date.isoformat(), _anchor=anchor)
    )


# ----------------------------------------------------------------- actions


def _next_url(default: str) -> str:
    target = request.values.get("next") or ""
    if target.startswith("/") and not target.startswith("//"):
        return target
    return default


@bp.route("/actions/<int:action_id>", methods=["GET", "POST"])
def action(action_id: int):
    item = get_action_or_404(action_id)
    users = retro_service.assignable_users()
    form = UpdateActionForm(users=users)
    if not form.is_submitted():
        form.status.data = (
            item.status.value if not item.status.is_closed else ActionStatus.OPEN.value
        )
        form.owner_id.data = item.owner_id or 0
        form.due_date.data = item.due_date
    if form.validate_on_submit():
        owner = _user_or_none(form.owner_id.data)
        if not permissions.can_edit_retros(current_user) and owner is not item.owner:
            form.owner_id.errors = [_("Only a change lead can hand an action to someone else.")]
        else:
            retro_service.update_action(
                item,
                status=ActionStatus(form.status.data),
                owner=owner,
                due_date=form.due_date.data,
                by=current_user,
            )
            db.session.commit()
            flash(_("Action saved."), "success")
            return redirect(_next_url(url_for("retros.action", action_id=item.id)))
    return render_template(
        "retros/action.html",
        action=item,
        form=form,
        today=clock.today(),
        next_url=_next_url(""),
        can_see_pilot=permissions.can_view_retros(current_user, item.pilot),
    )


@bp.route("/actions/<int:action_id>/close", methods=["GET", "POST"])
def close_action(action_id: int):
    item = get_action_or_404(action_id)
    if item.status.is_closed:
        flash(_("This action is already closed."), "info")
        return redirect(url_for("retros.action", action_id=item.id))
    form = CloseActionForm()
    if form.validate_on_submit():
        retro_service.close_action(
            item,
            outcome=form.outcome.data,
            status=ActionStatus(form.status.data),
            on=clock.today(),
            by=current_user,
        )
        db.session.commit()
        flash(_("Action closed."), "success")
        return redirect(_next_url(url_for("retros.action", action_id=item.id)))
    return render_template(
        "retros/close_action.html", action=item, form=form, next_url=_next_url("")
    )


@bp.route("/my-actions")
@login_required
def my_actions():
    show_closed = request.args.get("closed") == "1"
    rows = retro_service.actions_of_user(current_user, clock.today(), include_closed=show_closed)
    return render_template(
        "retros/my_actions.html", rows=rows, show_closed=show_closed, today=clock.today()
    )


# ----------------------------------------------------------------- adjustments


@bp.route("/<int:retro_id>/adjustments/new", methods=["GET", "POST"])
def new_adjustment(retro_id: int):
    retro = get_retro_or_404(retro_id, for_edit=True)
    sites = adjustment_service.pilot_arm_sites(retro.pilot)
    form = AdjustmentForm(sites=sites)
    if not form.is_submitted():
        form.effective_date.data = adjustment_service.default_effective_date(retro)
    if form.validate_on_submit():
        if (resent := form.resent()) is not None:
            return resent
        try:
            adjustment = adjustment_service.create_adjustment(
                retro,
                title=form.title.data,
                description=form.description.data,
                effective_date=form.effective_date.data,
                scope=AdjustmentScope(form.scope.data),
                site_ids=form.site_ids.data or [],
                condition=form.condition,
                is_reusable_practice=form.is_reusable_practice.data,
                by=current_user,
            )
        except RetroError as exc:
            show_error(exc, form, field="effective_date")
        else:
            target = url_for("retros.adjustment", adjustment_id=adjustment.id)
            form.answered(target)
            db.session.commit()
            if not adjustment.sites:
                flash(_("Recorded, but no pilot site matches the condition today."), "warning")
            else:
                flash(_("Adjustment recorded."), "success")
            return redirect(target)
    preview = None
    if form.condition:
        preview = [s.code for s in sites if adjustment_service.condition_matches(form.condition, s)]
    return render_template(
        "retros/adjustment_form.html", retro=retro, form=form, sites=sites, preview=preview
    )


@bp.route("/adjustments/<int:adjustment_id>")
def adjustment(adjustment_id: int):
    require_login()
    item = db.get_or_404(Adjustment, adjustment_id)
    pilot = get_retro_pilot_or_404(item.pilot_id)
    comparison = adjustment_service.before_after(item)
    chart = None
    series = adjustment_service.affected_series(item)
    if series:
        import pandas as pd

        from app.core.charts import daily_series_svg

        primary = pilot.primary_metric
        chart = daily_series_svg(
            pd.DataFrame(series),
            start=None,
            adjustments=[(item.effective_date, item.title)],
            title=_(
                "%(metric)s at the affected pilot sites and the control sites",
                metric=metric_label(primary),
            ),
            unit=unit_label(primary.unit),
            pilot_label=_("Affected pilot sites"),
        )
    return render_template(
        "retros/adjustment.html",
        method_labels=METHOD_LABELS,
        adjustment=item,
        pilot=pilot,
        comparison=comparison,
        chart=chart,
    )


# ----------------------------------------------------------------- timeline and minutes


@bp.route("/pilot/<int:pilot_id>/timeline")
def timeline(pilot_id: int):
    pilot = get_retro_pilot_or_404(pilot_id)
    the_timeline = pilot_timeline(pilot, clock.today())
    marks = chart_marks(pilot)
    chart = timeline_chart_svg(
        pilot,
        the_timeline,
        marks,
        title=_(
            "%(metric)s: pilot and control sites",
            metric=metric_label(pilot.primary_metric),
        ),
    )
    return render_template(
        "retros/timeline.html",
        pilot=pilot,
        timeline=the_timeline,
        chart=chart,
        show_quiet=request.args.get("all") == "1",
    )


MINUTES_FORMATS = {
    "md": "text/markdown; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
    "pdf": "application/pdf",
}


@bp.route("/<int:retro_id>/minutes.<fmt>")
def minutes(retro_id: int, fmt: str):
    retro = get_retro_or_404(retro_id)
    if fmt not in MINUTES_FORMATS:
        abort(404)
    if fmt == "md":
        body: str | bytes = minutes_service.minutes_markdown(retro)
    elif fmt == "txt":
        body = minutes_service.minutes_text(retro)
    else:
        body = minutes_service.minutes_pdf(retro)
    filename = f"retro-{retro.pilot_id}-{retro.date.isoformat()}.{fmt}"
    disposition = "inline" if fmt == "txt" else "attachment"
    return Response(
        body,
        mimetype=MINUTES_FORMATS[fmt].split(";")[0],
        headers={
            "Content-Type": MINUTES_FORMATS[fmt],
            "Content-Disposition": f'{disposition}; filename="{filename}"',
        },
    )
