"""Routes of the rollout area: generate a plan, edit it with reasons, follow its gates."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from analysis.planning import PlanSettings, ReadinessWeights
from app.auth.permissions import (
    ALL_SEEING,
    PILOT_EDITORS,
    can_sign_off_gate,
    can_view_plan_site,
    get_pilot_or_404,
    get_plan_or_404,
    require_login,
    require_role,
)
from app.core import clock, urls
from app.core.errors import show_error
from app.core.formfields import choices
from app.core.labels import (
    GATE_OUTCOME_COLOURS,
    GATE_OUTCOME_LABELS,
    GATE_OUTCOME_WORDS,
    PLAN_STATUS_LABELS,
    READINESS_TIER_WORDS,
    ROLLOUT_HISTORY_LABELS,
    SIGNOFF_ROLE_LABELS,
    SITE_ATTRIBUTE_LABELS,
    WAVE_STATUS_COLOURS,
    WAVE_STATUS_LABELS,
    by_value,
    metric_unit_label,
)
from app.core.paging import page_of
from app.extensions import db
from app.feedback import qr
from app.models import PlanStatus, RolloutPlan, Site, SizeTier, WaveStatus
from app.rollout import bp, exports, gates, wave_feedback
from app.rollout import plans as service
from app.rollout.charts import timeline_svg
from app.rollout.forms import (
    CancelForm,
    ChecklistForm,
    DecisionForm,
    EvaluateForm,
    GeneratePlanForm,
    MentorForm,
    MoveSiteForm,
    PlanStepForm,
    SignoffForm,
    WaveDatesForm,
)
from app.rollout.plans import RolloutError
from app.rollout.reasons import change_text, estimator_note, reason_text


@bp.app_template_filter("rollout_reason")
def _reason_filter(reason) -> str:
    return reason_text(reason)


@bp.app_template_filter("rollout_change")
def _change_filter(event) -> str:
    return change_text(event.before, event.after)


@bp.app_template_filter("rollout_note")
def _note_filter(note) -> str:
    return estimator_note(note)


@bp.app_template_filter("rollout_unit")
def _unit_filter(spec) -> str:
    return metric_unit_label(spec)


@bp.app_template_filter("rollout_metric")
def _metric_filter(spec) -> str:
    return service.metric_name(spec)


@bp.context_processor
def labels() -> dict:
    return {
        "wave_status_labels": WAVE_STATUS_LABELS,
        "wave_status_colours": WAVE_STATUS_COLOURS,
        "plan_status_labels": PLAN_STATUS_LABELS,
        "gate_labels": GATE_OUTCOME_LABELS,
        "gate_colours": GATE_OUTCOME_COLOURS,
        "tier_labels": READINESS_TIER_WORDS,
        "history_labels": ROLLOUT_HISTORY_LABELS,
        "signoff_role_labels": SIGNOFF_ROLE_LABELS,
        "predict_by_labels": SITE_ATTRIBUTE_LABELS,
        "can_edit_rollout": current_user.is_authenticated and current_user.role in PILOT_EDITORS,
    }


def _wave_or_404(plan: RolloutPlan, number: int):
    wave = service.wave_of_number(plan, number)
    if wave is None:
        abort(404)
    return wave


def _plan_site_or_404(plan: RolloutPlan, site_id: int):
    ws = service.get_plan_site(plan, site_id)
    if ws is None:
        abort(404)
    return ws


def _flash_form_errors(form) -> None:
    for field in form:
        for error in field.errors:
            flash(f"{field.label.text}: {error}", "danger")


# --------------------------------------------------------------------------------------------
# Plans of a pilot, generation


@bp.route("/pilots/<int:pilot_id>")
@require_role(*ALL_SEEING)
def index(pilot_id: int):
    pilot = get_pilot_or_404(pilot_id)
    return render_template(
        "rollout/index.html",
        pilot=pilot,
        plans=service.plans_of(pilot),
        can_plan=service.can_plan(pilot),
    )


def _fill_generate_defaults(form: GeneratePlanForm, pilot, scope) -> None:
    if request.method == "GET":
        form.scope.data = [s.id for s in scope]
        form.start_date.data = clock.today()
        weights = ReadinessWeights()
        form.weight_management.data = weights.management
        form.weight_digital.data = weights.digital
        form.weight_capability.data = weights.capability
        form.weight_attitude.data = weights.attitude
        form.margin.data = service.default_margin(pilot)
        form.name.data = _("Rollout of %(pilot)s", pilot=pilot.name)


@bp.route("/pilots/<int:pilot_id>/new", methods=["GET", "POST"])
@require_role(*PILOT_EDITORS)
def new(pilot_id: int):
    pilot = get_pilot_or_404(pilot_id, for_edit=True)
    candidates = service.default_scope(pilot)
    form = GeneratePlanForm()
    tiers = by_value(SizeTier)
    form.scope.choices = choices(
        (s.id, f"{s.code} · {s.name} ({s.region}, {tiers.get(s.size_tier.value)})")
        for s in candidates
    )
    _fill_generate_defaults(form, pilot, candidates)
    if not service.can_plan(pilot):
        if request.method == "POST":
            flash(_("A rollout plan needs the pilot's decision to be “roll out”."), "warning")
            return redirect(url_for("rollout.index", pilot_id=pilot.id))
        return render_template("rollout/new.html", pilot=pilot, form=form, blocked=True)
    if form.validate_on_submit():
        if (resent := form.resent()) is not None:
            return resent
        chosen = set(form.scope.data or [])
        scope = [s for s in candidates if s.id in chosen]
        try:
            settings = PlanSettings(
                start=form.start_date.data,
                sites_per_week=float(form.sites_per_week.data),
                wave_count=form.wave_count.data if form.sizing.data != "size" else None,
                wave_size=form.wave_size.data if form.sizing.data == "size" else None,
                keep_regions=bool(form.keep_regions.data),
                weights=ReadinessWeights(
                    form.weight_management.data,
                    form.weight_digital.data,
                    form.weight_capability.data,
                    form.weight_attitude.data,
                ),
                randomize=bool(form.randomize.data),
                holdback_share=(form.holdback_percent.data or 0) / 100,
                seed=int(form.seed.data),
                min_days_live=int(form.min_days_live.data),
                mentor_limit=int(form.mentor_limit.data),
            )
            plan = service.generate_plan(
                pilot,
                by=current_user,
                settings=settings,
                scope=scope,
                name=(form.name.data or "").strip() or None,
                predict_by=form.predict_by.data,
                gate=service.GateSettings(
                    min_days_live=int(form.min_days_live.data),
                    margin=form.margin.data,
                    checklist_min=(form.checklist_percent.data or 0) / 100,
                    signoff_role=form.signoff_role.data,
                ),
            )
        except RolloutError as exc:
            show_error(exc, form)
        except ValueError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
        else:
            target = url_for("rollout.plan", plan_id=plan.id)
            form.answered(target)
            db.session.commit()
            flash(_("Plan proposed. Review the waves and the reasons per site."), "success")
            return redirect(target)
    return render_template("rollout/new.html", pilot=pilot, form=form, blocked=False)


# --------------------------------------------------------------------------------------------
# The plan


#: Rows of the plan page's site table per page (the printable plan shows every site).
SITES_PER_PAGE = 100


def _plan_context(plan: RolloutPlan, page: int | None = None) -> dict:
    """What the plan page shows; its site table is cut into pages of
    :data:`SITES_PER_PAGE` (wave by wave, then the holdback) unless ``page`` is None."""
    # One query for the plan's rows, their JSON read only for the page's rows (below).
    service.load_plan_sites(plan, details=page is None)
    waves, sites = service.wave_summaries(plan)  # the sites in one query, not one per row
    holdback = sorted((ws for ws in plan.sites if ws.is_holdback), key=lambda ws: ws.site.code)
    site_rows = [(ws, s["wave"].number) for s in waves for ws in s["sites"]]
    site_rows += [(ws, None) for ws in holdback]
    shown = page_of(site_rows, page, SITES_PER_PAGE if page is not None else len(site_rows) or 1)
    service.load_site_details(ws for ws, _number in shown.items)
    mentors = {p.mentee_site_id: p for p in plan.mentor_pairs}
    capacity = service.capacity_use(plan)
    targets = choices(
        [
            (str(w.number), _("Wave %(n)s", n=w.number))
            for w in plan.waves
            if w.status is WaveStatus.PLANNED
        ]
        + [("holdback", _("Holdback"))]
    )
    return {
        "plan": plan,
        "pilot": plan.pilot,
        "waves": waves,
        "holdback": holdback,
        "mentors": mentors,
        "mentor_label": service._mentor_label,
        "capacity": capacity,
        "warnings": service.plan_warnings(plan, capacity)
        + list((plan.settings or {}).get("warnings") or []),
        "prediction": service.plan_prediction(plan),
        "prediction_settings": (plan.settings or {}).get("prediction") or {},
        "planner": (plan.settings or {}).get("planner") or {},
        "move_targets": targets,
        "mentor_choices": choices(service.mentor_choices(plan)),
        "chart": timeline_svg(plan, today=clock.today(), summaries=waves, capacity=capacity),
        "cancel_form": CancelForm(),
        "history": service.plan_history(plan),
        "step": service.next_step(plan),
        "today": clock.today(),
        "site_rows": shown.items,
        "site_page": shown.page,
        "site_pages": shown.pages,
        "loaded_sites": sites,  # held while the page renders (the session holds them weakly)
    }


@bp.route("/<int:plan_id>")
def plan(plan_id: int):
    plan = get_plan_or_404(plan_id)
    page = request.args.get("page", 1, type=int)
    return render_template("rollout/plan.html", **_plan_context(plan, page=page))


@bp.route("/<int:plan_id>/print")
def print_view(plan_id: int):
    plan = get_plan_or_404(plan_id)
    return render_template("rollout/print.html", **_plan_context(plan))


@bp.route("/<int:plan_id>/export.<fmt>")
def export(plan_id: int, fmt: str):
    plan = get_plan_or_404(plan_id)
    stem = f"rollout-plan-{plan.id}"
    if fmt == "csv":
        body, mime = exports.to_csv(plan), "text/csv; charset=utf-8"
    elif fmt == "xlsx":
        body = exports.to_xlsx(plan)
        mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    elif fmt == "ics":
        body, mime = (
            exports.to_ics(plan, host=urls.public_host(request.host or "rollwise")),
            "text/calendar",
        )
    else:
        abort(404)
    return Response(
        body,
        mimetype=mime,
        headers={"Content-Disposition": f'attachment; filename="{stem}.{fmt}"'},
    )


@contextmanager
def _committing(message: str | None = None) -> Iterator[None]:
    """Run one service call: commit and flash ``message`` when it succeeds; roll back and
    flash the rule it broke when it raises ``RolloutError`` (nothing half-saved)."""
    try:
        yield
    except RolloutError as exc:
        show_error(exc)
    else:
        db.session.commit()
        if message:
            flash(message, "success")


@bp.route("/<int:plan_id>/cancel", methods=["POST"])
@require_role(*PILOT_EDITORS)
def cancel(plan_id: int):
    plan = get_plan_or_404(plan_id, for_edit=True)
    form = CancelForm()
    if form.validate_on_submit():
        with _committing(_("Plan cancelled.")):
            service.cancel_plan(plan, reason=form.reason.data, by=current_user)
    else:
        _flash_form_errors(form)
    return redirect(url_for("rollout.plan", plan_id=plan.id))


@bp.route("/<int:plan_id>/activate", methods=["POST"])
@require_role(*PILOT_EDITORS)
def activate(plan_id: int):
    """Next step of a draft plan: make it the plan being followed."""
    plan = get_plan_or_404(plan_id, for_edit=True)
    form = PlanStepForm()
    if form.validate_on_submit():
        with _committing(_("The plan is active. Start wave 1 when its sites are ready.")):
            service.activate_plan(plan, by=current_user)
    else:
        _flash_form_errors(form)
    return redirect(url_for("rollout.plan", plan_id=plan.id) + "#next-step")


@bp.route("/<int:plan_id>/complete", methods=["POST"])
@require_role(*PILOT_EDITORS)
def complete(plan_id: int):
    """Last step: sign the rollout off once every wave has finished."""
    plan = get_plan_or_404(plan_id, for_edit=True)
    form = PlanStepForm()
    if form.validate_on_submit():
        with _committing(_("The rollout is signed off.")):
            service.complete_plan(plan, by=current_user, note=form.note.data)
    else:
        _flash_form_errors(form)
    return redirect(url_for("rollout.plan", plan_id=plan.id) + "#next-step")


# --------------------------------------------------------------------------------------------
# Sites


@bp.route("/<int:plan_id>/sites/<int:site_id>")
def site_card(plan_id: int, site_id: int):
    require_login()
    plan = db.get_or_404(RolloutPlan, plan_id)
    site = db.get_or_404(Site, site_id)
    if not can_view_plan_site(current_user, site):
        abort(403)
    ws = _plan_site_or_404(plan, site.id)
    pair = service.mentor_of(plan, site.id)
    editable = current_user.role in PILOT_EDITORS and plan.status not in (
        PlanStatus.DONE,
        PlanStatus.CANCELLED,
    )
    move_form = MoveSiteForm()
    move_form.target.choices = _plan_context_targets(plan)
    mentor_form = MentorForm()
    mentor_form.mentor.choices = choices(service.mentor_choices(plan))
    mentor_form.mentor.data = _mentor_value(pair)
    return render_template(
        "rollout/site.html",
        plan=plan,
        ws=ws,
        site=site,
        pair=pair,
        mentor_label=service._mentor_label(pair),
        editable=editable,
        move_form=move_form,
        mentor_form=mentor_form,
        checklist_form=ChecklistForm(),
        wave_prediction=service.wave_prediction(plan, [ws]) if ws.wave else None,
    )


def _plan_context_targets(plan: RolloutPlan):
    return choices(
        [
            (str(w.number), _("Wave %(n)s", n=w.number))
            for w in plan.waves
            if w.status is WaveStatus.PLANNED
        ]
        + [("holdback", _("Holdback"))]
    )


def _mentor_value(pair) -> str:
    if pair is None:
        return ""
    if pair.mentor_site_id:
        return f"site:{pair.mentor_site_id}"
    if pair.mentor_user_id:
        return f"user:{pair.mentor_user_id}"
    return ""


@bp.route("/my-site")
def my_site():
    require_login()
    if current_user.site_id is None:
        return render_template("rollout/my_site.html", found=None)
    found = service.staff_card_plan(current_user.site_id)
    if found is None:
        return render_template("rollout/my_site.html", found=None)
    plan, _ws = found
    return redirect(url_for("rollout.site_card", plan_id=plan.id, site_id=current_user.site_id))


@bp.route("/<int:plan_id>/sites/<int:site_id>/move", methods=["POST"])
@require_role(*PILOT_EDITORS)
def move_site(plan_id: int, site_id: int):
    plan = get_plan_or_404(plan_id, for_edit=True)
    ws = _plan_site_or_404(plan, site_id)
    form = MoveSiteForm()
    form.target.choices = _plan_context_targets(plan)
    back = request.form.get("next") == "plan"
    if form.validate_on_submit():
        target = None
        if form.target.data != "holdback":
            target = _wave_or_404(plan, int(form.target.data))
        moved = _("%(site)s moved. Capacity and predicted effect are updated.", site=ws.site.code)
        with _committing(moved):
            service.move_site(plan, ws, target, reason=form.reason.data, by=current_user)
    else:
        _flash_form_errors(form)
    if back:
        return redirect(url_for("rollout.plan", plan_id=plan.id) + "#sites")
    return redirect(url_for("rollout.site_card", plan_id=plan.id, site_id=site_id))


@bp.route("/<int:plan_id>/sites/<int:site_id>/mentor", methods=["POST"])
@require_role(*PILOT_EDITORS)
def swap_mentor(plan_id: int, site_id: int):
    plan = get_plan_or_404(plan_id, for_edit=True)
    ws = _plan_site_or_404(plan, site_id)
    form = MentorForm()
    form.mentor.choices = choices(service.mentor_choices(plan))
    if form.validate_on_submit():
        with _committing(_("Mentor saved.")):
            service.swap_mentor(
                plan, ws.site, form.mentor.data or "", reason=form.reason.data, by=current_user
            )
    else:
        _flash_form_errors(form)
    return redirect(url_for("rollout.site_card", plan_id=plan.id, site_id=site_id))


@bp.route("/<int:plan_id>/sites/<int:site_id>/checklist", methods=["POST"])
@require_role(*PILOT_EDITORS)
def checklist(plan_id: int, site_id: int):
    plan = get_plan_or_404(plan_id, for_edit=True)
    ws = _plan_site_or_404(plan, site_id)
    form = ChecklistForm()
    if form.validate_on_submit():
        with _committing():
            service.set_checklist_item(
                plan, ws, form.key.data, form.done.data == "1", by=current_user
            )
    else:
        flash(_("The checklist could not be updated."), "danger")
    return redirect(url_for("rollout.site_card", plan_id=plan.id, site_id=site_id) + "#checklist")


# --------------------------------------------------------------------------------------------
# Waves and gates


@bp.route("/<int:plan_id>/waves/<int:number>")
def wave(plan_id: int, number: int):
    plan = get_plan_or_404(plan_id)
    wave = _wave_or_404(plan, number)
    dates_form = WaveDatesForm(formdata=None, start_date=wave.start_date, end_date=wave.end_date)
    return render_template(
        "rollout/wave.html",
        plan=plan,
        wave=wave,
        summary=service.wave_summary(plan, wave),
        dates_form=dates_form,
        evaluate_form=EvaluateForm(),
        decision_form=_decision_form(wave),
        signoff_form=SignoffForm(),
        can_sign_off=can_sign_off_gate(current_user, wave),
        mentor_label=service._mentor_label,
        mentors={p.mentee_site_id: p for p in plan.mentor_pairs},
        **_wave_feedback_context(plan, wave),
    )


def _wave_feedback_context(plan: RolloutPlan, wave) -> dict:
    """The wave's feedback links and what its sites said (once the wave has started)."""
    started = wave.status in service.STARTED_WAVE_STATUSES
    return {
        "feedback_started": started,
        "feedback": wave_feedback.remembered_wave_feedback(plan, wave) if started else None,
        "links": wave_feedback.wave_links(plan, wave) if started else {},
    }


@bp.route("/<int:plan_id>/waves/<int:number>/qr-sheets")
@require_role(*PILOT_EDITORS)
def wave_sheets(plan_id: int, number: int):
    """Printable A4 sheets: every wave site's customer and staff QR codes."""
    plan = get_plan_or_404(plan_id, for_edit=True)
    wave = _wave_or_404(plan, number)
    links = wave_feedback.wave_links(plan, wave)
    sheets = []
    for ws in wave_feedback.wave_members(plan, wave):
        for audience, link in sorted(
            links.get(ws.site_id, {}).items(), key=lambda item: item[0].value
        ):
            url = urls.public_url("feedback.public_form", token=link.token)
            sheets.append(
                {
                    "site": ws.site,
                    "audience": audience,
                    "url": url,
                    "svg": qr.qr_svg_inline(url, scale=10),
                }
            )
    if not sheets:
        flash(_("The wave's sites get their QR codes when the wave starts."), "info")
        return redirect(_wave_url(plan, wave) + "#feedback")
    return render_template("rollout/wave_sheets.html", plan=plan, wave=wave, sheets=sheets)


ACTIONS_BY_STATUS = {
    WaveStatus.PLANNED: ("start",),
    WaveStatus.LIVE: ("go", "hold", "stop"),
    WaveStatus.HELD: ("resume", "stop"),
    WaveStatus.PASSED: (),
    WaveStatus.FAILED: (),
}


def _decision_form(wave, **kwargs) -> DecisionForm:
    """The decision form offering only the steps open to the wave's status."""
    form = DecisionForm(**kwargs)
    allowed = ACTIONS_BY_STATUS[wave.status]
    form.action.choices = [c for c in form.action.choices if c.value in allowed]
    return form


def _wave_url(plan, wave) -> str:
    return url_for("rollout.wave", plan_id=plan.id, number=wave.number)


@bp.route("/<int:plan_id>/waves/<int:number>/dates", methods=["POST"])
@require_role(*PILOT_EDITORS)
def wave_dates(plan_id: int, number: int):
    plan = get_plan_or_404(plan_id, for_edit=True)
    wave = _wave_or_404(plan, number)
    form = WaveDatesForm()
    if form.validate_on_submit():
        try:
            service.change_wave_dates(
                plan,
                wave,
                form.start_date.data,
                form.end_date.data,
                reason=form.reason.data,
                by=current_user,
            )
        except RolloutError as exc:
            show_error(exc, form)
        else:
            db.session.commit()
            flash(_("Wave dates changed."), "success")
            return redirect(_wave_url(plan, wave))
    return render_template(
        "rollout/wave.html",
        plan=plan,
        wave=wave,
        summary=service.wave_summary(plan, wave),
        dates_form=form,
        evaluate_form=EvaluateForm(formdata=None),
        decision_form=_decision_form(wave, formdata=None),
        signoff_form=SignoffForm(formdata=None),
        can_sign_off=can_sign_off_gate(current_user, wave),
        mentor_label=service._mentor_label,
        mentors={p.mentee_site_id: p for p in plan.mentor_pairs},
        **_wave_feedback_context(plan, wave),
    )


@bp.route("/<int:plan_id>/waves/<int:number>/evaluate", methods=["POST"])
@require_role(*PILOT_EDITORS)
def evaluate(plan_id: int, number: int):
    plan = get_plan_or_404(plan_id, for_edit=True)
    wave = _wave_or_404(plan, number)
    form = EvaluateForm()
    if form.validate_on_submit():
        try:
            result = gates.evaluate_gate(plan, wave, by=current_user, as_of=form.as_of.data)
        except RolloutError as exc:
            show_error(exc)
        else:
            db.session.commit()
            flash(_("Gate evaluated: %(outcome)s.", outcome=_gate_label(result["outcome"])), "info")
    else:
        _flash_form_errors(form)
    return redirect(_wave_url(plan, wave) + "#gate")


def _gate_label(outcome: str) -> str:
    return str(GATE_OUTCOME_WORDS.get(outcome, outcome))


@bp.route("/<int:plan_id>/waves/<int:number>/decision", methods=["POST"])
@require_role(*PILOT_EDITORS)
def decision(plan_id: int, number: int):
    plan = get_plan_or_404(plan_id, for_edit=True)
    wave = _wave_or_404(plan, number)
    form = DecisionForm()
    if form.validate_on_submit():
        with _committing(_("Decision recorded.")):
            gates.decide(plan, wave, form.action.data, reason=form.reason.data, by=current_user)
    else:
        _flash_form_errors(form)
    return redirect(_wave_url(plan, wave))


@bp.route("/<int:plan_id>/waves/<int:number>/signoff", methods=["POST"])
@require_role(*ALL_SEEING)
def signoff(plan_id: int, number: int):
    plan = get_plan_or_404(plan_id)
    wave = _wave_or_404(plan, number)
    form = SignoffForm()
    if form.validate_on_submit():
        with _committing(_("Gate signed off.")):
            gates.sign_off(plan, wave, by=current_user, note=form.note.data)
    else:
        _flash_form_errors(form)
    return redirect(_wave_url(plan, wave) + "#gate")
