"""Routes of the feedback area: the public QR form, staff views, distribution and analytics."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from app.auth.permissions import (
    ALL_SEEING,
    PILOT_EDITORS,
    get_feedback_site_or_404,
    get_pilot_or_404,
    get_staff_answer_target_or_404,
    mentee_site_ids,
    require_role,
)
from app.core import clock, import_pages, urls
from app.core.errors import show_error
from app.core.i18n import select_locale
from app.core.labels import THEME_LABELS, by_value
from app.core.paging import page_of, paginate
from app.extensions import db, limiter
from app.feedback import bp, intake, qr, responses, site_feed, tagging
from app.feedback import questionnaires as svc
from app.feedback.forms import (
    AnswerForm,
    ConfirmForm,
    EditFormForm,
    FlagForm,
    ImportForm,
    TagForm,
    answer_form_for,
)
from app.feedback.intake import FormDefinition, PublicTarget, SiteRef
from app.feedback.responses import StaleTarget
from app.models import (
    Audience,
    FeedbackAnswer,
    FeedbackForm,
    FeedbackResponse,
    FormLink,
    Pilot,
    QuestionType,
    ResponseChannel,
    Role,
    Site,
)
from app.sites.registry import pilot_sites

# ------------------------------------------------------------------ rate limits


def _limit(name: str):
    return lambda: current_app.config[name]  # app/config.py, from the environment


def _token_key() -> str:
    return "feedback-token:" + str((request.view_args or {}).get("token", ""))


# ------------------------------------------------------------------ helpers


def _is_zh() -> bool:
    from flask_babel import get_locale

    return str(get_locale() or "en").startswith("zh")


def _label(item: dict, prefix: str = "label") -> str:
    zh, en = item.get(f"{prefix}_zh"), item.get(f"{prefix}_en")
    return (zh or en or "") if _is_zh() else (en or zh or "")


def _question_labels(responses) -> dict[tuple[int, str], str]:
    """Each answered question's label in the reader's language, by (form, question key)."""
    return {
        (r.form_id, q["key"]): _label(q) or _("question")
        for r in responses
        for q in (r.form.questions or [])
    }


def _language() -> str:
    """The respondent's language, as stored with the response ("zh_CN" or "en").

    The locale selector's answer is used directly: building a Babel ``Locale`` for it
    is measurable on the hot path of the public form and not needed to store two letters.
    """
    return select_locale()


def _render_answer_page(
    form_model: FeedbackForm | FormDefinition,
    form: AnswerForm,
    idempotency_key: str,
    *,
    action: str,
    site: Site | SiteRef,
    status: int = 200,
    public: bool = True,
):
    errors: dict = form.question_errors()
    if form.idempotency_key.errors:
        errors["_form"] = list(form.idempotency_key.errors)
    return (
        render_template(
            "feedback/answer.html",
            form_model=form_model,
            idempotency_key=idempotency_key,
            action=action,
            site=site,
            errors=errors,
            values=form.raw_answers() if status != 200 else {},
            label=_label,
            says_optional=svc.says_optional,
            public=public,
        ),
        status,
    )


def _handle_answer(
    form_model: FeedbackForm | FormDefinition,
    site: Site | SiteRef,
    *,
    action: Callable[[], str],
    thanks_url: Callable[[], str],
    channel: ResponseChannel,
    link: PublicTarget | None,
    public: bool,
):
    """Show the form (GET) or validate and store the answers (POST).

    The CSRF token was checked by ``CSRFProtect`` before the view ran. :class:`AnswerForm`
    carries one field per question of the form version, the idempotency key and the
    honeypot; it validates the answers with :func:`responses.clean_answers`. ``action`` and
    ``thanks_url`` are built only when a page needs them.
    """
    form = answer_form_for(form_model)
    if request.method == "GET":
        new_key = responses.new_idempotency_key()
        return _render_answer_page(
            form_model, form, new_key, action=action(), site=site, public=public
        )
    if form.is_from_a_bot:
        # the honeypot was filled in: a bot. Look successful, store nothing.
        return redirect(thanks_url(), code=303)
    if not form.validate():
        if link is not None and link.remembered:
            raise StaleTarget()  # explain the errors with the questions as they are now
        key = form.idempotency_key.data
        if form.idempotency_key.errors:  # a resend could not be recognised: a fresh key
            key = responses.new_idempotency_key()
        return _render_answer_page(
            form_model, form, key, action=action(), site=site, status=422, public=public
        )
    submission = functools.partial(
        responses.submit_response,
        form_model,
        site.id,
        form.answers,
        idempotency_key=form.idempotency_key.data,
        channel=channel,
        language=_language(),
        link=link,
    )
    if link is None:
        submission()
        db.session.commit()
    else:
        # the public form: one Core transaction, no ORM session (see app.feedback.intake)
        with db.engine.begin() as connection:
            submission(guarded=True, connection=connection)
    return redirect(thanks_url(), code=303)


# ------------------------------------------------------------------ the public form


@bp.route("/f/<token>", methods=["GET", "POST"])
@limiter.limit(_limit("FEEDBACK_RATELIMIT_VIEW"), methods=["GET"])
@limiter.limit(_limit("FEEDBACK_RATELIMIT_PER_ADDRESS"), methods=["POST"])
@limiter.limit(_limit("FEEDBACK_RATELIMIT_PER_TOKEN"), key_func=_token_key, methods=["POST"])
def public_form(token: str):
    """The form behind a QR code: no login, one column, zh-CN or English.

    A submission is checked against the target this process remembers for the token; the
    write itself confirms that the link, the form and the pilot are still as remembered
    (see :mod:`app.feedback.intake`). If they are not, the target is read afresh
    and the request is answered from that.
    """
    target = intake.recall(token) if request.method == "POST" else None
    if target is None:
        target = intake.find_target(token)
    try:
        return _answer_public(token, target)
    except StaleTarget:
        db.session.rollback()
    try:
        return _answer_public(token, intake.find_target(token))
    except StaleTarget:  # changed again in between: rare, and safe to ask for a reload
        db.session.rollback()
        abort(409)


@functools.lru_cache(maxsize=4096)
def _thanks_path(script_root: str, token: str) -> str:
    """The thank-you page of a link, built once per token (every submission redirects to it).

    ``script_root`` is part of the key because ``url_for`` builds under it: the same app
    mounted under two prefixes gets two entries.
    """
    return url_for("feedback.thanks", token=token)


def _answer_public(token: str, target: PublicTarget | None):
    if target is None:
        abort(404)
    if not target.is_open():
        return render_template("feedback/closed.html"), 200
    return _handle_answer(
        target.form,
        target.site,
        action=lambda: url_for("feedback.public_form", token=token),
        thanks_url=lambda: _thanks_path(request.script_root, token),
        channel=ResponseChannel.QR,
        link=target,
        public=True,
    )


@bp.route("/f/<token>/thanks")
def thanks(token: str):
    target = intake.find_target(token)
    if target is None:
        abort(404)
    return render_template(
        "feedback/thanks.html", site=target.site, again=url_for(".public_form", token=token)
    )


# ------------------------------------------------------------------ staff


@bp.route("/staff")
@require_role(Role.STAFF)
def staff_feed():
    """Recent customer feedback of the staff member's own site (and nothing else)."""
    site = current_user.site
    days = request.args.get("days", 14, type=int)
    days = days if days in (1, 7, 14, 30) else 14
    responses = site_feed.recent_responses(site.id, days=days) if site is not None else []
    pilots = site_feed.open_pilots(site.id) if site is not None else []
    return render_template(
        "feedback/staff_feed.html",
        site=site,
        responses=responses,
        question_labels=_question_labels(responses),
        days=days,
        pilots=pilots,
        theme_labels=THEME_LABELS,
        mentees=site_feed.mentee_sites(mentee_site_ids(current_user)),
        mentee=False,
    )


@bp.route("/staff/sites/<int:site_id>")
def site_feed_of(site_id: int):
    """Recent customer feedback of a site the reader's site mentors during a rollout (staff),
    or of any site (leads, admins, analysts)."""
    site = get_feedback_site_or_404(site_id)
    days = request.args.get("days", 14, type=int)
    days = days if days in (1, 7, 14, 30) else 14
    responses = site_feed.recent_responses(site.id, days=days)
    return render_template(
        "feedback/staff_feed.html",
        site=site,
        responses=responses,
        question_labels=_question_labels(responses),
        days=days,
        pilots=[],
        theme_labels=THEME_LABELS,
        mentees=[],
        mentee=True,
    )


@bp.route("/staff/answer/<int:pilot_id>", methods=["GET", "POST"])
@require_role(Role.STAFF)
def staff_answer(pilot_id: int):
    """The staff form, answered while logged in, for the member's own site (anonymous): a
    pilot site while the pilot collects feedback, a wave site once its wave has started."""
    pilot, site = get_staff_answer_target_or_404(pilot_id)
    form_model = svc.current_form(pilot.id, Audience.STAFF)
    if form_model is None or not site_feed.staff_form_open(pilot, site.id):
        return render_template("feedback/closed.html", staff=True, pilot=pilot), 200
    return _handle_answer(
        form_model,
        site,
        action=lambda: url_for("feedback.staff_answer", pilot_id=pilot.id),
        thanks_url=lambda: url_for("feedback.staff_feed", answered=1),
        channel=ResponseChannel.LOGGED_IN,
        link=None,
        public=False,
    )


# ------------------------------------------------------------------ distribution


#: Links per page of the distribution page (a site has two: customers and staff).
LINKS_PER_PAGE = 50


@bp.route("/pilots/<int:pilot_id>")
@require_role(*PILOT_EDITORS)
def manage(pilot_id: int):
    pilot = get_pilot_or_404(pilot_id, for_edit=True)
    forms = {a: svc.form_versions(pilot.id, a) for a in Audience}
    links = svc.pilot_links_page(pilot.id, request.args.get("page", 1, type=int), LINKS_PER_PAGE)
    arms = {a.site_id: a.arm.value for a in pilot.assignments}
    return render_template(
        "feedback/manage.html",
        pilot=pilot,
        forms=forms,
        links=links,
        arms=arms,
        confirm=ConfirmForm(),
        response_count=svc.response_count,
        is_open=svc.form_is_open(pilot),
    )


@bp.route("/pilots/<int:pilot_id>/setup", methods=["POST"])
@require_role(*PILOT_EDITORS)
def setup(pilot_id: int):
    pilot = get_pilot_or_404(pilot_id, for_edit=True)
    if ConfirmForm().validate_on_submit():
        svc.ensure_forms(pilot)
        links = svc.ensure_links(pilot)
        db.session.commit()
        flash(_("Forms and links are ready: %(n)s links.", n=len(links)), "success")
    return redirect(url_for("feedback.manage", pilot_id=pilot.id))


@bp.route("/links/<int:link_id>/revoke", methods=["POST"])
@require_role(*PILOT_EDITORS)
def revoke_link(link_id: int):
    link = db.get_or_404(FormLink, link_id)
    get_pilot_or_404(link.pilot_id, for_edit=True)
    if ConfirmForm().validate_on_submit():
        svc.revoke_link(link, by=current_user, renew=True)
        db.session.commit()
        flash(
            _(
                "The old link and QR code no longer work; print the new sheet for %(site)s.",
                site=link.site.name,
            ),
            "warning",
        )
    return redirect(url_for("feedback.manage", pilot_id=link.pilot_id))


def _public_url(link: FormLink) -> str:
    """The link printed on sheets and in QR codes: on ``PUBLIC_BASE_URL`` when it is set."""
    return urls.public_url("feedback.public_form", token=link.token)


@bp.route("/links/<int:link_id>/qr.<fmt>")
@require_role(*PILOT_EDITORS)
def qr_code(link_id: int, fmt: str):
    link = db.get_or_404(FormLink, link_id)
    get_pilot_or_404(link.pilot_id, for_edit=True)
    if fmt not in ("png", "svg") or not link.is_active:
        abort(404)
    name = f"feedback-{link.site.code}-{link.audience.value}.{fmt}"
    if fmt == "png":
        body, mimetype = qr.qr_png(_public_url(link)), "image/png"
    else:
        body, mimetype = qr.qr_svg(_public_url(link), title=link.site.name), "image/svg+xml"
    disposition = "attachment" if request.args.get("download") else "inline"
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'{disposition}; filename="{name}"'},
    )


@bp.route("/pilots/<int:pilot_id>/sites/<int:site_id>/sheet")
@require_role(*PILOT_EDITORS)
def sheet(pilot_id: int, site_id: int):
    """A printable A4 sheet: the site's customer QR code with a bilingual invitation."""
    pilot = get_pilot_or_404(pilot_id, for_edit=True)
    audience = (
        Audience(request.args.get("audience", "customer"))
        if request.args.get("audience", "customer") in ("customer", "staff")
        else Audience.CUSTOMER
    )
    link = svc.active_link(pilot.id, site_id, audience)
    if link is None:
        abort(404)
    url = _public_url(link)
    html = render_template(
        "feedback/sheet.html",
        pilot=pilot,
        link=link,
        site=link.site,
        url=url,
        svg=qr.qr_svg_inline(url, scale=10),
        audience=audience,
    )
    if request.args.get("format") == "pdf":
        pdf = qr.html_to_pdf(html, base_url=request.url_root)
        name = f"feedback-sheet-{link.site.code}-{audience.value}.pdf"
        return Response(
            pdf,
            mimetype="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{name}"'},
        )
    return html


def _question_rows(form_model: FeedbackForm) -> list[dict]:
    rows = []
    for q in form_model.questions:
        options = "\n".join(
            f"{o.get('value', '')} | {o.get('label_en', '')} | {o.get('label_zh', '')}"
            for o in q.get("options") or []
        )
        rows.append(
            {
                "key": q["key"],
                "kind": q["type"],
                "label_en": q.get("label_en", ""),
                "label_zh": q.get("label_zh", ""),
                "required": bool(q.get("required")),
                "segment": bool(q.get("segment")),
                "options": options,
                "remove": False,
            }
        )
    return rows


def _parse_question_rows(rows: list[dict]) -> list[dict]:
    questions = []
    used = set()
    for position, row in enumerate(rows, start=1):
        if row.get("remove"):
            continue
        if not (row.get("label_en") or "").strip() and not (row.get("label_zh") or "").strip():
            continue  # an empty new row
        key = (row.get("key") or "").strip().lower() or f"q{position}"
        while key in used:
            key = f"{key}_{position}"
        used.add(key)
        q = {
            "key": key,
            "type": row.get("kind") or "rating",
            "label_en": (row.get("label_en") or "").strip(),
            "label_zh": (row.get("label_zh") or "").strip(),
            "required": bool(row.get("required")),
        }
        if row.get("segment"):
            q["segment"] = True
        if q["type"] in ("single_choice", "multi_choice"):
            options = []
            for line in (row.get("options") or "").splitlines():
                parts = [p.strip() for p in line.split("|")]
                if not parts or not parts[0]:
                    continue
                value = parts[0]
                en = parts[1] if len(parts) > 1 and parts[1] else value
                zh = parts[2] if len(parts) > 2 and parts[2] else en
                options.append({"value": value, "label_en": en, "label_zh": zh})
            q["options"] = options
        questions.append(q)
    return questions


@bp.route("/pilots/<int:pilot_id>/forms/<audience>", methods=["GET", "POST"])
@require_role(*PILOT_EDITORS)
def edit_form(pilot_id: int, audience: str):
    pilot = get_pilot_or_404(pilot_id, for_edit=True)
    if audience not in ("customer", "staff"):
        abort(404)
    aud = Audience(audience)
    form_model = svc.current_form(pilot.id, aud)
    if form_model is None:
        form_model = svc.ensure_forms(pilot)[aud]
        db.session.commit()
    editable = pilot.status in svc.EDITABLE_STATUSES
    if request.method == "GET":
        form = EditFormForm(
            data={
                "title_en": form_model.title_en,
                "title_zh": form_model.title_zh,
                "intro_en": form_model.intro_en or "",
                "intro_zh": form_model.intro_zh or "",
                "questions": [*_question_rows(form_model), {"kind": "rating"}],
            }
        )
    else:
        form = EditFormForm()
    problems: list[str] = []
    if request.method == "POST" and editable and form.validate_on_submit():
        questions = _parse_question_rows(form.questions.data)
        try:
            target, new_version = svc.update_form(
                form_model,
                {
                    "title_en": form.title_en.data.strip(),
                    "title_zh": form.title_zh.data.strip(),
                    "intro_en": (form.intro_en.data or "").strip() or None,
                    "intro_zh": (form.intro_zh.data or "").strip() or None,
                    "questions": questions,
                },
                by=current_user,
            )
        except svc.FeedbackError as exc:
            db.session.rollback()
            problems = str(exc).split("; ")
        else:
            db.session.commit()
            if new_version:
                flash(
                    _(
                        "Saved as version %(v)s; earlier answers keep version %(old)s.",
                        v=target.version,
                        old=target.version - 1,
                    ),
                    "success",
                )
            else:
                flash(_("Questions saved."), "success")
            return redirect(url_for("feedback.manage", pilot_id=pilot.id))
    status = 422 if request.method == "POST" else 200
    return (
        render_template(
            "feedback/edit_form.html",
            pilot=pilot,
            form=form,
            form_model=form_model,
            audience=aud,
            editable=editable,
            problems=problems,
            has_responses=svc.response_count(form_model.id) > 0,
            type_labels=by_value(QuestionType),
        ),
        status,
    )


# ------------------------------------------------------------------ analytics and comments


#: Rows of the feedback overview's site table per page.
OVERVIEW_SITES_PER_PAGE = 50


@bp.route("/pilots/<int:pilot_id>/overview")
@require_role(*ALL_SEEING)
def pilot_overview(pilot_id: int):
    from app.feedback import analytics as fa
    from app.feedback.charts import overview_charts

    pilot = get_pilot_or_404(pilot_id)
    responses = fa.responses_stamp(pilot)  # read once: both remembered parts are keyed on it
    overview = fa.pilot_overview(pilot, responses=responses)
    site_page = page_of(
        overview["sites"], request.args.get("sites_page", 1, type=int), OVERVIEW_SITES_PER_PAGE
    )
    today = clock.today()
    last = min(d for d in (pilot.end_date, today) if d is not None)
    first = last - timedelta(days=6)
    themes, theme_cells = fa.overview_themes(
        pilot, pilot.pre_start or first, first, last, responses=responses
    )
    return render_template(
        "feedback/overview.html",
        pilot=pilot,
        o=overview,
        charts=overview_charts(pilot, overview, _label),
        themes=themes,
        theme_cells=theme_cells,
        flagged=fa.flagged_comments(pilot, first, last, limit=20),
        first=first,
        last=last,
        label=_label,
        site_page=site_page,
    )


@bp.route("/pilots/<int:pilot_id>/comments")
@require_role(*ALL_SEEING)
def comments(pilot_id: int):
    pilot = get_pilot_or_404(pilot_id)
    site_id = request.args.get("site", type=int)
    tag = (request.args.get("tag") or "").strip()
    flagged_only = request.args.get("flagged") == "1"
    query = tagging.comments_query(pilot.id, site_id=site_id, tag=tag, flagged_only=flagged_only)
    page = paginate(query, request.args.get("page", 1, type=int), per_page=50)
    return render_template(
        "feedback/comments.html",
        pilot=pilot,
        answers=page.items,
        has_more=page.has_next,
        page=page.page,
        sites=pilot_sites(pilot),
        site_id=site_id,
        tag=tag,
        flagged_only=flagged_only,
        theme_labels=THEME_LABELS,
        tag_form=TagForm(),
        flag_form=FlagForm(),
        can_tag=current_user.role in ALL_SEEING,
    )


@bp.route("/answers/<int:answer_id>/tags", methods=["POST"])
@require_role(*ALL_SEEING)
def tag_comment(answer_id: int):
    answer = db.get_or_404(FeedbackAnswer, answer_id)
    pilot = get_pilot_or_404(answer.response.pilot_id)
    form = TagForm()
    if form.validate_on_submit():
        if form.remove.data:
            tagging.remove_tag(answer, form.tag.data.strip())
        else:
            try:
                tagging.add_manual_tag(answer, form.tag.data)
            except svc.FeedbackError as exc:
                show_error(exc)
        db.session.commit()
    else:
        flash(_("A tag needs 1 to %(n)s characters.", n=tagging.MAX_TAG_LENGTH), "danger")
    from app.auth.routes import safe_next

    fallback = url_for("feedback.comments", pilot_id=pilot.id)
    target = request.form.get("next")
    return redirect(safe_next(target) if target else fallback)


@bp.route("/responses/<int:response_id>/flag", methods=["POST"])
@require_role(*ALL_SEEING)
def flag_response(response_id: int):
    response = db.get_or_404(FeedbackResponse, response_id)
    pilot = get_pilot_or_404(response.pilot_id)
    form = FlagForm()
    if form.validate_on_submit():
        tagging.set_flag(response, form.flagged.data == "1", by=current_user)
        db.session.commit()
    return redirect(url_for("feedback.comments", pilot_id=pilot.id))


# ------------------------------------------------------------------ import / export


@bp.route("/pilots/<int:pilot_id>/export.<fmt>")
@require_role(*ALL_SEEING)
def export(pilot_id: int, fmt: str):
    from app.core.tables import download
    from app.feedback import import_export as feedback_import

    pilot = get_pilot_or_404(pilot_id)
    if fmt not in ("csv", "xlsx"):
        abort(404)
    audience = _audience_arg(request.args.get("audience"))
    frame = feedback_import.labelled_export_frame(pilot, audience)
    return download(frame, f"feedback-pilot{pilot.id}-{audience.value}", fmt)


@bp.route("/pilots/<int:pilot_id>/import", methods=["GET", "POST"])
@require_role(*PILOT_EDITORS)
def import_responses(pilot_id: int):
    from app.feedback.import_export import ResponseImport, field_help

    pilot = get_pilot_or_404(pilot_id, for_edit=True)
    form = ImportForm()
    audience = _audience_arg(form.audience.data)
    return import_pages.upload_page(
        ResponseImport(pilot, audience),
        form,
        preview_url=lambda token, name: url_for(
            "feedback.import_preview",
            pilot_id=pilot.id,
            token=token,
            name=name,
            audience=audience.value,
        ),
        template="feedback/import.html",
        pilot=pilot,
        fields=field_help(pilot, audience),
    )


@bp.route("/pilots/<int:pilot_id>/import/<token>", methods=["GET", "POST"])
@require_role(*PILOT_EDITORS)
def import_preview(pilot_id: int, token: str):
    from app.feedback.import_export import ResponseImport

    pilot = get_pilot_or_404(pilot_id, for_edit=True)
    audience = _audience_arg(request.args.get("audience"))
    return import_pages.preview_page(
        ResponseImport(pilot, audience),
        token,
        back_url=url_for("feedback.import_responses", pilot_id=pilot.id),
        done_url=url_for("feedback.manage", pilot_id=pilot.id),
        carry={"audience": audience.value},
        rebuild=(
            "app.feedback.routes:response_import_for",
            {"pilot_id": pilot.id, "audience": audience.value},
        ),
        pilot_id=pilot.id,
    )


def response_import_for(pilot_id: int, audience: str):
    """The pilot's feedback import, rebuilt by a background import job."""
    from app.feedback.import_export import ResponseImport

    pilot = db.session.get(Pilot, pilot_id)
    if pilot is None:
        raise LookupError(f"no pilot {pilot_id}")
    return ResponseImport(pilot, Audience(audience))


def _audience_arg(value: str | None) -> Audience:
    """The audience a query or form names; the customer form when it names none we know."""
    known = {a.value for a in Audience}
    return Audience(value if value in known else "customer")
