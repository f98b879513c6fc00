"""Numbers as people read them: one format per locale, a true minus sign, ``p < 0.001``.

Every page, PDF and sentence formats numbers through these functions (templates through the
``number``, ``percent``, ``p_value``, ``p_expression`` and ``date_span`` filters), so a number
looks the same wherever it appears. Exports keep plain machine numbers, rounded per kind of
column by :func:`round_for_column` (see ``app/core/tables.py``).
"""

from __future__ import annotations

import decimal
import math
import numbers
import re
from datetime import date, datetime
from typing import Any

from babel.dates import format_skeleton
from flask_babel import format_decimal, format_percent, get_locale

from app.core import clock

MINUS = "\u2212"
DASH = "—"


def finite(x: Any) -> bool:
    """A real number that is not NaN or infinite (numpy scalars and Decimals count)."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real | decimal.Decimal):
        return False
    return math.isfinite(float(x))


def decimals_for(half_width: float | None, default: int = 2) -> int:
    """Two significant digits of an interval's half-width, between 0 and 4 decimals."""
    if not finite(half_width) or half_width <= 0:
        return default
    return max(0, min(4, 1 - math.floor(math.log10(half_width))))


def _true_minus(text: str) -> str:
    return MINUS + text[1:] if text.startswith("-") else text


def num(x: float | None, digits: int = 2, signed: bool = False) -> str:
    """Locale-formatted number with a true minus sign; '—' when missing; no '−0'."""
    if not finite(x):
        return DASH
    rounded = round(float(x), digits)
    pattern = "#,##0." + "0" * digits if digits else "#,##0"
    text = _true_minus(format_decimal(abs(rounded), format=pattern))
    if rounded < 0:
        text = MINUS + text
    elif signed and rounded > 0:
        text = "+" + text
    return text


def sig(x: float | None, digits: int = 3) -> str:
    """``digits`` significant digits (whole numbers from 1,000 on) with a true minus sign, for
    numbers inside sentences whose scale is not known in advance (thresholds, effects)."""
    if not finite(x):
        return DASH
    x = float(x)
    if abs(x) >= 10**digits:
        return num(x, 0)
    text = f"{abs(x):.{digits}g}"
    if "e" in text:  # tiny: plain decimals rather than scientific notation
        text = f"{abs(x):.{digits - 1 - math.floor(math.log10(abs(x)))}f}"
    return (MINUS + text) if x < 0 and float(text) != 0 else text


def pct(x: float | None, signed: bool = True, digits: int | None = None) -> str:
    """A share as a percentage: one decimal below 10 %, none above, unless ``digits`` says."""
    if not finite(x):
        return DASH
    x = float(x)
    if digits is None:
        digits = 0 if abs(x) >= 0.1 else 1
    if round(x * 100, digits) == 0:
        x = 0.0  # no "−0.0%"
    pattern = "#,##0." + "0" * digits + "%" if digits else "#,##0%"
    text = _true_minus(format_percent(x, format=pattern))
    if signed and x > 0 and round(x * 100, digits) != 0:
        text = "+" + text
    return text


def p_text(p: float | None) -> str:
    """A p-value: two decimals, three below 0.01, "< 0.001" below that."""
    if not finite(p):
        return DASH
    if p < 0.001:
        return "< " + format_decimal(0.001, format="0.000")
    return format_decimal(p, format="0.000" if p < 0.01 else "0.00")


def p_expr(p: float | None, name: str = "p") -> str:
    """``p = 0.03`` or ``p < 0.001``."""
    text = p_text(p)
    return f"{name} {text}" if text.startswith("<") else f"{name} = {text}"


# ---------------------------------------------------------------- date spans


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def date_span(start: date | datetime | None, end: date | datetime | None) -> str:
    """``Dec 7 – Dec 20`` within this year; with years (``Dec 28, 2026 – Jan 10, 2027``;
    zh-CN ``2026年12月28日 – 2027年1月10日``) when the span crosses a year boundary or lies
    outside this year. An open end reads ``Dec 7 –``; one day reads as that day."""
    if start is None and end is None:
        return DASH
    days = [_day(d) for d in (start, end) if d is not None]
    this_year = clock.today().year
    skeleton = "MMMd" if all(d.year == this_year for d in days) else "yMMMd"
    locale = get_locale() or "en"

    def fmt(d: date | datetime | None) -> str:
        return format_skeleton(skeleton, _day(d), locale=locale) if d is not None else ""

    if start is not None and end is not None and _day(start) == _day(end):
        return fmt(start)
    return f"{fmt(start)} – {fmt(end)}".strip()


# ---------------------------------------------------------------- exports

#: Columns holding p-values (4 decimals).
_P_COLUMN = re.compile(r"(^|_)p(_value|_adjusted|value)?($|_)|pvalue|p_value", re.IGNORECASE)
#: Columns holding shares, rates, relative effects, power or load (3 decimals).
_SHARE_COLUMN = re.compile(
    r"share|rate|relative|power|load|pct|percent|proportion|csat|ratio|fraction|coverage",
    re.IGNORECASE,
)


def column_kind(name: Any) -> str:
    """``"p"``, ``"share"`` or ``"number"``: how an export rounds the column ``name``."""
    text = str(name)
    if _P_COLUMN.search(text):
        return "p"
    if _SHARE_COLUMN.search(text):
        return "share"
    return "number"


def round_significant(x: float, digits: int = 4) -> float:
    """``x`` to ``digits`` significant digits, never rounding away digits before the point
    (123456.7 -> 123457, 2.94281 -> 2.943, 0.000123456 -> 0.0001235)."""
    if not finite(x) or x == 0:
        return x
    magnitude = math.floor(math.log10(abs(x)))
    return round(float(x), max(0, digits - 1 - magnitude))


def round_for_column(x: Any, kind: str) -> Any:
    """An export cell rounded for its kind of column; anything but a finite float as it is."""
    if (
        isinstance(x, bool)
        or not isinstance(x, float | decimal.Decimal)
        and not (hasattr(x, "dtype") and getattr(x.dtype, "kind", "") == "f")
    ):
        return x
    if not finite(x):
        return x
    x = float(x)
    if kind == "p":
        # 4 decimals; a p-value below 0.0001 keeps two significant digits, never reads 0
        value = round(x, 4) if abs(x) >= 0.0001 or x == 0 else round_significant(x, 2)
    elif kind == "share":
        value = round(x, 3)
    else:
        value = round_significant(x)
    return value + 0.0  # no "-0.0"
