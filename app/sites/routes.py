"""Routes of the sites area: the registry, its import and export, and daily-data intake."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.auth.permissions import ALL_SEEING, PILOT_EDITORS, get_site_or_404, require_role
from app.core import import_pages
from app.core import tables as tabular
from app.core.labels import READINESS_BAND_LABELS, SIZE_TIER_LABELS
from app.core.paging import paginate
from app.extensions import db
from app.sites import bp
from app.sites.forms import SiteForm, UploadForm
from app.sites.observation_import import ObservationImport
from app.sites.registry import (
    SiteFilters,
    apply_site,
    labelled_export_frame,
    list_sites,
    regions,
    site_completeness,
    site_pilots,
    site_query,
)
from app.sites.site_import import SiteImport

PAGE_SIZE = 50


@bp.route("/")
@require_role(*ALL_SEEING)
def index():
    filters = SiteFilters.from_args(request.args)
    page = paginate(site_query(filters), request.args.get("page", 1, type=int), PAGE_SIZE)
    return render_template(
        "sites/index.html",
        sites=page.items,
        filters=filters,
        total=page.total,
        page=page.page,
        pages=max(page.pages, 1),
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
    frame = labelled_export_frame(list_sites(SiteFilters.from_args(request.args)))
    return tabular.download(frame, "sites", fmt)


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
    return import_pages.upload_page(
        SiteImport(),
        UploadForm(),
        preview_url=lambda token, name: url_for("sites.import_preview", token=token, name=name),
        template="sites/import.html",
    )


@bp.route("/import/<token>", methods=["GET", "POST"])
@require_role(*PILOT_EDITORS)
def import_preview(token: str):
    return import_pages.preview_page(
        SiteImport(),
        token,
        back_url=url_for("sites.import_sites"),
        done_url=url_for("sites.index"),
        rebuild=("app.sites.site_import:SiteImport", {}),
    )


# ---------------------------------------------------------------- daily data (any site)


@bp.route("/data/import", methods=["GET", "POST"])
@require_role(*PILOT_EDITORS)
def import_observations():
    return import_pages.upload_page(
        ObservationImport(),
        UploadForm(),
        preview_url=lambda token, name: url_for(
            "sites.observations_preview", token=token, name=name
        ),
        template="sites/import.html",
    )


@bp.route("/data/import/<token>", methods=["GET", "POST"])
@require_role(*PILOT_EDITORS)
def observations_preview(token: str):
    return import_pages.preview_page(
        ObservationImport(),
        token,
        back_url=url_for("sites.import_observations"),
        done_url=url_for("sites.index"),
        rebuild=("app.sites.observation_import:ObservationImport", {}),
    )
