"""The natural order of ordered categories: age bands, size tiers, numeric bands.

Segment labels are strings (``"under_30"``, ``"30_59"``, ``"60+"``, ``"small"``,
``"senior_share <= 0.2"``); sorted as text they come out as ``30_59, 60+, under_30`` or
``large, medium, small``. :func:`category_key` sorts them as people read them:

1. known ordinal words (``small < medium < large``, ``low < medium < high``, ...),
2. labels holding a number, by that number (``under 30`` and ``<= 30`` just below 30,
   ``over 30``, ``> 30`` just above; ``60_plus`` / ``60+`` at 60),
3. anything else alphabetically (case-insensitive), and missing values last.

The app uses the same function (``app.core.labels.category_key``), so pages, exports and the
analysis tables list segments in one order.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

#: Words of ordinal scales, ranked within their scale.
ORDINAL_WORDS: dict[str, float] = {
    "xs": 0.5,
    "extra_small": 0.5,
    "very_small": 0.5,
    "tiny": 0.5,
    "small": 1,
    "s": 1,
    "low": 1,
    "young": 1,
    "junior": 1,
    "medium": 2,
    "m": 2,
    "mid": 2,
    "middle": 2,
    "moderate": 2,
    "l": 3,
    "large": 3,
    "high": 3,
    "senior": 3,
    "old": 3,
    "xl": 4,
    "extra_large": 4,
    "very_large": 4,
    "very_high": 4,
    "huge": 4,
}

_NUMBER = re.compile(r"(?:(?<![\w.])[-+])?\d+(?:\.\d+)?")
_BELOW = re.compile(r"(under|below|less than|younger than|up to|<)\s*=?\s*$", re.IGNORECASE)
_ABOVE = re.compile(r"(over|above|more than|older than|>)\s*=?\s*$", re.IGNORECASE)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return isinstance(value, float) and math.isnan(value)
    except TypeError:
        return False


def _text(value: Any) -> str:
    return str(value).strip()


def category_key(value: Any) -> tuple:
    """A sort key putting ``value`` in its natural place among values of the same kind."""
    if _missing(value) or _text(value) == "":
        return (3, 0.0, 0.0, 0.0, "")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (1, float(value), 0.0, float(value), "")
    text = _text(value)
    word = re.sub(r"[\s\-]+", "_", text.casefold())
    if word in ORDINAL_WORDS:
        return (0, ORDINAL_WORDS[word], 0.0, 0.0, word)
    found = [float(m.group()) for m in _NUMBER.finditer(text.replace(",", ""))]
    if found:
        first = _NUMBER.search(text.replace(",", ""))
        before = text.replace(",", "")[: first.start()] if first else ""
        shift = -0.5 if _BELOW.search(before) else 0.5 if _ABOVE.search(before) else 0.0
        upper = found[1] if len(found) > 1 else found[0]
        return (1, found[0], shift, upper, text.casefold())
    return (2, 0.0, 0.0, 0.0, text.casefold())


def natural_order(values: Iterable[Any]) -> list[Any]:
    """``values`` sorted by :func:`category_key` (ties keep their order)."""
    return sorted(values, key=category_key)


__all__ = ["ORDINAL_WORDS", "category_key", "natural_order"]
