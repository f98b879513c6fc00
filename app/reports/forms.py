"""Forms of the reports area."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField, SubmitField, TextAreaField, widgets
from wtforms.validators import DataRequired, Length, Optional

from app.core.formfields import OnceFormMixin, choices
from app.core.labels import EXPLORATION_METHOD_LABELS, choices_for
from app.models import Decision

COMMENT_MAX = 4000


class CreateReportForm(OnceFormMixin, FlaskForm):
    """Create a snapshot of the pre-registered analysis (no fields: the design decides)."""

    submit = SubmitField(_l("Create report"))


class ExploreForm(OnceFormMixin, FlaskForm):
    """An analyst's exploration: another headline estimator and/or a subset of metrics."""

    method = SelectField(
        _l("Headline estimator"),
        choices=choices(EXPLORATION_METHOD_LABELS.items()),
        validators=[DataRequired()],
    )
    metrics = SelectMultipleField(
        _l("Metrics"),
        widget=widgets.ListWidget(prefix_label=False),
        option_widget=widgets.CheckboxInput(),
        validators=[DataRequired(message=_l("Pick at least one metric."))],
    )
    submit = SubmitField(_l("Run exploration"))


class ReviewForm(FlaskForm):
    """Approve (recording the pilot's decision) or request changes, with a comment."""

    decision = SelectField(
        _l("Decision for the pilot"),
        choices=choices(choices_for(Decision)),
        validators=[Optional()],
    )
    comment = TextAreaField(_l("Comment"), validators=[Length(max=COMMENT_MAX)])
    approve = SubmitField(_l("Approve and record the decision"))
    request_changes = SubmitField(_l("Request changes"))


class PdfForm(FlaskForm):
    """The PDF button: renders the report's PDF in a background job (CSRF only)."""
