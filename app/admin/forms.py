from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import BooleanField, PasswordField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.auth.forms import account_email
from app.core.formfields import OnceFormMixin, choices
from app.core.i18n import SUPPORTED
from app.core.labels import choices_for
from app.extensions import db
from app.models import Role, Site, User

MIN_PASSWORD = 10


class UserForm(OnceFormMixin, FlaskForm):
    """Create or edit an account. A staff account must be bound to one site."""

    email = StringField(_l("E-mail"), validators=[DataRequired(), account_email, Length(max=254)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    role = SelectField(_l("Role"), choices=choices(choices_for(Role)))
    site_id = SelectField(_l("Site (staff only)"), coerce=int, validators=[Optional()])
    locale = SelectField(
        _l("Language"),
        choices=choices([("", _l("From the browser")), *SUPPORTED.items()]),
    )
    password = PasswordField(
        _l("Password"),
        validators=[
            Optional(),
            Length(min=MIN_PASSWORD, max=200, message=_l("Use at least 10 characters.")),
        ],
        description=_l("At least 10 characters. Leave empty to keep the current password."),
    )
    is_active = BooleanField(_l("Active"), default=True)
    submit = SubmitField(_l("Save"))

    def __init__(self, *args, editing: User | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.editing = editing
        sites = db.session.scalars(select(Site).order_by(Site.code)).all()
        self.site_id.choices = choices([(0, "—")] + [(s.id, f"{s.code} · {s.name}") for s in sites])

    def validate_email(self, field) -> None:
        email = field.data.strip().lower()
        existing = db.session.scalar(select(User).where(func.lower(User.email) == email))
        if existing is not None and existing is not self.editing:
            raise ValidationError(_l("Another account already uses this e-mail."))

    def validate_site_id(self, field) -> None:
        if self.role.data == Role.STAFF.value and not field.data:
            raise ValidationError(_l("A staff account must be bound to a site."))

    def validate_password(self, field) -> None:
        if self.editing is None and not field.data:
            raise ValidationError(_l("A new account needs a password."))
