"""Answers of a feedback form: validating them and storing one response.

One validator (:func:`clean_answers`) serves the public QR form, the staff form and imports;
one writer (:func:`submit_response`) stores a response with its answers and comment tags.
Free text is masked (:mod:`app.feedback.masking`) before it reaches the database, so the raw
text is never written; nothing here logs answer text.
"""

from __future__ import annotations

import json
import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _
from sqlalchemy import Connection, Date, Integer, Text, bindparam, select, text

from app.core import clock
from app.extensions import db
from app.feedback import themes
from app.feedback.masking import mask
from app.feedback.questionnaires import CHOICE_TYPES, FeedbackError, headline_key, question_map
from app.models import (
    FeedbackForm,
    FeedbackResponse,
    FormLink,
    Pilot,
    PilotStatus,
    PlanStatus,
    QuestionType,
    ResponseChannel,
    RolloutPlan,
    Wave,
    WaveStatus,
)

if TYPE_CHECKING:
    from app.feedback.intake import FormDefinition, PublicTarget

#: Longest free-text answer kept (characters); longer answers are refused with a message.
MAX_TEXT_LENGTH = 1000
IDEMPOTENCY_PATTERN = re.compile(r"^[A-Za-z0-9_\-]{16,64}$")


def new_idempotency_key() -> str:
    """The key a rendered form carries: its resends and double taps store one response."""
    return secrets.token_urlsafe(24)


def idempotency_key_error(key: str | None) -> str | None:
    """Why a submitted idempotency key is refused (a message for people), or None if valid.

    A form without a valid key cannot be told apart from its own resend, so it is refused
    rather than stored under a made-up key.
    """
    if key and IDEMPOTENCY_PATTERN.match(key):
        return None
    return _("The form is incomplete. Reload the page and try again.")


def clean_answers(
    form: FeedbackForm | FormDefinition, raw: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Validate raw answers (strings, numbers or lists) against the form's questions.

    Returns ``(answers, errors)``: typed values per question key (free text masked), and an
    English message per question key that failed. Unknown keys are ignored.
    """
    answers: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for q in form.questions:
        key, kind = q["key"], q["type"]
        value = raw.get(key)
        if isinstance(value, str):
            value = value.strip()
        empty = value is None or value == "" or value == [] or _is_nan(value)
        if empty:
            if q.get("required"):
                errors[key] = _("Please answer this question.")
            continue
        try:
            answers[key] = _clean_one(q, kind, value)
        except FeedbackError as exc:
            errors[key] = str(exc)
    return answers, errors


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value


def _clean_one(q: dict[str, Any], kind: str, value: Any) -> Any:
    if kind in (QuestionType.RATING.value, QuestionType.NPS.value):
        low, high = (1, 5) if kind == QuestionType.RATING.value else (0, 10)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise FeedbackError(
                _("Choose a number from %(low)s to %(high)s.", low=low, high=high)
            ) from None
        if not math.isfinite(number) or number != int(number) or not low <= number <= high:
            raise FeedbackError(_("Choose a number from %(low)s to %(high)s.", low=low, high=high))
        return int(number)
    if kind == QuestionType.YES_NO.value:
        text = str(value).strip().lower()
        if text in ("yes", "y", "1", "true", "是", "1.0"):
            return True
        if text in ("no", "n", "0", "false", "否", "0.0"):
            return False
        raise FeedbackError(_("Answer yes or no."))
    if kind in CHOICE_TYPES:
        allowed = [o["value"] for o in q.get("options") or []]
        labels = {
            str(o.get(lang) or "").strip().lower(): o["value"]
            for o in q.get("options") or []
            for lang in ("label_en", "label_zh")
        }
        items = value if isinstance(value, list) else _split_choices(value, kind)
        chosen = []
        for item in items:
            text = str(item).strip()
            if text in allowed:
                chosen.append(text)
            elif text.lower() in labels:
                chosen.append(labels[text.lower()])
            else:
                raise FeedbackError(_("%(value)s is not one of the options.", value=text[:40]))
        if kind == QuestionType.SINGLE_CHOICE.value and len(chosen) != 1:
            raise FeedbackError(_("Choose one option."))
        return list(dict.fromkeys(chosen))
    text = str(value)
    if len(text) > MAX_TEXT_LENGTH:
        raise FeedbackError(_("Please keep this under %(n)s characters.", n=MAX_TEXT_LENGTH))
    return mask(text)


def _split_choices(value: Any, kind: str) -> list[str]:
    if kind == QuestionType.SINGLE_CHOICE.value:
        return [str(value)]
    return [part for part in re.split(r"[;,，；|]", str(value)) if part.strip()]


@dataclass(frozen=True, slots=True)
class Submission:
    response_id: int
    created: bool

    @property
    def response(self) -> FeedbackResponse:
        return db.session.get(FeedbackResponse, self.response_id)


class StaleTarget(FeedbackError):
    """A guarded write found the link revoked, the form changed or the pilot closed."""

    code = "stale_form"

    def __init__(self) -> None:
        super().__init__(_("This form has changed. Please reload the page."))


_RESPONSE_COLUMNS = (
    "form_id", "pilot_id", "site_id", "link_id", "audience", "channel", "language",
    "idempotency_key", "submitted_at", "segment", "is_flagged_negative",
)  # fmt: skip

#: The conditions of a guarded write: what the public form checked is still true. Three
#: primary-key probes rather than one join: PostgreSQL plans them in a third of the time.
#: The pilot accepts answers while it runs (or in a draft's baseline), or, at a site in a
#: started wave of an active rollout plan of the pilot, during the rollout.
_STILL_OPEN = """
    WHERE EXISTS (SELECT 1 FROM form_links WHERE id = :link_id AND revoked_at IS NULL)
      AND EXISTS (
          SELECT 1 FROM feedback_forms
          WHERE id = :form_id AND is_current AND revision = :form_revision
      )
      AND (
          EXISTS (
              SELECT 1 FROM pilots
              WHERE id = :pilot_id
                AND (status = :running OR (status = :draft AND pre_start <= :today))
          )
          OR EXISTS (
              SELECT 1 FROM wave_sites
              JOIN waves ON waves.id = wave_sites.wave_id
              JOIN rollout_plans ON rollout_plans.id = wave_sites.plan_id
              WHERE wave_sites.site_id = :site_id
                AND rollout_plans.pilot_id = :pilot_id
                AND rollout_plans.status = :plan_active
                AND waves.status IN (:wave_live, :wave_held, :wave_passed)
          )
      )"""


def _response_insert(*, guarded: bool) -> str:
    """The response row, skipped when its idempotency key exists (``ON CONFLICT``)."""
    columns = ", ".join(_RESPONSE_COLUMNS)
    values = ", ".join(f":{name}" for name in _RESPONSE_COLUMNS)
    source = f"SELECT {values}{_STILL_OPEN}" if guarded else f"VALUES ({values})"
    return (
        f"INSERT INTO feedback_responses ({columns}) {source}\n"
        "    ON CONFLICT (idempotency_key) DO NOTHING\n"
        "    RETURNING id"
    )


#: PostgreSQL: the answers and their comment tags, chained to the response by CTEs. The
#: answers and tags travel as two JSON documents (see :func:`_answer_documents`): one text
#: parameter each is far cheaper for the driver to send than seven typed arrays.
_POSTGRESQL_CHAIN = """
WITH response AS (
    {response}
), answers AS (
    INSERT INTO feedback_answers (
        response_id, question_key, question_type, value_num, value_text, value_choices
    )
    SELECT response.id, a.k, a.t, a.n, a.x, a.c
    FROM response,
         json_to_recordset(CAST(:answers AS json))
         AS a(k varchar(40), t varchar(20), n double precision, x text, c json)
    RETURNING id, question_key
), tags AS (
    INSERT INTO comment_tags (answer_id, tag, is_automatic)
    SELECT answers.id, t.g, true
    FROM answers
    JOIN json_to_recordset(CAST(:tags AS json)) AS t(k varchar(40), g varchar(60))
      ON t.k = answers.question_key
)
SELECT id FROM response
"""

#: SQLite, where a CTE cannot insert: the answers of one response in one statement, and
#: their tags (found by response and question key, which is unique) in one more.
_SQLITE_ANSWERS = """
INSERT INTO feedback_answers (
    response_id, question_key, question_type, value_num, value_text, value_choices
)
SELECT :response_id, json_extract(a.value, '$.k'), json_extract(a.value, '$.t'),
       json_extract(a.value, '$.n'), json_extract(a.value, '$.x'),
       json_extract(a.value, '$.c')
FROM json_each(:answers) AS a
"""
_SQLITE_TAGS = """
INSERT INTO comment_tags (answer_id, tag, is_automatic)
SELECT fa.id, json_extract(t.value, '$.g'), 1
FROM json_each(:tags) AS t
JOIN feedback_answers AS fa
  ON fa.response_id = :response_id AND fa.question_key = json_extract(t.value, '$.k')
"""


@cache
def _statements(dialect: str, guarded: bool) -> dict[str, Any]:
    """The writer's statements, built once per process (the public form's hot path).

    Parameters carry the columns' types, so PostgreSQL gets typed parameters and enums
    and times are converted exactly as the ORM does. On PostgreSQL one statement stores the
    response, its answers and their tags (one round trip); on SQLite the answers and tags
    follow in one statement each.
    """
    responses = FeedbackResponse.__table__
    typed = [bindparam(name, type_=responses.c[name].type) for name in _RESPONSE_COLUMNS]
    if guarded:
        status = Pilot.__table__.c.status.type
        plan_status = RolloutPlan.__table__.c.status.type
        wave_status = Wave.__table__.c.status.type
        typed += [
            bindparam("form_revision", type_=Integer()),
            bindparam("running", PilotStatus.RUNNING, type_=status),
            bindparam("draft", PilotStatus.DRAFT, type_=status),
            bindparam("today", type_=Date()),
            bindparam("plan_active", PlanStatus.ACTIVE, type_=plan_status),
            bindparam("wave_live", WaveStatus.LIVE, type_=wave_status),
            bindparam("wave_held", WaveStatus.HELD, type_=wave_status),
            bindparam("wave_passed", WaveStatus.PASSED, type_=wave_status),
        ]
    response_sql = _response_insert(guarded=guarded)
    if dialect == "postgresql":
        typed += [bindparam("answers", type_=Text()), bindparam("tags", type_=Text())]
        response_sql = _POSTGRESQL_CHAIN.format(response=response_sql.replace("\n", "\n    "))
    return {
        "response": text(response_sql).bindparams(*typed),
        "existing": select(responses.c.id).where(responses.c.idempotency_key == bindparam("key")),
        "answers": text(_SQLITE_ANSWERS),
        "tags": text(_SQLITE_TAGS),
    }


def _answer_documents(
    answer_rows: list[dict[str, Any]], analysed: dict[str, themes.Analysis]
) -> dict[str, str | None]:
    """The answers and their automatic tags as two JSON documents (keys kept short).

    Each answer is ``{"k": key, "t": type, "n": number, "x": text, "c": choices}`` with
    absent values left out (stored as NULL); each tag is ``{"k": key, "g": tag}``. ``tags``
    is None when there are none, so that SQLite can skip its statement.
    """
    answers = []
    for row in answer_rows:
        item: dict[str, Any] = {"k": row["question_key"], "t": row["question_type"].value}
        for short, column in (("n", "value_num"), ("x", "value_text"), ("c", "value_choices")):
            if row[column] is not None:
                item[short] = row[column]
        answers.append(item)
    tags = [{"k": key, "g": tag} for key, a in analysed.items() for tag in a.themes]
    return {
        "answers": json.dumps(answers, ensure_ascii=False),
        "tags": json.dumps(tags, ensure_ascii=False) if tags else None,
    }


def _answer_rows(
    form: FeedbackForm | FormDefinition, answers: dict[str, Any], segment: str | None
) -> tuple[list[dict[str, Any]], dict[str, str], str | None]:
    """The answers as table rows, the free texts (masked) by question key, and the
    respondent's segment (from a question marked ``segment``, else as given)."""
    questions = question_map(form)
    rows: list[dict[str, Any]] = []
    texts: dict[str, str] = {}
    for key, value in answers.items():
        q = questions.get(key)
        if q is None:
            continue
        kind = QuestionType(q["type"])
        row: dict[str, Any] = {
            "question_key": key,
            "question_type": kind,
            "value_num": None,
            "value_text": None,
            "value_choices": None,
        }
        if kind in (QuestionType.RATING, QuestionType.NPS):
            row["value_num"] = float(value)
        elif kind is QuestionType.YES_NO:
            row["value_num"] = 1.0 if value else 0.0
        elif kind in (QuestionType.SINGLE_CHOICE, QuestionType.MULTI_CHOICE):
            row["value_choices"] = list(value)
            if q.get("segment") and value:
                segment = str(value[0])[:30]
        else:
            row["value_text"] = texts[key] = mask(str(value))
        rows.append(row)
    return rows, texts, segment


def submit_response(
    form: FeedbackForm | FormDefinition,
    site_id: int,
    answers: dict[str, Any],
    *,
    idempotency_key: str | None,
    channel: ResponseChannel = ResponseChannel.QR,
    language: str | None = None,
    link: FormLink | PublicTarget | None = None,
    submitted_at: datetime | None = None,
    segment: str | None = None,
    guarded: bool = False,
    connection: Connection | None = None,
) -> Submission:
    """Store one response whose ``answers`` came from :func:`clean_answers` (text masked).

    The idempotency key makes a double tap or a resend store one response: a second call with
    the same key returns the first response with ``created=False``. There is no look-up first:
    the unique index on the key decides, also when two requests race (the later insert waits
    for the earlier transaction and then skips its row). Free text is masked here again, so
    no caller can store it unmasked.

    With ``guarded`` (the public form; ``link`` required) the response is stored only if the
    link is still active, ``form`` is still the current version at the same revision and
    the pilot still accepts answers, checked in the same statement; otherwise
    :class:`StaleTarget` is raised and nothing is stored.

    The statements run on the session's connection, or on ``connection`` when given (the
    public form writes on a Core transaction of its own and skips the ORM session).
    """
    answer_rows, texts, segment = _answer_rows(form, answers, segment)
    headline = headline_key(form)
    rating = answers.get(headline) if headline else None
    analysed = {key: themes.analyse(text) for key, text in texts.items()}
    flagged = (
        any(themes.flag_from(a, rating) for a in analysed.values())
        if analysed
        else themes.is_strongly_negative(None, rating)
    )
    params: dict[str, Any] = {
        "form_id": form.id,
        "pilot_id": form.pilot_id,
        "site_id": site_id,
        "link_id": link.id if link is not None else None,
        "audience": form.audience,
        "channel": channel,
        "language": language,
        "idempotency_key": idempotency_key,
        "submitted_at": submitted_at or clock.utc_now(),
        "segment": segment[:30] if segment else None,
        "is_flagged_negative": flagged,
    }
    if guarded:
        if link is None:
            raise ValueError("a guarded write needs the link")
        params["form_revision"] = form.revision
        params["today"] = clock.today()
    if connection is None:
        connection = db.session.connection()
    dialect = connection.dialect.name
    statements = _statements(dialect, guarded)
    documents = _answer_documents(answer_rows, analysed)
    if dialect == "postgresql":
        params.update(answers=documents["answers"], tags=documents["tags"] or "[]")
    response_id = connection.execute(statements["response"], params).scalar()
    if response_id is not None:
        if dialect != "postgresql":
            about = {"response_id": response_id}
            connection.execute(statements["answers"], {**about, "answers": documents["answers"]})
            if documents["tags"] is not None:
                connection.execute(statements["tags"], {**about, "tags": documents["tags"]})
        return Submission(response_id, True)
    existing = None
    if idempotency_key:
        existing = connection.execute(statements["existing"], {"key": idempotency_key}).scalar()
    if existing is not None:
        return Submission(existing, False)
    if guarded:
        raise StaleTarget()
    raise FeedbackError(_("The response could not be stored. Please send it again."))
