"""Routes of the reports area: snapshots, their page, sign-off and exports.

Who may do what (staff never see reports: they show every site's results and an interim
result seen at a pilot site can change how its staff behave):

* view a report, download its exports: admin, change lead, analyst;
* create the pre-registered snapshot: admin, change lead, analyst;
* run an exploration, approve or request changes: analysts only, and never the pilot's owner.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import (
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from app.auth.permissions import (
    get_job_or_none,
    get_report_or_404,
    get_report_pilot_or_404,
    require_report_reviewer,
    require_role,
)
from app.core import jobs as core_jobs
from app.core.errors import show_error
from app.core.labels import METHOD_LABELS, by_value, colours_by_value
from app.extensions import db
from app.models import Decision, Pilot, Report, ReportStatus, Role
from app.reports import bp
from app.reports import exports as report_exports
from app.reports import jobs as report_jobs
from app.reports import snapshots as service
from app.reports.context import page_body, report_context
from app.reports.forms import CreateReportForm, ExploreForm, PdfForm, ReviewForm


def _locale() -> str:
    from flask_babel import get_locale

    return str(get_locale() or "en")


def _explore_form(pilot: Pilot) -> ExploreForm:
    from app.core.formfields import choices

    form = ExploreForm()
    form.metrics.choices = choices(
        (link.metric.key, link.metric.display_name(_locale())) for link in pilot.metric_links
    )
    if not form.is_submitted():
        form.metrics.data = [link.metric.key for link in pilot.metric_links]
    return form


@bp.get("/pilot/<int:pilot_id>")
def index(pilot_id: int):
    """The pilot's reports: the latest pre-registered snapshot first, explorations labelled."""
    pilot = get_report_pilot_or_404(pilot_id)
    reports = service.pilot_reports(pilot)
    latest = service.latest_preregistered(pilot)
    return render_template(
        "reports/index.html",
        pilot=pilot,
        reports=reports,
        latest=latest,
        create_form=CreateReportForm(),
        explore_form=_explore_form(pilot) if current_user.role is Role.ANALYST else None,
        status_labels_r=by_value(ReportStatus),
        status_colours_r=colours_by_value(ReportStatus),
        method_labels=METHOD_LABELS,
    )


def _start(pilot: Pilot, form, **kwargs) -> Response:
    """Start a snapshot from a validated ``form`` (once, however often the form is sent)."""
    if (resent := form.resent()) is not None:
        return resent
    try:
        report = service.start_snapshot(pilot, by=current_user, **kwargs)
    except service.ReportError as exc:
        show_error(exc)
        return redirect(url_for("reports.index", pilot_id=pilot.id))
    target = url_for("reports.detail", report_id=report.id)
    form.answered(target)
    db.session.commit()
    report_jobs.submit_snapshot(report, by=current_user)
    return redirect(target)


@bp.post("/pilot/<int:pilot_id>/create")
def create(pilot_id: int):
    pilot = get_report_pilot_or_404(pilot_id)
    form = CreateReportForm()
    if not form.validate_on_submit():
        flash(_("The form expired; please try again."), "warning")
        return redirect(url_for("reports.index", pilot_id=pilot.id))
    return _start(pilot, form)


@bp.post("/pilot/<int:pilot_id>/explore")
@require_role(Role.ANALYST)
def explore(pilot_id: int):
    pilot = get_report_pilot_or_404(pilot_id)
    form = _explore_form(pilot)
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(error, "warning")
        return redirect(url_for("reports.index", pilot_id=pilot.id))
    return _start(pilot, form, exploration=True, method=form.method.data, metrics=form.metrics.data)


@bp.get("/<int:report_id>")
def detail(report_id: int):
    report = get_report_or_404(report_id)
    if service.fail_if_stalled(report):
        db.session.commit()
    locale = _locale()
    body = None
    if report.is_finished and report.results:
        body = page_body(
            report,
            locale,
            lambda: render_template(
                "reports/_body.html",
                report=report,
                printing=False,
                **report_context(report, locale),
            ),
        )
    stale = report.is_finished and service.looks_stale(report)
    review_form = None
    refusal = None
    if report.is_finished and not report.is_exploration:
        # the page's fast check decides here; approving re-checks the full fingerprint
        seen = "changed" if stale else report.data_fingerprint
        refusal = service.review_refusal(current_user, report, fingerprint=seen)
        if refusal is None:
            review_form = ReviewForm()
            rec = (report.results or {}).get("recommendation") or {}
            if not review_form.is_submitted() and rec.get("decision"):
                review_form.decision.data = rec["decision"]
    reference = service.latest_preregistered(report.pilot) if report.is_exploration else None
    return render_template(
        "reports/detail.html",
        job=_snapshot_job(report),
        pdf_job=_pdf_job(report),
        pdf_form=PdfForm(),
        report=report,
        pilot=report.pilot,
        stale=stale,
        review_form=review_form,
        review_refusal=refusal,
        reference=reference,
        status_labels_r=by_value(ReportStatus),
        status_colours_r=colours_by_value(ReportStatus),
        body=body,
    )


def _snapshot_job(report: Report):
    """The job computing ``report``, while it computes (stalled jobs are shown failed)."""
    if report.status is not ReportStatus.COMPUTING:
        return None
    job = core_jobs.latest_for("report", report.id, kind=report_jobs.SNAPSHOT)
    if job is not None and core_jobs.fail_if_stalled(job):
        db.session.commit()
    return job


def _pdf_job(report: Report):
    """The PDF job named by ``?pdf_job=`` if it is this report's and the user may follow it."""
    job_id = request.args.get("pdf_job", type=int)
    job = get_job_or_none(job_id) if job_id else None
    if job is None or job.kind != report_jobs.PDF or job.subject_id != report.id:
        return None
    if core_jobs.fail_if_stalled(job):
        db.session.commit()
    return job


@bp.get("/<int:report_id>/status")
def status(report_id: int):
    """Progress of a computing report, polled by the page."""
    report = get_report_or_404(report_id)
    if service.fail_if_stalled(report):
        db.session.commit()
    return jsonify(
        {
            "id": report.id,
            "status": report.status.value,
            "progress": report.progress,
            "step": report.progress_step,
            "done": report.status is not ReportStatus.COMPUTING,
            "error": report.error,
            "url": url_for("reports.detail", report_id=report.id),
        }
    )


@bp.get("/<int:report_id>/charts/<name>.svg")
def chart(report_id: int, name: str):
    report = get_report_or_404(report_id)
    if not report.is_finished or not report.results:
        abort(404)
    from app.reports.context import chart_svg

    svg = chart_svg(report, name, _locale())
    if svg is None:
        abort(404)
    response = Response(svg, mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


@bp.post("/<int:report_id>/review")
@require_role(Role.ANALYST)
def review(report_id: int):
    report = get_report_or_404(report_id)
    require_report_reviewer(report)
    form = ReviewForm()
    back = redirect(url_for("reports.detail", report_id=report.id))
    if not form.validate_on_submit():
        flash(_("Please check the form and try again."), "warning")
        return back
    comment = form.comment.data or ""
    try:
        if form.request_changes.data:
            service.request_changes(report, by=current_user, comment=comment)
            message = _("Changes requested.")
        else:
            try:
                decision = Decision(form.decision.data)
            except ValueError:
                flash(_("Choose the decision for the pilot."), "warning")
                return back
            fingerprint = service.current_fingerprint(report.pilot)
            service.approve(
                report,
                by=current_user,
                decision=decision,
                comment=comment,
                fingerprint=fingerprint,
            )
            message = _("Report approved; the decision is recorded.")
    except service.ReportError as exc:
        show_error(exc)
        return back
    db.session.commit()
    flash(message, "success")
    return back


def _finished_or_404(report_id: int) -> Report:
    report = get_report_or_404(report_id)
    if not report.is_finished or not report.results:
        abort(404)
    return report


def _download(data: bytes, mimetype: str, filename: str) -> Response:
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.post("/<int:report_id>/export.pdf")
def export_pdf_job(report_id: int):
    """Render the PDF in a background job; the page follows it and then downloads the file."""
    report = _finished_or_404(report_id)
    form = PdfForm()
    if not form.validate_on_submit():
        flash(_("The form expired; please try again."), "warning")
        return redirect(url_for("reports.detail", report_id=report.id))
    job = report_jobs.submit_pdf(report, _locale(), by=current_user)
    return redirect(url_for("reports.detail", report_id=report.id, pdf_job=job.id))


@bp.get("/<int:report_id>/export.pdf")
def export_pdf(report_id: int):
    return _export(
        report_id, lambda r: report_exports.pdf_bytes(r, _locale()), "application/pdf", "pdf"
    )


@bp.get("/<int:report_id>/export-csv.zip")
def export_csv(report_id: int):
    return _export(report_id, report_exports.csv_zip, "application/zip", "csv.zip")


@bp.get("/<int:report_id>/export.json")
def export_json(report_id: int):
    return _export(report_id, report_exports.json_bytes, "application/json", "json")


@bp.get("/<int:report_id>/bundle.zip")
def export_bundle(report_id: int):
    return _export(report_id, report_exports.bundle_zip, "application/zip", "bundle.zip")


def _export(report_id: int, build: Callable[[Report], bytes], mimetype: str, suffix: str):
    """The finished report as a download: ``build(report)``, named for the report."""
    report = _finished_or_404(report_id)
    return _download(build(report), mimetype, report_exports.filename(report, suffix))


@bp.app_template_global()
def report_chart_url(report_id: int, name: str) -> str:
    return url_for("reports.chart", report_id=report_id, name=name, lang=_locale())


@bp.app_template_filter("report_datetime")
def report_datetime(value) -> str:
    from flask_babel import format_datetime

    return format_datetime(value, "medium") if value else "—"


@bp.context_processor
def _report_globals() -> dict:
    return {
        "decision_labels": by_value(Decision),
        "status_labels_r": by_value(ReportStatus),
        "status_colours_r": colours_by_value(ReportStatus),
    }
