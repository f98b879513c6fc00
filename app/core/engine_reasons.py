"""Why the analysis engine could not estimate something, in the reader's language.

``analysis/`` says why a comparison is not available in English (``"no responses from pilot
sites"``, ``"0 pilot site(s) answered both before and after the start; ..."``). Reports and
the feedback overview show those reasons; :func:`reason_text` matches them by pattern and
returns a translated phrase, and a general one for a reason it does not know, so the
engine's English never reaches a page. (Reasons with codes go through :mod:`app.core.reasons`.)
"""

from __future__ import annotations

import re
from typing import Any

from flask_babel import gettext as _


def _reason_patterns() -> list[tuple[str, str, str]]:
    return [
        ("not_analysed", r"^not analysed$", _("not analysed")),
        ("metric_gone", r"metric no longer exists", _("the metric no longer exists")),
        ("no_wave_data", r"No data from the wave", _("no data from the wave's sites yet")),
        (
            "few_sites_before_after",
            r"answered both before and after",
            _("fewer than two sites answered both before and after the start"),
        ),
        (
            "collinear",
            r"collinear",
            _("the sites do not differ enough in this characteristic to compare segments"),
        ),
        (
            "few_segments",
            r"fewer than two segments",
            _("fewer than two segments have enough sites"),
        ),
        (
            "too_many_segments",
            r"more segments than sites",
            _("there are more segments than sites to compare them"),
        ),
        ("singular", r"singular", _("the segments cannot be told apart with these sites")),
        (
            "short_pre",
            r"needs at least two pre-period weeks|no lead weeks",
            _("fewer than two weeks of data before the start"),
        ),
        (
            "few_sites_pretrend",
            r"too few sites \(\d+\) to test",
            _("too few sites to check the weeks before the start"),
        ),
        ("few_sites", r"leverage 1|too few sites per arm", _("too few sites in a group")),
        (
            "no_post",
            r"no post-period|no data after|no observations after",
            _("no data during the pilot"),
        ),
        ("no_pre", r"no pre-period|no data before", _("no data from before the start")),
        ("no_control", r"no control", _("no control sites")),
        ("no_pilot", r"no pilot", _("no pilot sites")),
        ("no_variance", r"zero variance|constant", _("the values do not vary")),
        ("few_answers", r"no responses|too few responses|no answers", _("too few answers")),
        (
            "no_min_effect",
            r"[Nn]o minimum effect|min_effect",
            _("no smallest effect worth acting on was agreed"),
        ),
    ]


def reason_text(error: Any) -> str:
    """Why something is not available or not estimable, in the reader's language."""
    text = str(error or "")
    if not text:
        return _("no estimate")
    for _code, pattern, words in _reason_patterns():
        if re.search(pattern, text):
            return words
    return _("these data do not allow it")
