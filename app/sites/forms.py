"""Forms of the site registry."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from sqlalchemy import select
from wtforms import BooleanField, IntegerField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from app.core.formfields import FiniteFloatField, choices
from app.extensions import db
from app.models import Site
from app.sites.registry import SIZE_LABELS

UPLOAD_TYPES = ["csv", "xlsx", "txt"]


class SiteForm(FlaskForm):
    code = StringField(_l("Site code"), validators=[DataRequired(), Length(max=40)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    region = StringField(_l("Region"), validators=[DataRequired(), Length(max=80)])
    city = StringField(_l("City"), validators=[Optional(), Length(max=80)])
    address = StringField(_l("Address"), validators=[Optional(), Length(max=500)])
    size_tier = SelectField(
        _l("Size tier"), choices=choices((t.value, label) for t, label in SIZE_LABELS.items())
    )
    staff_count = IntegerField(
        _l("Staff"), validators=[Optional(), NumberRange(min=0, max=100_000)]
    )
    management_score = FiniteFloatField(
        _l("Management score"),
        validators=[Optional(), NumberRange(min=0, max=100)],
        description=_l("0-100"),
    )
    digital_readiness = FiniteFloatField(
        _l("Digital readiness"),
        validators=[Optional(), NumberRange(min=0, max=100)],
        description=_l("0-100"),
    )
    senior_share = FiniteFloatField(
        _l("Senior customer share"),
        validators=[Optional(), NumberRange(min=0, max=1)],
        description=_l("Between 0 and 1, e.g. 0.25"),
    )
    daily_orders = FiniteFloatField(_l("Daily orders"), validators=[Optional(), NumberRange(min=0)])
    is_active = BooleanField(_l("Active"), default=True)
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
