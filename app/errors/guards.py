"""Input no view should ever see: refused with a 400 and a clear message before the view.

The checks are plain functions of what they check; :mod:`app.errors.handlers` runs them on
every request.

* A NUL character in a query string or form value (a browser never sends one; PostgreSQL
  cannot store one, and searches choke on it).
* An integer query parameter (``page``, ``site`` …) or an ``<int:…>`` path part beyond what
  an id or a page number can be: path parts answer 404 (no such thing), query values 400.
* JSON nested too deeply to parse (``[[[[…]]]]``): the body is refused before Python's
  parser runs out of stack.
"""

from __future__ import annotations

import re
from typing import Any

from flask.json.provider import DefaultJSONProvider
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest, NotFound

#: Largest id or page number anywhere: ids are 32-bit integers in PostgreSQL.
MAX_INT = 2**31 - 1
#: Query parameters that hold an integer (an id or a page number) wherever they appear.
INTEGER_ARGS = ("page", "site", "site_id", "pilot", "pilot_id", "days", "wave", "year", "n")
#: JSON deeper than this is refused (the API's bodies are two levels deep).
MAX_JSON_DEPTH = 32


class BadInput(BadRequest):
    """A request refused for its input; its description is the message the user sees."""


class GuardedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, refusing bodies nested deeper than :data:`MAX_JSON_DEPTH`."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        if json_depth(s) > MAX_JSON_DEPTH:
            raise BadInput(_("The JSON is nested more than %(n)s levels deep.", n=MAX_JSON_DEPTH))
        return super().loads(s, **kwargs)


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")


def json_depth(text: str | bytes) -> int:
    """The deepest nesting of ``[`` and ``{`` outside strings (a scan, no parsing)."""
    if isinstance(text, bytes | bytearray):
        text = text.decode("utf-8", errors="replace")
    depth = deepest = 0
    for bracket in _BRACKET.findall(_STRING.sub("", text)):
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def refuse_huge_ids(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """``url_value_preprocessor``: an ``<int:…>`` part no id can be is Not Found."""
    for value in (values or {}).values():
        if isinstance(value, int) and abs(value) > MAX_INT:
            raise NotFound()


def input_problem(args: MultiDict, form: MultiDict | None) -> str | None:
    """Why a request's query string (``args``) or form values must be refused, if they must:
    a NUL character anywhere, or an integer parameter out of range."""
    for values in (args, form or MultiDict()):
        for key, value in values.items(multi=True):
            if "\x00" in key or "\x00" in value:
                return _("The request contains a NUL character, which is not allowed.")
    for name in INTEGER_ARGS:
        for value in args.getlist(name):
            text = value.strip()
            if _INTEGER.fullmatch(text) and _beyond_any_id(text):
                return _("The number in '%(name)s' is out of range.", name=name)
    return None


_INTEGER = re.compile(r"[+-]?[0-9]+")


def _beyond_any_id(digits: str) -> bool:
    """A string of digits too long for Python to convert is beyond any id too."""
    return len(digits.lstrip("+-0")) > len(str(MAX_INT)) or abs(int(digits)) > MAX_INT
