"""Forms of the feedback area.

The answer pages (the public QR form and the logged-in staff form) use :class:`AnswerForm`,
built per form version by :func:`answer_form_for`: one field per question, plus the
idempotency key and the honeypot. Its answers are validated by
:func:`app.feedback.responses.clean_answers`, the one validator of the web forms and imports.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, ClassVar

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.core.formfields import choices
from app.core.labels import AUDIENCE_FORM_LABELS, choices_for
from app.feedback.responses import clean_answers, idempotency_key_error
from app.feedback.tagging import MAX_TAG_LENGTH
from app.models import Audience, QuestionType


class AnswerForm(FlaskForm):
    """The answers to one form version; subclasses made by :func:`answer_form_for` add a
    field ``q_<key>`` per question.

    The fields only carry what the phone sent: the questions' rules (required, ranges,
    options, text length, masking) are applied by :func:`clean_answers`, which imports use
    too, and its messages are put on the fields. After :meth:`validate`, ``answers`` holds
    the typed, masked answers. The CSRF token is checked once, by ``CSRFProtect`` before the
    view runs; the page renders it with ``csrf_token()``.
    """

    class Meta:
        csrf = False

    #: the form version's questions (set on the class made by :func:`answer_form_for`)
    definition: ClassVar[Any] = None

    # explicit labels: a field without one asks the catalogue for its name on every request
    idempotency_key = HiddenField("idempotency_key")
    # a field people never see (hidden by CSS, not by type=hidden); bots fill it in
    website = StringField("website")

    answers: dict[str, Any]

    @property
    def is_from_a_bot(self) -> bool:
        return bool((self.website.data or "").strip())

    def question_field(self, key: str) -> Any:
        return self[f"q_{key}"]

    def raw_answers(self) -> dict[str, Any]:
        """What was sent, per question key (lists for multiple choice)."""
        return {q["key"]: self.question_field(q["key"]).data for q in self.definition.questions}

    def validate_idempotency_key(self, field: HiddenField) -> None:
        problem = idempotency_key_error(field.data)
        if problem is not None:
            raise ValidationError(problem)

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        self.answers, problems = clean_answers(self.definition, self.raw_answers())
        for key, message in problems.items():
            field = self.question_field(key)
            field.errors = [*field.errors, message]
        return valid and not problems

    def question_errors(self) -> dict[str, str]:
        """The first message per question key, as the question list shows them."""
        return {
            q["key"]: self.question_field(q["key"]).errors[0]
            for q in self.definition.questions
            if self.question_field(q["key"]).errors
        }


def _question_field(question: dict[str, Any]) -> Any:
    if question["type"] == QuestionType.MULTI_CHOICE.value:
        # options are checked by clean_answers (it also accepts labels, as imports do)
        return SelectMultipleField(question["key"], validate_choice=False)
    return StringField(question["key"])


class _Version:
    """A form version's questions, equal to another when id and revision are (a new
    version has a new id; every in-place edit raises the revision)."""

    __slots__ = ("key", "questions")

    def __init__(self, definition: Any):
        self.key = (definition.id, getattr(definition, "revision", 0) or 0)
        self.questions = list(definition.questions)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Version) and other.key == self.key


@lru_cache(maxsize=512)
def _answer_form_class(version: _Version) -> type[AnswerForm]:
    fields = {f"q_{q['key']}": _question_field(q) for q in version.questions}
    name = "AnswerForm_{}_{}".format(*version.key)
    return type(name, (AnswerForm,), {"definition": version, **fields})


def answer_form_for(definition: Any) -> AnswerForm:
    """The answer form of a form version, bound to the request's data (its class is built
    once per version and revision)."""
    return _answer_form_class(_Version(definition))()


class QuestionRow(Form):
    """One question in the editor (a sub-form: the CSRF token lives on the parent)."""

    key = StringField(_l("Key"), validators=[Optional(), Length(max=40)])
    kind = SelectField(
        _l("Type"), choices=choices(choices_for(QuestionType)), validators=[Optional()]
    )
    label_en = StringField(_l("Question (English)"), validators=[Optional(), Length(max=300)])
    label_zh = StringField(_l("Question (Chinese)"), validators=[Optional(), Length(max=300)])
    required = BooleanField(_l("Required"))
    segment = BooleanField(_l("Respondent segment (e.g. age band)"))
    options = TextAreaField(
        _l("Options, one per line: value | English | 中文"),
        validators=[Optional(), Length(max=4000)],
    )
    remove = BooleanField(_l("Remove"))


class EditFormForm(FlaskForm):
    title_en = StringField(_l("Title (English)"), validators=[DataRequired(), Length(max=200)])
    title_zh = StringField(_l("Title (Chinese)"), validators=[DataRequired(), Length(max=200)])
    intro_en = TextAreaField(_l("Introduction (English)"), validators=[Length(max=2000)])
    intro_zh = TextAreaField(_l("Introduction (Chinese)"), validators=[Length(max=2000)])
    questions = FieldList(FormField(QuestionRow), min_entries=1, max_entries=40)
    submit = SubmitField(_l("Save questions"))


class ConfirmForm(FlaskForm):
    """A POST button (revoke, set up links): only the CSRF token."""

    submit = SubmitField(_l("Confirm"))


class TagForm(FlaskForm):
    tag = StringField(_l("Tag"), validators=[DataRequired(), Length(max=MAX_TAG_LENGTH)])
    remove = HiddenField()
    submit = SubmitField(_l("Add tag"))


class FlagForm(FlaskForm):
    flagged = HiddenField()
    submit = SubmitField(_l("Save"))


class ImportForm(FlaskForm):
    audience = SelectField(
        _l("Form"),
        choices=choices(choices_for(Audience, labels=AUDIENCE_FORM_LABELS)),
    )
    file = FileField(
        _l("CSV or Excel file"),
        validators=[
            FileRequired(message=_l("Choose a file.")),
            FileAllowed(["csv", "xlsx", "xlsm", "txt"], _l("Upload a .csv or .xlsx file.")),
        ],
    )
    submit = SubmitField(_l("Upload and preview"))
