"""Forms of the site registry."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from sqlalchemy import select
from wtforms import BooleanField, IntegerField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from app.core.formfields import FiniteFloatField, choices
from app.core.labels import SITE_FIELD_LABELS, choices_for
from app.extensions import db
from app.models import Site, SizeTier

UPLOAD_TYPES = ["csv", "xlsx", "txt"]


class SiteForm(FlaskForm):
    code = StringField(SITE_FIELD_LABELS["code"], validators=[DataRequired(), Length(max=40)])
    name = StringField(SITE_FIELD_LABELS["name"], validators=[DataRequired(), Length(max=200)])
    region = StringField(SITE_FIELD_LABELS["region"], validators=[DataRequired(), Length(max=80)])
    city = StringField(SITE_FIELD_LABELS["city"], validators=[Optional(), Length(max=80)])
    address = StringField(SITE_FIELD_LABELS["address"], validators=[Optional(), Length(max=500)])
    size_tier = SelectField(SITE_FIELD_LABELS["size_tier"], choices=choices(choices_for(SizeTier)))
    staff_count = IntegerField(
        SITE_FIELD_LABELS["staff_count"], validators=[Optional(), NumberRange(min=0, max=100_000)]
    )
    management_score = FiniteFloatField(
        SITE_FIELD_LABELS["management_score"],
        validators=[Optional(), NumberRange(min=0, max=100)],
        description=_l("0-100"),
    )
    digital_readiness = FiniteFloatField(
        SITE_FIELD_LABELS["digital_readiness"],
        validators=[Optional(), NumberRange(min=0, max=100)],
        description=_l("0-100"),
    )
    senior_share = FiniteFloatField(
        SITE_FIELD_LABELS["senior_share"],
        validators=[Optional(), NumberRange(min=0, max=1)],
        description=_l("Between 0 and 1, e.g. 0.25"),
    )
    daily_orders = FiniteFloatField(
        SITE_FIELD_LABELS["daily_orders"], validators=[Optional(), NumberRange(min=0)]
    )
    is_active = BooleanField(SITE_FIELD_LABELS["is_active"], default=True)
    submit = SubmitField(_l("Save"))

    def __init__(self, *args, editing: Site | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.editing = editing

    def validate_code(self, field) -> None:
        code = (field.data or "").strip()
        existing = db.session.scalar(select(Site).where(Site.code == code))
        if existing is not None and existing is not self.editing:
            raise ValidationError(_l("Another site already has this code."))


class UploadForm(FlaskForm):
    file = FileField(
        _l("File"),
        validators=[
            FileRequired(_l("Choose a file.")),
            FileAllowed(UPLOAD_TYPES, _l("Upload a CSV (.csv) or Excel (.xlsx) file.")),
        ],
        description=_l("CSV (UTF-8 or GBK) or Excel .xlsx; the first row holds the headers."),
    )
    submit = SubmitField(_l("Upload and preview"))
