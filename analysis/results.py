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

__all__ = ["Reason", "ResultMixin", "ci_text", "failed_result", "make_reason", "to_jsonable"]

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
