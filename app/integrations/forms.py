"""Forms of the integrations pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length

from app.core.formfields import OnceFormMixin


class TokenForm(OnceFormMixin, FlaskForm):
    name = StringField(
        _l("Integration name"),
        validators=[DataRequired(), Length(max=120)],
        description=_l("Which system uses it, e.g. 'POS export, East region'."),
    )
    submit = SubmitField(_l("Create token"))


class RevokeForm(FlaskForm):
    submit = SubmitField(_l("Revoke"))
