"""Forms of the retros area."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.core.formfields import OnceFormMixin, choices
from app.core.labels import CONDITION_OPERATOR_LABELS, SITE_ATTRIBUTE_LABELS, choices_for
from app.models import ActionStatus, AdjustmentScope, RetroFormat
from app.retros.adjustments import CONDITION_ATTRIBUTES, normalise_condition
from app.retros.meetings import RetroError


class OpenRetroForm(FlaskForm):
    day = DateField(_l("Day"), validators=[DataRequired(message=_l("Choose a day."))])
    retro_format = SelectField(
        _l("Format"),
        choices=choices(choices_for(RetroFormat)),
        default=RetroFormat.WELL_PROBLEMS_IDEAS.value,
    )
    submit = SubmitField(_l("Open the retro"))


class VisibilityForm(FlaskForm):
    visible = BooleanField(
        _l("Staff at pilot sites may read this pilot's retros (never control-site staff)")
    )
    submit = SubmitField(_l("Save"))


class DetailsForm(FlaskForm):
    retro_format = SelectField(_l("Format"), choices=choices(choices_for(RetroFormat)))
    facilitator_id = SelectField(_l("Facilitator"), coerce=int, validators=[Optional()])
    attendees = StringField(_l("Attendees"), validators=[Optional(), Length(max=2000)])
    summary = TextAreaField(_l("Summary"), validators=[Optional(), Length(max=10000)])
    submit = SubmitField(_l("Save details"))

    def __init__(self, *args, users=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.facilitator_id.choices = choices([(0, "—")] + [(u.id, u.name) for u in users])


class ItemForm(OnceFormMixin, FlaskForm):
    category = SelectField(_l("Column"))
    text = TextAreaField(
        _l("Note"),
        validators=[DataRequired(message=_l("A note needs some text.")), Length(max=4000)],
    )
    site_ids = SelectMultipleField(_l("Sites"), coerce=int, validators=[Optional()])
    response_ids = SelectMultipleField(_l("Feedback comments"), coerce=int, validators=[Optional()])
    submit = SubmitField(_l("Add note"))

    def __init__(self, *args, category_choices=(), sites=(), comments=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.category.choices = choices(category_choices)
        self.site_ids.choices = choices((s.id, f"{s.code} · {s.name}") for s in sites)
        self.response_ids.choices = choices(
            (c.response_id, f"{c.site_code}: {c.text[:80]}") for c in comments
        )


class _OwnerAndDueDateForm(FlaskForm):
    """An action's owner (chosen from ``users``, or none) and due date."""

    owner_id = SelectField(_l("Owner"), coerce=int, validators=[Optional()])
    due_date = DateField(_l("Due date"), validators=[Optional()])

    def __init__(self, *args, users=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.owner_id.choices = choices([(0, "—")] + [(u.id, u.name) for u in users])


class ActionForm(OnceFormMixin, _OwnerAndDueDateForm):
    title = StringField(
        _l("Action"),
        validators=[DataRequired(message=_l("An action needs a title.")), Length(max=300)],
    )
    submit = SubmitField(_l("Add action"))


class UpdateActionForm(_OwnerAndDueDateForm):
    status = SelectField(
        _l("Status"),
        choices=choices(choices_for(ActionStatus, (ActionStatus.OPEN, ActionStatus.IN_PROGRESS))),
    )
    submit = SubmitField(_l("Save"))


class CloseActionForm(FlaskForm):
    status = RadioField(
        _l("Result"),
        choices=choices(choices_for(ActionStatus, (ActionStatus.DONE, ActionStatus.DROPPED))),
        default=ActionStatus.DONE.value,
    )
    outcome = TextAreaField(
        _l("Outcome"),
        validators=[
            DataRequired(message=_l("Say briefly what came of the action.")),
            Length(max=2000),
        ],
        description=_l("One or two sentences: what was done, what changed."),
    )
    submit = SubmitField(_l("Close the action"))


class AdjustmentForm(OnceFormMixin, FlaskForm):
    title = StringField(
        _l("Adjustment"),
        validators=[DataRequired(message=_l("An adjustment needs a title.")), Length(max=200)],
    )
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=4000)])
    effective_date = DateField(
        _l("Effective from"), validators=[DataRequired(message=_l("Choose a date."))]
    )
    scope = RadioField(
        _l("Applies to"),
        choices=choices(choices_for(AdjustmentScope)),
        default=AdjustmentScope.ALL_PILOT_SITES.value,
    )
    site_ids = SelectMultipleField(_l("Which pilot sites"), coerce=int, validators=[Optional()])
    attribute = SelectField(
        _l("Site attribute"),
        choices=choices(
            [("", "—")] + [(key, SITE_ATTRIBUTE_LABELS[key]) for key in CONDITION_ATTRIBUTES]
        ),
        validators=[Optional()],
    )
    op = SelectField(
        _l("Comparison"), choices=choices(CONDITION_OPERATOR_LABELS.items()), default=">="
    )
    value = StringField(
        _l("Value"),
        validators=[Optional(), Length(max=60)],
        description=_l("Shares as a percentage (30 %) or a fraction (0.3)."),
    )
    is_reusable_practice = BooleanField(
        _l("Keep as a reusable practice for the rollout"), default=True
    )
    submit = SubmitField(_l("Record the adjustment"))

    def __init__(self, *args, sites=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.site_ids.choices = choices((s.id, f"{s.code} · {s.name}") for s in sites)
        self.condition: dict | None = None

    def validate_site_ids(self, field) -> None:
        if self.scope.data == AdjustmentScope.SELECTED_SITES.value and not field.data:
            raise ValidationError(_l("Choose at least one pilot site."))

    def validate_value(self, field) -> None:
        if self.scope.data != AdjustmentScope.CONDITION.value:
            return
        try:
            self.condition = normalise_condition(self.attribute.data, self.op.data, field.data)
        except RetroError as exc:
            raise ValidationError(str(exc)) from exc
