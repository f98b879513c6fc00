"""Numbers as people read them: one format per locale, a true minus sign, ``p < 0.001``.

Every page, PDF and sentence formats numbers through these functions (templates through the
``number``, ``percent``, ``p_value`` and ``p_expression`` filters), so a number looks the same
wherever it appears. Exports keep plain machine numbers (see ``app/core/tables.py``).
"""

from __future__ import annotations

import decimal
import math
import numbers
from typing import Any

from flask_babel import format_decimal, format_percent

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


def pct(x: float | None, signed: bool = True, digits: int | None = None) -> str:
    """A share as a percentage: one decimal below 10 %, none above, unless ``digits`` says."""
    if not finite(x):
        return DASH
    x = float(x)
    if digits is None:
        digits = 0 if abs(x) >= 0.1 else 1
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
