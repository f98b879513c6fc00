"""Input no view should ever see: refused with a 400 and a clear message before routing.

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

from flask import Flask, request
from flask.json.provider import DefaultJSONProvider
from flask_babel import gettext as _
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


def refuse_bad_input() -> None:
    """``before_request``: NUL characters and out-of-range integer parameters are a 400."""
    sources = [request.args]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        sources.append(request.form)
    for values in sources:
        for key, value in values.items(multi=True):
            if "\x00" in key or "\x00" in value:
                raise BadInput(_("The request contains a NUL character, which is not allowed."))
    for name in INTEGER_ARGS:
        for value in request.args.getlist(name):
            text = value.strip()
            if text.lstrip("+-").isdigit() and abs(int(text)) > MAX_INT:
                raise BadInput(_("The number in '%(name)s' is out of range.", name=name))


def register(app: Flask) -> None:
    app.url_value_preprocessor(refuse_huge_ids)
    app.json = GuardedJSONProvider(app)
    app.before_request(refuse_bad_input)
