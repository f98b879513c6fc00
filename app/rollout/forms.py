"""Forms of the rollout area."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from app.core.formfields import FiniteFloatField, OnceFormMixin, choices
from app.core.labels import (
    SIGNOFF_ROLE_LABELS,
    SITE_ATTRIBUTE_LABELS,
    WAVE_DECISION_LABELS,
    WAVE_SIZING_WORDS,
)

#: The site characteristics the planner can predict a site's effect by.
PREDICTORS = ("digital_readiness", "management_score", "senior_share", "size_tier", "region")
REASON_REQUIRED = _l("Give a reason: it is kept in the audit log.")


def _required_in(low, high, missing, out_of_range) -> list:
    """Validators of a number that must be given and lie between ``low`` and ``high``."""
    return [InputRequired(message=missing), NumberRange(min=low, max=high, message=out_of_range)]


#: The checks of the plan's numbers, each with its own words.
CAPACITY = _required_in(0.5, 500, _l("Give the weekly capacity."), _l("Between 0.5 and 500."))
WEIGHT = _required_in(
    0, 100, _l("Give a weight (0 to leave the component out)."), _l("Between 0 and 100.")
)
HOLDBACK = _required_in(0, 50, _l("Give a share (0 for none)."), _l("Between 0 and 50."))
SEED = _required_in(0, 2**31 - 1, _l("Give a seed."), _l("A whole number from 0."))
MENTEES = _required_in(0, 20, _l("Give a limit."), _l("Between 0 and 20."))
DAYS_LIVE = _required_in(1, 120, _l("Give a number of days."), _l("Between 1 and 120."))
CHECKLIST_SHARE = _required_in(0, 100, _l("Give a share."), _l("Between 0 and 100."))
REASON = [DataRequired(message=REASON_REQUIRED), Length(max=500)]


def _weight(label):
    return FiniteFloatField(label, default=None, validators=WEIGHT)


class GeneratePlanForm(OnceFormMixin, FlaskForm):
    name = StringField(_l("Plan name"), validators=[Optional(), Length(max=200)])
    scope = SelectMultipleField(
        _l("Sites in scope"),
        coerce=int,
        validators=[DataRequired(message=_l("Choose at least one site."))],
        description=_l("All sites that did not run the pilot are chosen by default."),
    )
    start_date = DateField(
        _l("First go-live"), validators=[DataRequired(message=_l("Choose a start date."))]
    )
    sites_per_week = FiniteFloatField(
        _l("Capacity (sites per week)"),
        default=4.0,
        validators=CAPACITY,
        description=_l(
            "How many sites the support team can take live per week. A small site counts 1, "
            "a medium site 1.5 and a large site 2."
        ),
    )
    sizing = RadioField(
        _l("Waves by"),
        choices=choices(WAVE_SIZING_WORDS.items()),
        default="count",
    )
    wave_count = IntegerField(
        _l("Number of waves"),
        default=4,
        validators=[Optional(), NumberRange(min=1, max=52, message=_l("Between 1 and 52."))],
    )
    wave_size = IntegerField(
        _l("Sites per wave"),
        validators=[Optional(), NumberRange(min=1, max=500, message=_l("Between 1 and 500."))],
    )
    keep_regions = BooleanField(_l("Keep each wave within one region"))
    weight_management = _weight(_l("Weight: management score"))
    weight_digital = _weight(_l("Weight: digital readiness"))
    weight_capability = _weight(_l("Weight: staff capability"))
    weight_attitude = _weight(_l("Weight: staff attitude (staff form)"))
    randomize = BooleanField(
        _l("Random order within readiness tiers"),
        description=_l(
            "Randomising the order within each tier and holding a few sites back turns the "
            "rollout into a stepped-wedge experiment: sites that have not started yet are a "
            "fair comparison for those that have."
        ),
    )
    holdback_percent = IntegerField(
        _l("Holdback (percent of sites)"), default=0, validators=HOLDBACK
    )
    seed = IntegerField(
        _l("Random seed"),
        default=1,
        validators=SEED,
        description=_l("The same seed and settings give the same plan."),
    )
    mentor_limit = IntegerField(_l("Mentees per mentor per wave"), default=2, validators=MENTEES)
    predict_by = SelectField(
        _l("Predict the effect by"),
        choices=choices((key, SITE_ATTRIBUTE_LABELS[key]) for key in PREDICTORS),
        default="digital_readiness",
    )
    min_days_live = IntegerField(_l("Gate: minimum days live"), default=14, validators=DAYS_LIVE)
    margin = FiniteFloatField(
        _l("Gate: non-inferiority margin of the primary metric"),
        validators=[Optional(), NumberRange(min=0, message=_l("Zero or more."))],
        description=_l(
            "In the metric's units. Empty: the pilot's margin or half its minimum effect."
        ),
    )
    checklist_percent = IntegerField(
        _l("Gate: checklist completion (%)"), default=100, validators=CHECKLIST_SHARE
    )
    signoff_role = SelectField(
        _l("Gate: signed off by"),
        choices=choices(SIGNOFF_ROLE_LABELS.items()),
        default="change_lead",
    )
    submit = SubmitField(_l("Propose the plan"))

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if self.sizing.data == "size" and not self.wave_size.data:
            self.wave_size.errors = [
                *self.wave_size.errors,
                _l("Give the number of sites per wave."),
            ]
            ok = False
        if self.sizing.data != "size" and not self.wave_count.data:
            self.wave_count.errors = [*self.wave_count.errors, _l("Give the number of waves.")]
            ok = False
        weights = [
            self.weight_management.data,
            self.weight_digital.data,
            self.weight_capability.data,
            self.weight_attitude.data,
        ]
        if all(w is not None for w in weights) and sum(weights) <= 0:
            self.weight_management.errors = [
                *self.weight_management.errors,
                _l("At least one weight must be above zero."),
            ]
            ok = False
        return ok


class MoveSiteForm(FlaskForm):
    target = SelectField(_l("Move to"), validators=[DataRequired(message=_l("Choose a wave."))])
    reason = StringField(_l("Reason"), validators=REASON)
    submit = SubmitField(_l("Move"))


class MentorForm(FlaskForm):
    mentor = SelectField(_l("Mentor"), validate_choice=False)
    reason = StringField(_l("Reason"), validators=REASON)
    submit = SubmitField(_l("Save mentor"))


class ChecklistForm(FlaskForm):
    key = HiddenField(validators=[DataRequired()])
    done = HiddenField(validators=[DataRequired()])


class WaveDatesForm(FlaskForm):
    start_date = DateField(_l("Start"), validators=[DataRequired(message=_l("Choose a date."))])
    end_date = DateField(_l("Gate due"), validators=[DataRequired(message=_l("Choose a date."))])
    reason = StringField(_l("Reason"), validators=REASON)
    submit = SubmitField(_l("Change dates"))


class EvaluateForm(FlaskForm):
    as_of = DateField(_l("Data up to"), validators=[Optional()])
    submit = SubmitField(_l("Evaluate the gate"))


class DecisionForm(FlaskForm):
    action = SelectField(
        _l("Decision"),
        choices=choices(WAVE_DECISION_LABELS.items()),
    )
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=2000)])
    submit = SubmitField(_l("Record the decision"))


class SignoffForm(FlaskForm):
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])
    submit = SubmitField(_l("Sign the gate off"))


class CancelForm(FlaskForm):
    reason = StringField(_l("Reason"), validators=REASON)
    submit = SubmitField(_l("Cancel the plan"))


class PlanStepForm(FlaskForm):
    """The plan's next step (activate, sign the rollout off): a button with an optional note."""

    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])
