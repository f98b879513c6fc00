"""Small helpers shared by the forms of every area."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import FloatField
from wtforms.fields.choices import SelectChoice


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
