"""Import responses collected with another survey tool, and export a pilot's responses.

Import is one kind of :mod:`app.core.imports` (:class:`ResponseImport`): upload, preview with
the column choices, then an **atomic** import: every row is checked first (``plan_responses``)
and any problem lists each (row, column, message); nothing is written then. Free text is
masked exactly as on the public form. A re-import of the same file (or of rows with the same
``response_id``) stores nothing twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any

import pandas as pd
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.core import audit, imports, tables
from app.core.clock import local_day, organisation_zone
from app.core.errors import ImportFailed
from app.core.imports import Field, ImportKind, ImportPlan, propose_mapping
from app.core.labels import FEEDBACK_EXPORT_COLUMNS, RESPONSE_FILE_FIELD_LABELS
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


@dataclass(frozen=True, slots=True)
class _Response:
    """One checked row, ready to be stored."""

    site_id: int
    when: datetime | None
    answers: dict[str, Any]
    key: str
    segment: str
    language: str


@dataclass
class ResponsePlan(ImportPlan):
    """What an import of responses would do; ``ok`` means it can be applied."""

    form: FeedbackForm | None = None
    responses: list[_Response] = field(default_factory=list)
    new: int = 0
    duplicates: int = 0


def _segment_question(form: FeedbackForm | None) -> bool:
    return form is not None and any(q.get("segment") for q in form.questions)


def response_fields(form: FeedbackForm | None) -> list[Field]:
    """The fields of a file of responses to ``form``: the base fields and every question
    (found by its key or its English or Chinese text)."""
    fields = [
        Field(
            name,
            str(RESPONSE_FILE_FIELD_LABELS[name]),
            tuple(aliases),
            required=name == "site_code",
        )
        for name, aliases in BASE_FIELDS.items()
        # the form's own segment question (e.g. age band) covers the segment
        if not (name == "segment" and _segment_question(form))
    ]
    for q in form.questions if form is not None else []:
        aliases = (q.get("label_en", ""), q.get("label_zh", ""))
        fields.append(Field(q["key"], _question_label(q), aliases))
    return fields


def _question_label(question: dict[str, Any]) -> str:
    """A question's wording in the reader's language (the other one when it has none)."""
    from flask_babel import get_locale

    zh, en = question.get("label_zh"), question.get("label_en")
    chinese = str(get_locale() or "en").startswith("zh")
    return (zh or en or "") if chinese else (en or zh or "")


def field_help(pilot: Pilot, audience: Audience) -> list[dict[str, Any]]:
    """The fields an import understands, for the upload page (required: a value is)."""
    form = svc.current_form(pilot.id, audience)
    answer_required = {q["key"] for q in form.questions if q.get("required")} if form else set()
    return [
        {"field": f.name, "label": f.label, "required": f.required or f.name in answer_required}
        for f in response_fields(form)
    ]


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
            moment = datetime.strptime(text, fmt)  # local time: the zone is added below
        except ValueError:
            continue
        if fmt in ("%Y-%m-%d", "%Y/%m/%d"):
            moment = datetime.combine(moment.date(), time(12, 0))
        return moment.replace(tzinfo=organisation_zone()).astimezone(UTC)
    raise ValueError(text)


def plan_responses(
    pilot: Pilot,
    frame: pd.DataFrame,
    *,
    audience: Audience = Audience.CUSTOMER,
    chosen: Mapping[str, str] | None = None,
) -> ResponsePlan:
    """Check every row of ``frame`` and count what is new. Writes nothing but the pilot's
    forms when it has none yet."""
    form = svc.current_form(pilot.id, audience) or svc.ensure_forms(pilot)[audience]
    if len(frame) > MAX_ROWS:
        raise ImportFailed(_("At most %(n)s rows per import.", n=MAX_ROWS))
    mapping = propose_mapping(response_fields(form), frame.columns, chosen)
    if not any(q["key"] in mapping for q in form.questions):
        raise ImportFailed(_("No column matches a question of the form."))
    plan = ResponsePlan(mapping=mapping, n_rows=len(frame), form=form)
    rows = _RowCheck(pilot, audience, plan, frame)
    for number, row in frame.iterrows():
        response = rows.check(number, row)
        if response is not None:
            plan.responses.append(response)
    plan.sort_errors()
    if plan.ok:
        known = _stored_keys([r.key for r in plan.responses])
        plan.duplicates = sum(r.key in known for r in plan.responses)
        plan.new = len(plan.responses) - plan.duplicates
    return plan


class _RowCheck:
    """Checks the rows of one file against the pilot's sites and the form's questions."""

    def __init__(self, pilot: Pilot, audience: Audience, plan: ResponsePlan, frame: pd.DataFrame):
        self.pilot, self.audience, self.plan = pilot, audience, plan
        self.columns = plan.mapping
        self.questions = [q["key"] for q in plan.form.questions if q["key"] in self.columns]
        self.sites = {
            code: site_id
            for code, site_id in db.session.execute(
                select(Site.code, Site.id)
                .join(Assignment, Assignment.site_id == Site.id)
                .where(Assignment.pilot_id == pilot.id)
            )
        }
        self.digest = hashlib.sha256(frame.to_csv().encode()).hexdigest()
        self.seen_keys: dict[str, int] = {}

    def cell(self, row: pd.Series, name: str) -> str:
        return str(row[self.columns[name]]).strip() if name in self.columns else ""

    def check(self, number: int, row: pd.Series) -> _Response | None:
        """The row as a response, or ``None`` with its problems added to the plan."""
        errors_before = self.plan.n_errors
        code = self.cell(row, "site_code")
        site_id = self.sites.get(code)
        if site_id is None:
            self.plan.add_error(
                number,
                self.columns["site_code"],
                _("Site %(code)s is not in this pilot.", code=code or "—"),
            )
        when = self._when(number, row)
        raw = {key: row[self.columns[key]] for key in self.questions}
        answers, problems = responses.clean_answers(self.plan.form, raw)
        for key, message in problems.items():
            self.plan.add_error(number, self.columns.get(key, key), message)
        if not answers and not problems:
            self.plan.add_error(number, "", _("The row has no answers."))
        key = self._key(number, self.cell(row, "response_id"))
        if self.plan.n_errors > errors_before or site_id is None:
            return None
        segment = self.cell(row, "segment")
        return _Response(site_id, when, answers, key, segment, self.cell(row, "language")[:10])

    def _when(self, number: int, row: pd.Series) -> datetime | None:
        try:
            return _parse_when(self.cell(row, "submitted_at"))
        except ValueError:
            self.plan.add_error(
                number,
                self.columns["submitted_at"],
                _("Not a date and time such as 2026-10-01 12:30."),
            )
            return None

    def _key(self, number: int, external: str) -> str:
        """The response's idempotency key: the other tool's id, else the file and row."""
        if external:
            basis = f"{self.pilot.id}|{self.audience.value}|{external}"
        else:
            basis = f"{self.digest}|{number}"
        key = "imp-" + hashlib.sha256(basis.encode()).hexdigest()[:48]
        if external and key in self.seen_keys:
            self.plan.add_error(
                number,
                self.columns["response_id"],
                _(
                    "Response ID %(id)s also appears in row %(row)s.",
                    id=external,
                    row=self.seen_keys[key],
                ),
            )
        self.seen_keys.setdefault(key, number)
        return key


def _stored_keys(keys: list[str]) -> set[str]:
    return set(
        db.session.scalars(
            select(FeedbackResponse.idempotency_key).where(
                FeedbackResponse.idempotency_key.in_(keys)
            )
        )
    )


def apply_responses(
    plan: ResponsePlan, pilot: Pilot, *, by: User | None, filename: str | None
) -> ImportResult:
    """Store every new response of a valid plan (the caller commits)."""
    if not plan.ok:
        raise ImportFailed(plan.errors)
    known = _stored_keys([r.key for r in plan.responses])
    inserted = 0
    for response in plan.responses:
        if response.key in known:
            continue
        responses.submit_response(
            plan.form,
            response.site_id,
            response.answers,
            idempotency_key=response.key,
            channel=ResponseChannel.IMPORT,
            language=response.language or None,
            submitted_at=response.when,
            segment=response.segment or None,
        )
        inserted += 1
    db.session.flush()
    duplicates = len(plan.responses) - inserted
    audit.record(
        "feedback.import",
        pilot,
        by=by,
        after={"file": filename, "inserted": inserted, "duplicates": duplicates},
        pilot_id=pilot.id,
    )
    return ImportResult(inserted, duplicates)


class ResponseImport(ImportKind):
    """Responses collected with another survey tool, for one pilot and audience."""

    name = "responses"
    summary_template = "feedback/_import_summary.html"

    def __init__(self, pilot: Pilot, audience: Audience = Audience.CUSTOMER):
        self.pilot, self.audience = pilot, audience

    @property
    def title(self) -> str:
        return _("Import responses")

    @property
    def subject(self) -> str:
        return self.pilot.name

    def fields(self) -> list[Field]:
        return response_fields(svc.current_form(self.pilot.id, self.audience))

    def plan(self, chunks, chosen=None, *, source=None) -> ResponsePlan:
        frame = tables.whole(chunks)
        return plan_responses(self.pilot, frame, audience=self.audience, chosen=chosen)

    def apply(self, plan: ResponsePlan, *, by, filename) -> ImportResult:
        return apply_responses(plan, self.pilot, by=by, filename=filename)

    def confirm_label(self, plan: ResponsePlan) -> str:
        return _("Import %(n)s responses", n=plan.new)

    def done_message(self, outcome: ImportResult) -> str:
        n, d = outcome.inserted, outcome.duplicates
        return _("Imported %(n)s responses (%(d)s already there).", n=n, d=d)


def import_responses(
    pilot: Pilot,
    source: Any,
    *,
    audience: Audience = Audience.CUSTOMER,
    mapping: Mapping[str, str] | None = None,
    filename: str | None = None,
    by: User | None = None,
) -> ImportResult:
    """Check every row, then store them all (or nothing). The caller commits."""
    kind = ResponseImport(pilot, audience)
    return imports.run(kind, source, mapping or None, by=by, filename=filename)


def labelled_export_frame(pilot: Pilot, audience: Audience) -> pd.DataFrame:
    """:func:`export_frame` headed in the reader's words (the download): the fixed columns by
    their labels, the questions by their wording (a re-import recognises both)."""
    frame = export_frame(pilot, audience)
    wording = {
        q["key"]: _question_label(q)
        for form in svc.form_versions(pilot.id, audience)
        for q in form.questions
    }
    names = {**wording, **{k: str(v) for k, v in FEEDBACK_EXPORT_COLUMNS.items()}}
    return frame.rename(columns=lambda c: names.get(c) or c)


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
