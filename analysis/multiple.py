"""Multiplicity adjustment across the metrics of one pilot.

* Primary and guardrail metrics form one family adjusted with Holm's step-down method
  (controls the family-wise error rate: a false "better" on the primary or a false alarm on a
  guardrail).
* Secondary metrics are adjusted with Benjamini-Hochberg (controls the false discovery rate).

The adjusted p-values are the textbook step-down (Holm 1979) and step-up (Benjamini &
Hochberg 1995) formulas, written out in numpy: they equal
``statsmodels.stats.multitest.multipletests(p, method="holm" | "fdr_bh")[1]`` (checked in the
tests), but statsmodels' Holm branch calls ``gc.collect()`` on every use, which costs ~0.1 s
in a large process. Missing p-values (a metric whose analysis failed) stay missing and do not
count towards the family size.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["adjust", "adjust_family", "benjamini_hochberg", "holm"]

_METHODS = ("holm", "bh", "none")


def holm(p: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values: running max of ``(m - i + 1) p_(i)``, capped at 1."""
    p = np.asarray(p, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(np.maximum.accumulate((m - np.arange(m)) * p[order]), 1.0)
    out = np.empty(m)
    out[order] = adjusted
    return out


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values: running min from the top of ``m p_(i) / i``."""
    p = np.asarray(p, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = m * p[order] / np.arange(1, m + 1)
    adjusted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    out = np.empty(m)
    out[order] = adjusted
    return out


def adjust(p_values: Mapping[str, float], method: str) -> dict[str, float]:
    """Adjusted p-values for one family; ``method`` is ``"holm"``, ``"bh"`` or ``"none"``."""
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    keys = list(p_values)
    values = np.array([p_values[k] for k in keys], dtype=float)
    out = {k: float("nan") for k in keys}
    ok = np.isfinite(values)
    if np.any((values[ok] < 0) | (values[ok] > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    if not ok.any():
        return out
    if method == "holm":
        adjusted = holm(values[ok])
    elif method == "bh":
        adjusted = benjamini_hochberg(values[ok])
    else:
        adjusted = values[ok]
    for key, p in zip([k for k, good in zip(keys, ok, strict=True) if good], adjusted, strict=True):
        out[key] = float(p)
    return out


def adjust_family(
    p_values: Mapping[str, float],
    primary: str | None,
    guardrails: list[str] | tuple[str, ...] = (),
) -> dict[str, float]:
    """Holm over ``primary`` + ``guardrails``, Benjamini-Hochberg over the other metrics."""
    confirm = [k for k in p_values if k == primary or k in guardrails]
    secondary = [k for k in p_values if k not in confirm]
    out = adjust({k: p_values[k] for k in confirm}, "holm")
    out.update(adjust({k: p_values[k] for k in secondary}, "bh"))
    return {k: out[k] for k in p_values}
