from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, ValidationError

from app.auth.accounts import AccountError, checked_email


def account_email(form, field) -> None:
    """The one e-mail rule of :func:`app.auth.accounts.checked_email`, as a form validator."""
    try:
        checked_email(field.data or "")
    except AccountError as exc:
        raise ValidationError(exc.message) from exc


class LoginForm(FlaskForm):
    email = StringField(_l("E-mail"), validators=[DataRequired(), account_email, Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])
    remember = BooleanField(_l("Remember me"))
    next = HiddenField()
    submit = SubmitField(_l("Log in"))
