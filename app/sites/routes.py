"""Routes of the sites area: the registry, its import and export, and daily-data intake."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from app.auth.permissions import ALL_SEEING, PILOT_EDITORS, get_site_or_404, require_role
from app.core import tables as tabular
from app.core.errors import ImportFailed, RowError
from app.core.labels import READINESS_BAND_LABELS, SIZE_TIER_LABELS
from app.extensions import db
from app.sites import bp
from app.sites.forms import ConfirmForm, SiteForm, UploadForm
from app.sites.importing import (
    chosen_mapping,
    head_of,
    stash_or_error,
    stashed_or_404,
)
from app.sites.importing import (
    observations_preview as render_observations_preview,
)
from app.sites.registry import (
    SiteFilters,
    apply_site,
    export_frame,
    list_sites,
    regions,
    site_completeness,
    site_pilots,
    site_query,
)
from app.sites.site_import import SITE_ALIASES, apply_import, field_labels, plan_import

PAGE_SIZE = 50


@bp.route("/")
@require_role(*ALL_SEEING)
def index():
    filters = SiteFilters.from_args(request.args)
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    query = site_query(filters)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    sites = db.session.scalars(query.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    return render_template(
        "sites/index.html",
        sites=sites,
        filters=filters,
        total=total,
        page=page,
        pages=pages,
        regions=regions(),
        size_labels=SIZE_TIER_LABELS,
        readiness_labels=READINESS_BAND_LABELS,
        can_edit=current_user.role in PILOT_EDITORS,
    )


@bp.route("/export.<fmt>")
@require_role(*ALL_SEEING)
def export(fmt: str):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    frame = export_frame(list_sites(SiteFilters.from_args(request.args)))
    if fmt == "csv":
        return tabular.csv_response(frame, "sites.csv")
    return tabular.xlsx_response(frame, "sites.xlsx")


@bp.route("/new", methods=["GET", "POST"])
@require_role(*PILOT_EDITORS)
def create():
    form = SiteForm()
    if form.validate_on_submit():
        site = apply_site(None, _form_data(form), by=current_user)
        db.session.commit()
        flash(_("Site %(code)s created.", code=site.code), "success")
        return redirect(url_for("sites.detail", site_id=site.id))
    return render_template("sites/form.html", form=form, site=None)


@bp.route("/<int:site_id>")
def detail(site_id: int):
    site = get_site_or_404(site_id)
    show_pilots = current_user.role in ALL_SEEING
    return render_template(
        "sites/detail.html",
        site=site,
        pilots=site_pilots(site) if show_pilots else [],
        completeness=site_completeness(site),
        size_labels=SIZE_TIER_LABELS,
        can_edit=current_user.role in PILOT_EDITORS,
    )


@bp.route("/<int:site_id>/edit", methods=["GET", "POST"])
def edit(site_id: int):
    site = get_site_or_404(site_id, for_edit=True)
    form = SiteForm(obj=site, editing=site)
    if not form.is_submitted():
        form.size_tier.data = site.size_tier.value
    if form.validate_on_submit():
        apply_site(site, _form_data(form), by=current_user)
        db.session.commit()
        flash(_("Site %(code)s saved.", code=site.code), "success")
        return redirect(url_for("sites.detail", site_id=site.id))
    return render_template("sites/form.html", form=form, site=site)


def _form_data(form: SiteForm) -> dict:
    data = {name: getattr(form, name).data for name in form._fields if name not in ("submit",)}
    data.pop("csrf_token", None)
    return data


# ---------------------------------------------------------------- registry import


@bp.route("/import", methods=["GET", "POST"])
@require_role(*PILOT_EDITORS)
def import_sites():
    form = UploadForm()
    if form.validate_on_submit():
        token = stash_or_error(form)
        if token:
            return redirect(
                url_for("sites.import_preview", token=token, name=form.file.data.filename)
            )
    return render_template(
        "sites/import.html",
        form=form,
        aliases=SITE_ALIASES,
        labels=field_labels(),
        title=_("Import sites"),
        kind="sites",
    )


@bp.route("/import/<token>", methods=["GET", "POST"])
@require_role(*PILOT_EDITORS)
def import_preview(token: str):
    path = stashed_or_404(token)
    filename = request.args.get("name") or None
    form = ConfirmForm()
    fields = list(SITE_ALIASES)
    source = request.form if request.method == "POST" else request.args
    chosen = chosen_mapping(source, fields)
    plan = None
    failure: list[RowError] = []
    columns: list[str] = []
    rows: list = []
    try:
        columns, rows = head_of(path)
        plan = plan_import(tabular.read_upload(path), chosen)
    except ImportFailed as exc:
        failure = exc.errors
    if request.method == "POST" and form.validate_on_submit() and plan is not None and plan.ok:
        batch = apply_import(plan, by=current_user, filename=filename)
        db.session.commit()
        tabular.drop_stash(token)
        flash(
            _(
                "Sites imported: %(c)s new, %(u)s updated, %(n)s unchanged.",
                c=batch.rows_inserted,
                u=batch.rows_updated,
                n=batch.rows_unchanged,
            ),
            "success",
        )
        return redirect(url_for("sites.index"))
    return render_template(
        "sites/import_preview.html",
        plan=plan,
        failure=failure,
        columns=columns,
        rows=rows,
        fields=fields,
        labels=field_labels(),
        mapping=plan.mapping if plan is not None else (chosen or {}),
        form=form,
        filename=filename,
    )


# ---------------------------------------------------------------- daily data (any site)


@bp.route("/data/import", methods=["GET", "POST"])
@require_role(*PILOT_EDITORS)
def import_observations():
    form = UploadForm()
    if form.validate_on_submit():
        token = stash_or_error(form)
        if token:
            return redirect(
                url_for("sites.observations_preview", token=token, name=form.file.data.filename)
            )
    from app.sites.observation_import import OBSERVATION_ALIASES

    return render_template(
        "sites/import.html",
        form=form,
        aliases=OBSERVATION_ALIASES,
        labels={k: k for k in OBSERVATION_ALIASES},
        title=_("Import daily data"),
        kind="observations",
        pilot=None,
    )


@bp.route("/data/import/<token>", methods=["GET", "POST"])
@require_role(*PILOT_EDITORS)
def observations_preview(token: str):
    return render_observations_preview(
        token,
        pilot=None,
        back_url=url_for("sites.import_observations"),
        done_url=lambda: url_for("sites.index"),
        filename=request.args.get("name") or None,
    )
