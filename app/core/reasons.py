"""Reasons from ``analysis/`` (``{"code", "params", "text"}``) as sentences in the reader's
language: each area keeps a table of templates by code, this module fills them in."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from app.core import numbers

Prepare = Callable[[str, dict[str, Any]], tuple[str, dict[str, Any]]]


def format_value(value: Any) -> str:
    """A number as a reason's sentence quotes it (3 significant digits below 1,000, a true
    minus sign)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return numbers.sig(value, 3)
    return "" if value is None else str(value)


def render(reason: Any, templates: Mapping[str, Any], prepare: Prepare | None = None) -> str:
    """The translated sentence for ``reason``; its English text when the code is unknown or
    the parameters do not fit; a plain string (older data) as it is."""
    if isinstance(reason, str):
        return reason
    code = str(reason.get("code", ""))
    params = dict(reason.get("params") or {})
    key, params = prepare(code, params) if prepare else (code, params)
    template = templates.get(key)
    if template is None:
        return str(reason.get("text", ""))
    values = {
        k: format_value(v) if isinstance(v, int | float | None) else str(v)
        for k, v in params.items()
    }
    try:
        return str(template) % values
    except (KeyError, TypeError, ValueError):
        return str(reason.get("text", ""))
