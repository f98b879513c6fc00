"""Small helpers shared by the forms of every area."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from wtforms.fields.choices import SelectChoice


def choices(pairs: Iterable[tuple[Any, Any]]) -> list[SelectChoice]:
    """``[(value, label), …]`` as WTForms 3.3 ``SelectChoice`` objects."""
    return [SelectChoice(value, label) for value, label in pairs]
