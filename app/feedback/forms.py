"""Forms of the feedback area.

The answer pages (the public QR form and the logged-in staff form) have no form class: their
questions come from the form version and are validated by
``app.feedback.questionnaires.clean_answers`` (one validator for the web and imports), their
idempotency key by ``app.feedback.questionnaires.idempotency_key_error``, and their CSRF token by
``CSRFProtect`` before the view runs. ``HONEYPOT_FIELD`` names the field bots fill in.
"""

from __future__ import annotations

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
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from app.core.formfields import choices
from app.core.labels import AUDIENCE_FORM_LABELS, choices_for
from app.feedback.questionnaires import MAX_TAG_LENGTH
from app.models import Audience, QuestionType

HONEYPOT_FIELD = "website"


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
    mapping = TextAreaField(
        _l("Column mapping (optional), one per line: field = column in your file"),
        validators=[Optional(), Length(max=4000)],
    )
    submit = SubmitField(_l("Import"))
