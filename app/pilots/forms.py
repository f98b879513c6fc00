"""Forms of the pilot design wizard."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import (
    AnyOf,
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from app.auth.permissions import PILOT_EDITORS
from app.core.formfields import FiniteFloatField, OnceFormMixin, choices
from app.core.labels import (
    CONTROL_RATIO_LABELS,
    DIRECTION_WORDS,
    PROBLEM_DIRECTION_LABELS,
    SITE_FIELD_LABELS,
    STRATIFY_LABELS,
    choices_for,
)
from app.extensions import db
from app.models import Arm, DesignMethod, MetricKind, User

#: The site characteristics a proposal can match or stratify on.
MATCH_ATTRIBUTES = ("region", "size_tier", "management_score", "digital_readiness", "senior_share")

REASON_HELP = _l(
    "This pilot has started and its design is pre-registered. Say why it must change; the "
    "change is recorded as a deviation and shown in the significance report."
)


class ReasonMixin:
    reason = TextAreaField(
        _l("Reason for changing the pre-registered design"),
        validators=[Optional(), Length(max=2000)],
        description=REASON_HELP,
    )


class DescribeForm(OnceFormMixin, ReasonMixin, FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    change_description = TextAreaField(
        _l("The process change"),
        validators=[Optional(), Length(max=5000)],
        description=_l("What will staff do differently at the pilot sites?"),
    )
    hypothesis = TextAreaField(
        _l("Hypothesis"),
        validators=[Optional(), Length(max=5000)],
        description=_l("What you expect to happen, and by how much, e.g. 'waits fall by 2 min'."),
    )
    owner_id = SelectField(_l("Owner"), coerce=int, validate_choice=False, validators=[Optional()])
    save = SubmitField(_l("Save draft"))
    next = SubmitField(_l("Save and continue"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        owners = db.session.scalars(
            select(User)
            .where(User.role.in_(PILOT_EDITORS), User.is_active_account)
            .order_by(User.name)
        )
        self.owner_id.choices = choices((u.id, u.name) for u in owners)

    def validate_owner_id(self, field) -> None:
        if field.data and field.data not in {c.value for c in field.choices}:
            raise ValidationError(_l("Choose an admin or change lead as owner."))


class MetricsForm(ReasonMixin, FlaskForm):
    """Alpha and the minimum effect; each metric's role, margin and direction come as
    ``role_<id>``, ``margin_<id>``, ``effect_<id>``, ``direction_<id>`` fields."""

    alpha = FiniteFloatField(
        _l("Significance level (alpha)"),
        default=0.05,
        validators=[InputRequired(), NumberRange(min=0.001, max=0.2)],
        description=_l("The false-positive rate you accept; 0.05 is customary."),
    )
    min_effect = FiniteFloatField(
        _l("Minimum effect worth acting on (primary metric, in its units)"),
        validators=[Optional(), NumberRange(min=0)],
        description=_l("The smallest change that would justify rolling out, e.g. 2 (minutes)."),
    )
    save = SubmitField(_l("Save draft"))
    next = SubmitField(_l("Save and continue"))


class DatesForm(ReasonMixin, FlaskForm):
    pre_start = DateField(
        _l("Pre-period start"),
        validators=[InputRequired()],
        description=_l("Data from this day until the start is the baseline (4 weeks is common)."),
    )
    start_date = DateField(_l("Pilot start"), validators=[InputRequired()])
    end_date = DateField(_l("Planned end"), validators=[InputRequired()])
    save = SubmitField(_l("Save draft"))
    next = SubmitField(_l("Save and continue"))


class ProposeForm(ReasonMixin, FlaskForm):
    route = SelectField(_l("How to choose"), choices=choices(choices_for(DesignMethod)))
    n_pilot = IntegerField(
        _l("Pilot sites"), default=6, validators=[InputRequired(), NumberRange(min=2, max=500)]
    )
    ratio = SelectField(
        _l("Control sites"), coerce=int, choices=choices(CONTROL_RATIO_LABELS.items())
    )
    problem_metric = SelectField(_l("Where the problem is clearly present (metric)"))
    problem_direction = SelectField(
        _l("The problem is"),
        choices=choices(PROBLEM_DIRECTION_LABELS.items()),
    )
    pool_share = FiniteFloatField(
        _l("Pool: the worst share of sites on that metric"),
        default=0.5,
        validators=[Optional(), NumberRange(min=0.05, max=1)],
        description=_l("0.5 = the worst half. Pilot and control sites both come from the pool."),
    )
    threshold = FiniteFloatField(
        _l("Or: the sites at or past this value"),
        validators=[Optional()],
        description=_l("Leave empty to use the share above."),
    )
    exclude = SelectMultipleField(_l("Sites that may not take part"), validate_choice=False)
    max_volume_share = FiniteFloatField(
        _l("At most this share of total volume at risk"),
        default=0.15,
        validators=[InputRequired(), NumberRange(min=0.01, max=1)],
    )
    match_on = SelectMultipleField(
        _l("Match on"),
        choices=choices((key, SITE_FIELD_LABELS[key]) for key in MATCH_ATTRIBUTES),
        default=["region"],
        description=_l("Region is matched exactly: a pair never spans two regions."),
    )
    stratify_by = SelectField(
        _l("Spread over (random draw)"),
        choices=choices(STRATIFY_LABELS.items()),
    )
    seed = IntegerField(
        _l("Random seed"), default=0, validators=[Optional(), NumberRange(min=0, max=2**31 - 1)]
    )
    propose = SubmitField(_l("Propose sites"))


class FixForm(ReasonMixin, FlaskForm):
    """One of the engine's fixes, as a one-click button: re-runs the proposal with it."""

    code = HiddenField(
        validators=[DataRequired(), AnyOf(["widen_pool", "fewer_pilots", "drop_match"])]
    )
    value = HiddenField(validators=[DataRequired(), Length(max=80)])


class SwapForm(ReasonMixin, FlaskForm):
    site_id = IntegerField(validators=[InputRequired(), NumberRange(min=1, max=2**31 - 1)])


class NewMetricForm(OnceFormMixin, FlaskForm):
    """A metric the lead defines in the wizard; it works like any other afterwards."""

    name = StringField(
        _l("Name"),
        validators=[DataRequired(), Length(max=120)],
        description=_l("e.g. QR ordering adoption among customers 60+ (%)"),
    )
    name_zh = StringField(
        _l("Name in Chinese (optional)"), validators=[Optional(), Length(max=120)]
    )
    unit = StringField(
        _l("Unit"),
        validators=[DataRequired(), Length(max=30)],
        description=_l("e.g. %, min, CNY, orders"),
    )
    kind = SelectField(_l("Kind"), choices=choices(choices_for(MetricKind)))
    better_direction = SelectField(
        _l("Better when it"),
        choices=choices((d.value, label) for d, label in DIRECTION_WORDS.items()),
    )
    min_value = FiniteFloatField(
        _l("Smallest possible value (optional)"),
        validators=[Optional(), NumberRange(min=-1e12, max=1e12)],
        description=_l("Imports refuse a day below it, e.g. 0 for a time or a count."),
    )
    max_value = FiniteFloatField(
        _l("Largest possible value (optional)"),
        validators=[Optional(), NumberRange(min=-1e12, max=1e12)],
        description=_l("Imports refuse a day above it, e.g. 1 for a share, 100 for a percentage."),
    )
    define = SubmitField(_l("Add the metric"))

    def validate_max_value(self, field) -> None:
        low = self.min_value.data
        if field.data is not None and low is not None and field.data < low:
            raise ValidationError(str(_l("The largest value must not be below the smallest.")))


class AddSiteForm(ReasonMixin, FlaskForm):
    site_id = SelectField(_l("Site"), coerce=int)
    arm = SelectField(_l("As"), choices=choices(choices_for(Arm)))
    add = SubmitField(_l("Add"))


class RemoveSiteForm(ReasonMixin, FlaskForm):
    site_id = IntegerField(validators=[InputRequired(), NumberRange(min=1, max=2**31 - 1)])


class StartForm(FlaskForm):
    start = SubmitField(_l("Start the pilot and freeze its design"))


class ArchiveForm(FlaskForm):
    """Archive a pilot, or bring an archived one back (a button: CSRF only)."""


class DeletePilotForm(FlaskForm):
    confirm = BooleanField(
        _l("Yes, delete this draft and everything set up for it"),
        validators=[DataRequired(message=_l("Tick the box to confirm the deletion."))],
    )
    delete = SubmitField(_l("Delete the draft"))
