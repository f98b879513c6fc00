"""Small helpers shared by the forms of every area."""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Iterable
from typing import Any

from flask import flash, redirect, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.wrappers import Response
from wtforms import FloatField, HiddenField
from wtforms.fields.choices import SelectChoice

from app.core import once


def choices(pairs: Iterable[tuple[Any, Any]]) -> list[SelectChoice]:
    """``[(value, label), …]`` as WTForms 3.3 ``SelectChoice`` objects."""
    return [SelectChoice(value, label) for value, label in pairs]


class FiniteFloatField(FloatField):
    """A number field that refuses ``inf``, ``nan`` and numbers too large for a float.

    Python's ``float()`` accepts those words, so a plain ``FloatField`` with only a lower bound
    would let "inf" through into the design or the site registry.
    """

    def process_formdata(self, valuelist: list[Any]) -> None:
        super().process_formdata(valuelist)
        if self.data is not None and not math.isfinite(self.data):
            self.data = None
            raise ValueError(str(_l("Enter an ordinary number, such as 12 or 0.5.")))


#: what a submission key looks like (``secrets.token_urlsafe(24)``); anything else is ignored
SUBMISSION_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")


class SubmissionKeyField(HiddenField):
    """A hidden one-time key, fresh on every rendered page (see ``app.core.once``).

    A sent form keeps the key it was sent with, even when it comes back with errors; a form
    sent without a well-formed key has none (``data`` is ``None``) and is not deduplicated.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("default", lambda: secrets.token_urlsafe(24))
        super().__init__(*args, **kwargs)

    def process_formdata(self, valuelist: list[Any]) -> None:
        sent = valuelist[0] if valuelist else ""
        self.data = sent if SUBMISSION_KEY.fullmatch(sent or "") else None


class OnceFormMixin:
    """A back-office create form that acts once however often it is sent (``app.core.once``).

    A form sent without a key (a script, an old page) is not deduplicated.
    """

    submission_key = SubmissionKeyField()

    def resent(self) -> Response | None:
        """Claim the form's key: a redirect to where its first sending went when this is a
        resend (the transaction is then rolled back), else ``None`` and the view acts."""
        key = self.submission_key.data
        if key is None:
            return None
        user_id = current_user.id if current_user.is_authenticated else None
        first = once.claim(key, endpoint=request.endpoint or "", user_id=user_id)
        if first is None:
            return None
        flash(_("This form had already been sent: it was saved once."), "info")
        return redirect(first.redirect_to or request.url)

    def answered(self, target: str) -> None:
        """Remember ``target``, where this sending is redirected, for its resends."""
        if self.submission_key.data is not None:
            once.answered(self.submission_key.data, target)
