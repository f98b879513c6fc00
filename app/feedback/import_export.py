"""Import responses collected with another survey tool, and export a pilot's responses.

Import (CSV or Excel via :mod:`app.core.tables`) is **atomic**: every row is checked
first and any problem raises ``ImportFailed`` listing each (row, column, message); nothing is
written then. Free text is masked exactly as on the public form. A re-import of the same file
(or of rows with the same ``response_id``) stores nothing twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

import pandas as pd
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.core import audit
from app.core.clock import local_day, organisation_zone
from app.core.errors import ImportFailed, RowError
from app.core.tables import map_columns, read_upload
from app.extensions import db
from app.feedback import questionnaires as svc
from app.feedback import responses
from app.models import (
    Assignment,
    Audience,
    FeedbackAnswer,
    FeedbackForm,
    FeedbackResponse,
    Pilot,
    ResponseChannel,
    Site,
    User,
)

BASE_FIELDS: dict[str, list[str]] = {
    "site_code": ["site", "site code", "store", "store code", "门店", "门店编码", "门店代码"],
    "submitted_at": ["date", "time", "submitted", "timestamp", "提交时间", "日期", "时间"],
    "segment": ["age band", "age", "年龄", "年龄段"],
    "language": ["lang", "语言"],
    "response_id": ["id", "external id", "respondent id", "编号", "答卷编号"],
}
MAX_ROWS = 50_000


@dataclass(frozen=True, slots=True)
class ImportResult:
    inserted: int
    duplicates: int


def parse_mapping(text: str) -> dict[str, str]:
    """``field = column`` lines (``:`` works too) into ``{field: column}``."""
    mapping = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        sep = "=" if "=" in line else ":" if ":" in line else None
        if sep is None:
            raise ImportFailed(
                RowError(0, "", _("Mapping line %(n)s needs the form field = column.", n=number))
            )
        field, column = (part.strip() for part in line.split(sep, 1))
        mapping[field] = column
    return mapping


def _aliases(form: FeedbackForm) -> dict[str, list[str]]:
    aliases = {k: list(v) for k, v in BASE_FIELDS.items()}
    if any(q.get("segment") for q in form.questions):
        del aliases["segment"]  # the form's own segment question (e.g. age band) covers it
    for q in form.questions:
        aliases[q["key"]] = [q.get("label_en", ""), q.get("label_zh", "")]
    return aliases


def field_help(pilot: Pilot, audience: Audience) -> list[dict[str, Any]]:
    """The fields an import understands, for the upload page."""
    form = svc.current_form(pilot.id, audience)
    rows = [
        {"field": "site_code", "label": _("Site code"), "required": True},
        {"field": "submitted_at", "label": _("Date and time (local)"), "required": False},
        {"field": "segment", "label": _("Respondent segment"), "required": False},
        {"field": "language", "label": _("Language"), "required": False},
        {"field": "response_id", "label": _("Response ID in the other tool"), "required": False},
    ]
    if form is not None:
        if any(q.get("segment") for q in form.questions):
            rows = [r for r in rows if r["field"] != "segment"]
        for q in form.questions:
            rows.append(
                {"field": q["key"], "label": q.get("label_en", ""), "required": q.get("required")}
            )
    return rows


def _parse_when(text: str) -> datetime | None:
    text = (text or "").strip()
    if not text:
        return None
    for fmt in (
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y/%m/%d %H:%M:%S",
        "%Y/%m/%d %H:%M",
        "%Y-%m-%d",
        "%Y/%m/%d",
    ):
        try:
            moment = datetime.strptime(text, fmt)  # noqa: DTZ007 - local time, zone added below
        except ValueError:
            continue
        if fmt in ("%Y-%m-%d", "%Y/%m/%d"):
            moment = datetime.combine(moment.date(), time(12, 0))
        return moment.replace(tzinfo=organisation_zone()).astimezone(UTC)
    raise ValueError(text)


def import_responses(
    pilot: Pilot,
    source: Any,
    *,
    audience: Audience = Audience.CUSTOMER,
    mapping: dict[str, str] | None = None,
    filename: str | None = None,
    by: User | None = None,
) -> ImportResult:
    """Check every row, then store them all (or nothing). The caller commits."""
    form = svc.current_form(pilot.id, audience) or svc.ensure_forms(pilot)[audience]
    frame = read_upload(source, filename=filename)
    if len(frame) > MAX_ROWS:
        raise ImportFailed(_("At most %(n)s rows per import.", n=MAX_ROWS))
    aliases = _aliases(form)
    unknown = sorted(set(mapping or {}) - set(aliases))
    if unknown:
        raise ImportFailed(
            [
                RowError(0, "", _("Unknown field %(field)s in the mapping.", field=f))
                for f in unknown
            ]
        )
    columns = map_columns(frame, aliases, {"site_code"}, chosen=mapping or {})
    question_keys = [q["key"] for q in form.questions if q["key"] in columns]
    if not question_keys:
        raise ImportFailed(_("No column matches a question of the form."))
    sites = {
        code: site_id
        for code, site_id in db.session.execute(
            select(Site.code, Site.id)
            .join(Assignment, Assignment.site_id == Site.id)
            .where(Assignment.pilot_id == pilot.id)
        )
    }
    digest = hashlib.sha256(frame.to_csv().encode()).hexdigest()
    errors: list[RowError] = []
    prepared = []
    seen_keys: dict[str, int] = {}
    for row_number, row in frame.iterrows():
        row_errors = []
        code = str(row[columns["site_code"]]).strip()
        site_id = sites.get(code)
        if site_id is None:
            row_errors.append(
                RowError(row_number, columns["site_code"],
                         _("Site %(code)s is not in this pilot.", code=code or "—"))
            )  # fmt: skip
        when = None
        if "submitted_at" in columns:
            try:
                when = _parse_when(str(row[columns["submitted_at"]]))
            except ValueError:
                row_errors.append(
                    RowError(row_number, columns["submitted_at"],
                             _("Not a date and time such as 2026-10-01 12:30."))
                )  # fmt: skip
        raw = {key: row[columns[key]] for key in question_keys}
        answers, problems = responses.clean_answers(form, raw)
        for key, message in problems.items():
            row_errors.append(RowError(row_number, columns.get(key, key), message))
        if not answers and not problems:
            row_errors.append(RowError(row_number, "", _("The row has no answers.")))
        external = str(row[columns["response_id"]]).strip() if "response_id" in columns else ""
        basis = f"{pilot.id}|{audience.value}|{external}" if external else f"{digest}|{row_number}"
        key = "imp-" + hashlib.sha256(basis.encode()).hexdigest()[:48]
        if external and key in seen_keys:
            row_errors.append(
                RowError(row_number, columns["response_id"],
                         _("Response ID %(id)s also appears in row %(row)s.",
                           id=external, row=seen_keys[key]))
            )  # fmt: skip
        seen_keys.setdefault(key, row_number)
        if row_errors:
            errors.extend(row_errors)
            continue
        segment = str(row[columns["segment"]]).strip() if "segment" in columns else ""
        language = str(row[columns["language"]]).strip()[:10] if "language" in columns else ""
        prepared.append((site_id, when, answers, key, segment, language))
    if errors:
        raise ImportFailed(errors)
    existing = set(
        db.session.scalars(
            select(FeedbackResponse.idempotency_key).where(
                FeedbackResponse.idempotency_key.in_([p[3] for p in prepared])
            )
        )
    )
    inserted = 0
    for site_id, when, answers, key, segment, language in prepared:
        if key in existing:
            continue
        responses.submit_response(
            form,
            site_id,
            answers,
            idempotency_key=key,
            channel=ResponseChannel.IMPORT,
            language=language or None,
            submitted_at=when,
            segment=segment or None,
        )
        inserted += 1
    db.session.flush()
    audit.record(
        "feedback.import",
        pilot,
        by=by,
        after={"file": filename, "inserted": inserted, "duplicates": len(prepared) - inserted},
        pilot_id=pilot.id,
    )
    return ImportResult(inserted, len(prepared) - inserted)


def export_frame(pilot: Pilot, audience: Audience) -> pd.DataFrame:
    """One row per response, one column per question (every version), masked text only."""
    arms = {a.site_id: a.arm.value for a in pilot.assignments}
    forms = svc.form_versions(pilot.id, audience)
    keys: list[str] = []
    for form in sorted(forms, key=lambda f: f.version):
        keys += [q["key"] for q in form.questions if q["key"] not in keys]
    responses = db.session.scalars(
        select(FeedbackResponse)
        .where(FeedbackResponse.pilot_id == pilot.id, FeedbackResponse.audience == audience)
        .options(
            selectinload(FeedbackResponse.answers).selectinload(FeedbackAnswer.tags),
            selectinload(FeedbackResponse.site),
            selectinload(FeedbackResponse.form),
        )
        .order_by(FeedbackResponse.submitted_at, FeedbackResponse.id)
    )
    rows = []
    for r in responses:
        submitted = r.submitted_at if r.submitted_at.tzinfo else r.submitted_at.replace(tzinfo=UTC)
        row: dict[str, Any] = {
            "response_id": r.id,
            "submitted_at": submitted.astimezone(organisation_zone()).strftime("%Y-%m-%d %H:%M"),
            "date": local_day(r.submitted_at).isoformat(),
            "site_code": r.site.code,
            "site_name": r.site.name,
            "arm": arms.get(r.site_id, ""),
            "channel": r.channel.value,
            "language": r.language or "",
            "segment": r.segment or "",
            "form_version": r.form.version,
            "flagged_negative": bool(r.is_flagged_negative),
        }
        by_key = {a.question_key: a for a in r.answers}
        tags: list[str] = []
        for key in keys:
            answer = by_key.get(key)
            if answer is None:
                row[key] = None
            elif answer.value_text is not None:
                row[key] = answer.value_text
            elif answer.value_choices is not None:
                row[key] = ";".join(answer.value_choices)
            else:
                row[key] = answer.value_num
        for answer in r.answers:
            tags += [t.tag for t in answer.tags]
        row["tags"] = ";".join(sorted(set(tags)))
        rows.append(row)
    base = ["response_id", "submitted_at", "date", "site_code", "site_name", "arm", "channel",
            "language", "segment", "form_version", "flagged_negative"]  # fmt: skip
    return pd.DataFrame(rows, columns=[*base, *keys, "tags"])
