"""Turning frozen result dataclasses into plain, JSON-ready dictionaries.

Every result class in :mod:`analysis` inherits :class:`ResultMixin` so that
``result.to_dict()`` can be stored in a report snapshot or printed as JSON.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np
import pandas as pd

__all__ = [
    "EstimateMixin",
    "Reason",
    "ResultMixin",
    "ci_text",
    "failed_result",
    "make_reason",
    "to_jsonable",
]

T = TypeVar("T")


def _float_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def to_jsonable(obj: Any) -> Any:
    """Recursively convert ``obj`` into JSON-serialisable Python values.

    * dataclasses (and objects with ``to_dict``) become dicts,
    * numpy scalars become ``int`` / ``float`` / ``bool``, numpy arrays and
      pandas Series become lists, DataFrames become lists of records,
    * dates and timestamps become ISO strings,
    * NaN and +/-inf become ``None``,
    * tuples and sets become lists; mapping keys become strings.
    """
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return _float_or_none(float(obj))
    if isinstance(obj, pd.Timestamp):
        return None if pd.isna(obj) else obj.isoformat()
    if isinstance(obj, dt.datetime | dt.date | dt.time):
        return obj.isoformat()
    if isinstance(obj, np.datetime64):
        return None if np.isnat(obj) else pd.Timestamp(obj).isoformat()
    if obj is pd.NaT:
        return None
    if isinstance(obj, ResultMixin):
        return obj.to_dict()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(to_jsonable(k)): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, pd.DataFrame):
        return [to_jsonable(r) for r in obj.to_dict(orient="records")]
    if isinstance(obj, pd.Series | pd.Index):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # other numpy-like scalars
        return to_jsonable(obj.item())
    return str(obj)


class ResultMixin:
    """Adds ``to_dict()`` to a (frozen, slotted) dataclass.

    Subclasses may override ``_dict_exclude`` (field names left out of the
    dictionary, e.g. large arrays kept for plotting) or ``to_dict`` itself.
    """

    __slots__ = ()
    _dict_exclude: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """Return the result as a JSON-ready ``dict`` (see :func:`to_jsonable`)."""
        if not dataclasses.is_dataclass(self):
            raise TypeError(f"{type(self).__name__} is not a dataclass")
        return {
            f.name: to_jsonable(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name not in self._dict_exclude
        }


class EstimateMixin(ResultMixin):
    """``to_dict()`` and a one-line ``summary()`` for the result of one effect estimator.

    For a dataclass with ``effect``, ``se``, ``ci_low``, ``ci_high``, ``p_value``, ``alpha`` and
    ``error``. The summary reads ``"<name> effect 1.23 (SE 0.456), 95% CI [0.3, 2.2],
    p=0.0123"`` followed by :meth:`_details`, or ``"<failed name>: not estimated (<error>)"``.
    A subclass sets ``_name`` (and ``_failed_name``, ``_se_name`` where they differ from the
    name and ``"SE"``).
    """

    __slots__ = ()
    _name: str = ""
    _failed_name: str = ""
    _se_name: str = "SE"

    def summary(self) -> str:
        """One line with the estimate, SE, interval and p-value."""
        if self.error:
            return f"{self._failed_name or self._name}: not estimated ({self.error})"
        ci = ci_text(self.alpha, self.ci_low, self.ci_high)
        return (
            f"{self._name} effect {self.effect:.4g} ({self._se_name} {self.se:.3g}), {ci}, "
            f"p={self.p_value:.4f}{self._details()}"
        )

    def _details(self) -> str:
        """What the summary says after the p-value (nothing by default)."""
        return ""


@dataclasses.dataclass(frozen=True, slots=True)
class Reason(ResultMixin):
    """Why a procedure decided something: a stable code, its parameters and English text.

    The code and parameters let an application say the same in another language; the text
    is what :meth:`summary` methods and exports print.
    """

    code: str
    """Stable identifier (the app translates by it)."""
    params: Mapping[str, Any]
    """Values quoted by the text."""
    text: str
    """English sentence."""


_MISSING_NUMBER: dict[Any, float] = {"float": float("nan"), float: float("nan"), "int": 0, int: 0}


def failed_result(cls: type[T], error: str, **fields: Any) -> T:
    """A result of dataclass ``cls`` that could not be computed and says why in ``error``.

    Fields passed in ``fields`` are used as given; every other field without a default is
    missing: NaN when annotated ``float``, 0 when annotated ``int``. Any other field without a
    default must be passed.
    """
    missing = {
        f.name: _MISSING_NUMBER[f.type]
        for f in dataclasses.fields(cls)
        if f.name not in fields
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
        and f.type in _MISSING_NUMBER
    }
    return cls(**missing, **fields, error=error)


def ci_text(alpha: float, low: float, high: float, spec: str = ".4g") -> str:
    """``"95% CI [low, high]"`` for a ``1 - alpha`` interval, its ends formatted with ``spec``."""
    return f"{round(100 * (1 - alpha))}% CI [{low:{spec}}, {high:{spec}}]"


def make_reason(code: str, text: str, **params: Any) -> Reason:
    """A :class:`Reason` whose English ``text`` is formatted from its ``params``."""
    return Reason(code, dict(params), text.format(**params))
