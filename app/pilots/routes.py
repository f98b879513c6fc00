"""Routes of the pilots area: the design wizard, pre-registration, the dashboard, data intake."""

from __future__ import annotations

import math

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.auth.permissions import (
    ALL_SEEING,
    PILOT_EDITORS,
    can_archive_pilot,
    can_delete_pilot,
    can_edit_pilot,
    can_read_job,
    can_see_pilot_design,
    can_view_retros,
    get_job_or_none,
    get_pilot_or_404,
    require_role,
    visible_site_ids,
)
from app.core import clock, import_pages
from app.core import jobs as core_jobs
from app.core.charts import daily_series_svg
from app.core.errors import show_error
from app.core.formfields import choices
from app.core.labels import (
    ASSIGNMENT_METHOD_LABELS,
    AUDIT_ACTION_LABELS,
    METRIC_ROLE_LABELS,
    YES_NO_LABELS,
    metric_label,
    recorded_value_label,
    unit_label,
)
from app.extensions import db
from app.models import Arm, Direction, JobStatus, Metric, MetricRole, Pilot, Site
from app.pilots import bp, design_check, power_jobs, proposal_jobs
from app.pilots import lifecycle as svc
from app.pilots import observations as obs
from app.pilots import proposal as pilot_design
from app.pilots.forms import (
    AddSiteForm,
    ArchiveForm,
    DatesForm,
    DeletePilotForm,
    DescribeForm,
    FixForm,
    MetricsForm,
    NewMetricForm,
    ProposeForm,
    RemoveSiteForm,
    StartForm,
    SwapForm,
)
from app.pilots.reasons import site_reason_text
from app.sites.forms import UploadForm
from app.sites.observation_import import ObservationImport
from app.sites.registry import active_sites


@bp.app_template_filter("site_reason")
def _site_reason(reason) -> str:
    return site_reason_text(reason)


# ---------------------------------------------------------------- wizard


@bp.route("/new", methods=["GET", "POST"])
@require_role(*PILOT_EDITORS)
def create():
    form = DescribeForm()
    if not form.is_submitted():
        form.owner_id.data = current_user.id
    if form.validate_on_submit():
        if (resent := form.resent()) is not None:
            return resent
        pilot = svc.create_pilot(form.data, by=current_user)
        step = 2 if form.next.data else 1
        target = url_for("pilots.wizard", pilot_id=pilot.id, step=step)
        form.answered(target)
        db.session.commit()
        flash(_("Draft pilot %(name)s saved.", name=pilot.name), "success")
        return redirect(target)
    return render_template(
        "pilots/wizard_describe.html", form=form, pilot=None, step=1, steps=svc.WIZARD_STEPS
    )


@bp.route("/<int:pilot_id>/wizard/<int:step>", methods=["GET", "POST"])
def wizard(pilot_id: int, step: int):
    pilot = get_pilot_or_404(pilot_id, for_edit=True)
    views = {1: _describe, 2: _metrics, 3: _dates, 4: _sites, 5: _review}
    if step not in views:
        abort(404)
    return views[step](pilot)


def _next_url(pilot: Pilot, step: int, form) -> str:
    go_on = getattr(form, "next", None) is not None and form.next.data
    target = min(step + 1, svc.LAST_STEP) if go_on else step
    return url_for("pilots.wizard", pilot_id=pilot.id, step=target)


def _save(pilot: Pilot, step: int, form, change) -> bool:
    """Apply a step's change through ``save_design``; False (with a form error) if refused."""
    try:
        svc.save_design(pilot, change, by=current_user, reason=form.reason.data)
    except (svc.ReasonRequired, svc.DesignError) as exc:
        show_error(exc, form)
        return False
    svc.advance(pilot, step + 1 if getattr(form, "next", None) and form.next.data else step)
    db.session.commit()
    return True


def _render(template: str, pilot: Pilot, step: int, **context):
    return render_template(template, pilot=pilot, step=step, steps=svc.WIZARD_STEPS, **context)


def _describe(pilot: Pilot):
    form = DescribeForm(obj=pilot)
    if form.validate_on_submit():
        if _save(pilot, 1, form, lambda: svc.update_description(pilot, form.data)):
            flash(_("Saved."), "success")
            return redirect(_next_url(pilot, 1, form))
    return _render("pilots/wizard_describe.html", pilot, 1, form=form)


def _metrics(pilot: Pilot):
    form = MetricsForm(obj=pilot)
    metrics = svc.all_metrics()
    links = {link.metric_id: link for link in pilot.metric_links}
    error = None
    if form.validate_on_submit():
        picked, error = _metric_choices(metrics)
        if error is None and _save(
            pilot,
            2,
            form,
            lambda: svc.set_metrics(
                pilot,
                picked,
                alpha=form.alpha.data,
                min_effect=form.min_effect.data,
                by=current_user,
            ),
        ):
            flash(_("Saved."), "success")
            return redirect(_next_url(pilot, 2, form))
    if error:
        flash(error, "danger")
    return _render(
        "pilots/wizard_metrics.html",
        pilot,
        2,
        form=form,
        metrics=metrics,
        links=links,
        posted=request.form if request.method == "POST" else None,
        role_labels=METRIC_ROLE_LABELS,
        new_metric_form=NewMetricForm(prefix="metric"),
    )


@bp.route("/<int:pilot_id>/metrics/new", methods=["POST"])
def define_metric(pilot_id: int):
    """A metric the lead defines in the wizard (then chosen on the metrics step like any)."""
    pilot = get_pilot_or_404(pilot_id, for_edit=True)
    form = NewMetricForm(prefix="metric")
    target = url_for("pilots.wizard", pilot_id=pilot.id, step=2)
    if form.validate_on_submit():
        if (resent := form.resent()) is not None:
            return resent
        try:
            metric = svc.define_metric(form.data, by=current_user, pilot=pilot)
        except svc.DesignError as exc:
            flash(exc.message, "danger")
        else:
            form.answered(target)
            db.session.commit()
            flash(
                _("Metric %(name)s added.", name=metric_label(metric)),
                "success",
            )
    else:
        for name, errors in form.errors.items():
            flash(f"{getattr(form, name).label.text}: {'; '.join(map(str, errors))}", "danger")
    return redirect(target)


def _metric_choices(metrics: list[Metric]) -> tuple[list[svc.MetricChoice], str | None]:
    picked = []
    for metric in metrics:
        role_value = request.form.get(f"role_{metric.id}", "")
        role = MetricRole(role_value) if role_value in {r.value for r in MetricRole} else None
        direction_value = request.form.get(f"direction_{metric.id}", "")
        direction = (
            Direction(direction_value) if direction_value in {d.value for d in Direction} else None
        )
        numbers = {}
        for name in ("margin", "effect"):
            text = (request.form.get(f"{name}_{metric.id}") or "").strip()
            if not text:
                numbers[name] = None
                continue
            try:
                numbers[name] = float(text)
            except ValueError:
                return [], _(
                    "%(metric)s: '%(value)s' is not a number.", metric=metric.name, value=text
                )
            if not math.isfinite(numbers[name]) or numbers[name] < 0:
                return [], _("%(metric)s: use a positive number.", metric=metric.name)
        picked.append(
            svc.MetricChoice(metric, role, numbers["margin"], numbers["effect"], direction)
        )
    return picked, None


def _dates(pilot: Pilot):
    form = DatesForm(obj=pilot)
    if not form.is_submitted() and pilot.start_date is None:
        form.pre_start.data, form.start_date.data, form.end_date.data = svc.default_dates()
    if form.validate_on_submit():
        if _save(
            pilot,
            3,
            form,
            lambda: svc.set_dates(
                pilot, form.pre_start.data, form.start_date.data, form.end_date.data
            ),
        ):
            flash(_("Saved."), "success")
            return redirect(_next_url(pilot, 3, form))
    return _render("pilots/wizard_dates.html", pilot, 3, form=form)


def _propose_form(pilot: Pilot) -> ProposeForm:
    """The proposal settings: as posted, else as last proposed, else from the primary metric."""
    stored = pilot_design.stored_settings(pilot)
    form = ProposeForm(data=None if stored is None else stored.to_dict())
    metrics = svc.all_metrics()
    form.problem_metric.choices = choices(
        [("", _("The primary metric"))] + [(m.key, metric_label(m)) for m in metrics]
    )
    form.exclude.choices = choices((s.code, f"{s.code} · {s.name}") for s in active_sites())
    if not form.is_submitted() and stored is None and pilot.primary_metric is not None:
        form.problem_direction.data = (
            "high" if pilot.primary_metric.better_direction is Direction.DECREASE else "low"
        )
    return form


def _settings(form: ProposeForm) -> pilot_design.ProposalSettings:
    return pilot_design.ProposalSettings(
        route=form.route.data,
        n_pilot=form.n_pilot.data,
        ratio=form.ratio.data,
        problem_metric=form.problem_metric.data or None,
        problem_direction=form.problem_direction.data,
        pool_share=form.pool_share.data if form.threshold.data is None else None,
        threshold=form.threshold.data,
        exclude=tuple(form.exclude.data or ()),
        max_volume_share=form.max_volume_share.data,
        match_on=tuple(form.match_on.data or ()),
        stratify_by=form.stratify_by.data or None,
        seed=form.seed.data or 0,
    )


def _add_form(pilot: Pilot) -> AddSiteForm:
    form = AddSiteForm(prefix="add")
    taken = {a.site_id for a in pilot.assignments}
    sites = active_sites()
    form.site_id.choices = choices(
        (s.id, f"{s.code} · {s.name} · {s.region}") for s in sites if s.id not in taken
    )
    return form


def _sites(pilot: Pilot):
    return _render(
        "pilots/wizard_sites.html",
        pilot,
        4,
        propose_form=_propose_form(pilot),
        add_form=_add_form(pilot),
        remove_form=RemoveSiteForm(prefix="remove"),
        swap_form=SwapForm(prefix="swap"),
        fix_form=FixForm(prefix="fix"),
        check=_design_check(pilot, 4),
        proposal_job=_proposal_job(pilot),
        pilot_sites=_assignments(pilot, Arm.PILOT),
        control_sites=_assignments(pilot, Arm.CONTROL),
        method_labels=ASSIGNMENT_METHOD_LABELS,
    )


def _assignments(pilot: Pilot, arm: Arm):
    return sorted((a for a in pilot.assignments if a.arm is arm), key=lambda a: a.site.code)


def _to_sites(pilot: Pilot):
    return redirect(url_for("pilots.wizard", pilot_id=pilot.id, step=4))


@bp.route("/<int:pilot_id>/wizard/4/propose", methods=["POST"])
def propose_sites(pilot_id: int):
    pilot = get_pilot_or_404(pilot_id, for_edit=True)
    form = _propose_form(pilot)
    if not form.validate_on_submit():
        for name, errors in form.errors.items():
            flash(f"{getattr(form, name).label.text}: {'; '.join(map(str, errors))}", "danger")
        return _to_sites(pilot)
    return _run_proposal(pilot, form, _settings(form))


@bp.route("/<int:pilot_id>/wizard/4/fix", methods=["POST"])
def apply_fix(pilot_id: int):
    """One click on a fix the engine offered: the last proposal again, with that change."""
    pilot = get_pilot_or_404(pilot_id, for_edit=True)
    form = FixForm(prefix="fix")
    stored = pilot_design.stored_settings(pilot)
    if not form.validate_on_submit() or stored is None:
        flash(_("That fix no longer applies: propose the sites again."), "danger")
        return _to_sites(pilot)
    try:
        settings = stored.with_fix(
            form.code.data, design_check.fix_params(form.code.data, form.value.data)
        )
    except ValueError:
        flash(_("That fix no longer applies: propose the sites again."), "danger")
        return _to_sites(pilot)
    return _run_proposal(pilot, form, settings)


def _run_proposal(pilot: Pilot, form, settings: pilot_design.ProposalSettings):
    """Propose the sites in a background job; the sites step follows it."""
    job = proposal_jobs.submit_proposal(pilot, settings, by=current_user, reason=form.reason.data)
    return redirect(url_for("pilots.wizard", pilot_id=pilot.id, step=4, proposal_job=job.id))


def _proposal_job(pilot: Pilot):
    """The proposal job named by ``?proposal_job=`` if it is this pilot's and the user's to see."""
    job_id = request.args.get("proposal_job", type=int)
    job = get_job_or_none(job_id) if job_id else None
    if job is None or job.kind != proposal_jobs.KIND or job.subject_id != pilot.id:
        return None
    if core_jobs.fail_if_stalled(job):
        db.session.commit()
    return job


def _design_check(pilot: Pilot, step: int) -> design_check.DesignCheck:
    """Balance now; power from the finished job for this selection, else from a job started
    for it (its progress shown). ``?power=again`` starts a failed simulation again."""
    check = design_check.check_design(pilot)
    inputs = check.power_inputs
    if inputs is None:
        return check
    job = power_jobs.job_for(pilot, inputs.key())
    if job is not None and core_jobs.fail_if_stalled(job):
        db.session.commit()
    again = request.args.get("power") == "again" and job is not None
    if (
        job is None
        or (again and job.status is JobStatus.FAILED)
        or (power_jobs.unfinished(job) and not can_read_job(current_user, job))
    ):
        job = power_jobs.submit_power(pilot, inputs, by=current_user, step=step)
    design_check.show_power_job(check, pilot, job)
    return check


def _flash_reason_needed(form) -> None:
    if form.reason.errors:
        flash(_("This pilot has started: give a reason for the change."), "danger")


@bp.route("/<int:pilot_id>/sites/add", methods=["POST"])
def add_site(pilot_id: int):
    pilot = get_pilot_or_404(pilot_id, for_edit=True)
    form = _add_form(pilot)
    if form.validate_on_submit():
        site = db.session.get(Site, form.site_id.data)
        arm = Arm(form.arm.data)
        if not _save(pilot, 4, form, lambda: svc.assign_site(pilot, site, arm)):
            _flash_reason_needed(form)
    else:
        flash(_("Choose a site that is not in the pilot yet."), "danger")
    return redirect(url_for("pilots.wizard", pilot_id=pilot.id, step=4))


@bp.route("/<int:pilot_id>/sites/remove", methods=["POST"])
def remove_site(pilot_id: int):
    return _change_one_site(pilot_id, RemoveSiteForm(prefix="remove"), svc.remove_site)


@bp.route("/<int:pilot_id>/sites/swap", methods=["POST"])
def swap_site(pilot_id: int):
    """A site changes arm; inside a pair, the pilot and control sites trade places."""
    return _change_one_site(pilot_id, SwapForm(prefix="swap"), pilot_design.swap_site)


def _change_one_site(pilot_id: int, form, change):
    """Remove or swap the site the form names, then back to the sites step."""
    pilot = get_pilot_or_404(pilot_id, for_edit=True)
    if form.validate_on_submit():
        site_id = form.site_id.data
        if not _save(pilot, 4, form, lambda: change(pilot, site_id)):
            _flash_reason_needed(form)
    return _to_sites(pilot)


def _review(pilot: Pilot):
    return _render(
        "pilots/wizard_review.html",
        pilot,
        5,
        form=StartForm(),
        ready=svc.readiness(pilot),
        design=_design_check(pilot, 5),
        role_labels=METRIC_ROLE_LABELS,
        pilot_sites=_assignments(pilot, Arm.PILOT),
        control_sites=_assignments(pilot, Arm.CONTROL),
    )


@bp.route("/<int:pilot_id>/start", methods=["POST"])
def start(pilot_id: int):
    pilot = get_pilot_or_404(pilot_id, for_edit=True)
    form = StartForm()
    if form.validate_on_submit():
        try:
            svc.start_pilot(pilot, by=current_user)
        except svc.DesignError as exc:
            show_error(exc)
            return redirect(url_for("pilots.wizard", pilot_id=pilot.id, step=5))
        db.session.commit()
        flash(_("The pilot is running. Its design is now pre-registered."), "success")
        return redirect(url_for("pilots.detail", pilot_id=pilot.id))
    return redirect(url_for("pilots.wizard", pilot_id=pilot.id, step=5))


# ---------------------------------------------------------------- dashboard and audit


@bp.route("/<int:pilot_id>")
def detail(pilot_id: int):
    pilot = get_pilot_or_404(pilot_id)
    sees_design = can_see_pilot_design(current_user)
    today = clock.today()
    window = obs.pilot_window(pilot, today)
    links = list(pilot.metric_links)
    charts = []
    grid = None
    metric = None
    if window is not None:
        chart_links = [lk for lk in links if lk.role in (MetricRole.PRIMARY, MetricRole.GUARDRAIL)]
        adjustments = obs.chart_marks(pilot)
        if sees_design:
            for link in chart_links:
                frame = obs.daily_arm_means(pilot, link.metric, window)
                charts.append(
                    (
                        link,
                        daily_series_svg(
                            frame,
                            start=pilot.start_date,
                            adjustments=adjustments,
                            title=metric_label(link.metric),
                            unit=unit_label(link.metric.unit),
                            end=pilot.end_date,
                        ),
                    )
                )
        metric = _grid_metric(pilot, links)
        if metric is not None:
            own = visible_site_ids(current_user)
            grid = obs.completeness_grid(
                pilot,
                metric,
                window,
                site_ids=own,
                today=today,
                page=request.args.get("grid_page", 1, type=int),
            )
    day, planned = svc.day_counts(pilot, today)
    deviations = [e for e in svc.audit_events(pilot) if e.is_deviation] if sees_design else []
    return render_template(
        "pilots/detail.html",
        pilot=pilot,
        sees_design=sees_design,
        sees_retros=can_view_retros(current_user, pilot),
        can_edit=can_edit_pilot(current_user, pilot),
        can_archive=can_archive_pilot(current_user, pilot),
        can_delete=can_delete_pilot(current_user, pilot),
        archive_form=ArchiveForm(),
        charts=charts,
        grid=grid,
        grid_metric=metric,
        links=links,
        role_labels=METRIC_ROLE_LABELS,
        day=day,
        planned=planned,
        today=today,
        deviations=deviations,
        pilot_sites=_assignments(pilot, Arm.PILOT) if sees_design else [],
        control_sites=_assignments(pilot, Arm.CONTROL) if sees_design else [],
        last_data=obs.last_data_day(pilot),
    )


def _locale() -> str:
    from flask_babel import get_locale

    return str(get_locale() or "en")


def _grid_metric(pilot: Pilot, links) -> Metric | None:
    wanted = request.args.get("metric")
    for link in links:
        if link.metric.key == wanted:
            return link.metric
    return pilot.primary_metric or (links[0].metric if links else None)


# ---------------------------------------------------------------- archive and delete


def _pilot_for(pilot_id: int, allowed) -> Pilot:
    """The pilot, when ``allowed(current_user, pilot)``; else 403 (404 when it is unknown)."""
    pilot = get_pilot_or_404(pilot_id)
    if not allowed(current_user, pilot):
        abort(403)
    return pilot


#: The archive buttons: what each does to the pilot, and what it then says.
FILING = {
    "archive": (
        svc.archive_pilot,
        _l("Pilot %(name)s archived: hidden from the list, read-only."),
    ),
    "restore": (svc.restore_pilot, _l("Pilot %(name)s restored from the archive.")),
}


@bp.route("/<int:pilot_id>/<any(archive, restore):action>", methods=["POST"])
def file_pilot(pilot_id: int, action: str):
    """Archive a pilot, or restore an archived one, from its page's button."""
    pilot = _pilot_for(pilot_id, can_archive_pilot)
    change, done = FILING[action]
    if ArchiveForm().validate_on_submit():
        change(pilot, by=current_user)
        db.session.commit()
        flash(done % {"name": pilot.name}, "success")
    return redirect(url_for("pilots.detail", pilot_id=pilot.id))


@bp.route("/<int:pilot_id>/delete", methods=["GET", "POST"])
def delete(pilot_id: int):
    """Delete a draft pilot after a confirmation (admins, and the change lead who owns it)."""
    pilot = _pilot_for(pilot_id, can_delete_pilot)
    form = DeletePilotForm()
    if form.validate_on_submit():
        name = pilot.name
        svc.delete_draft(pilot, by=current_user)
        db.session.commit()
        flash(_("Draft pilot %(name)s deleted.", name=name), "success")
        return redirect(url_for("main.dashboard"))
    return render_template("pilots/delete.html", pilot=pilot, form=form)


@bp.route("/<int:pilot_id>/audit")
@require_role(*ALL_SEEING)
def audit_log(pilot_id: int):
    pilot = get_pilot_or_404(pilot_id)
    return render_template(
        "pilots/audit_log.html",
        pilot=pilot,
        events=svc.audit_events(pilot),
        action_labels=AUDIT_ACTION_LABELS,
        yes_no=YES_NO_LABELS,
        recorded_value=recorded_value_label,
    )


# ---------------------------------------------------------------- daily data for this pilot


@bp.route("/<int:pilot_id>/data/import", methods=["GET", "POST"])
def import_observations(pilot_id: int):
    pilot = get_pilot_or_404(pilot_id, for_edit=True)
    return import_pages.upload_page(
        ObservationImport(pilot),
        UploadForm(),
        preview_url=lambda token, name: url_for(
            "pilots.observations_preview", pilot_id=pilot.id, token=token, name=name
        ),
        template="sites/import.html",
    )


@bp.route("/<int:pilot_id>/data/import/<token>", methods=["GET", "POST"])
def observations_preview(pilot_id: int, token: str):
    pilot = get_pilot_or_404(pilot_id, for_edit=True)
    return import_pages.preview_page(
        ObservationImport(pilot),
        token,
        back_url=url_for("pilots.import_observations", pilot_id=pilot.id),
        done_url=url_for("pilots.detail", pilot_id=pilot.id),
        rebuild=("app.pilots.routes:observation_import_for", {"pilot_id": pilot.id}),
        pilot_id=pilot.id,
    )


def observation_import_for(pilot_id: int) -> ObservationImport:
    """The pilot's observation import, rebuilt by a background import job."""
    pilot = db.session.get(Pilot, pilot_id)
    if pilot is None:
        raise LookupError(f"no pilot {pilot_id}")
    return ObservationImport(pilot)
