"""The vocabulary of the access matrix.

Each area keeps its rows in ``tests/access/rules_<area>.py``: a dict ``RULES`` from
endpoint to ``Rule`` (or a list of rules), and optionally ``setup(world)`` that creates
the objects its URLs need. ``test_access_matrix.py`` fails when a registered endpoint has
no row, so a new route without a rule cannot land.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ROLES = ("anon", "admin", "change_lead", "staff", "analyst")
EVERYONE = frozenset(ROLES)
LOGGED_IN = frozenset(ROLES) - {"anon"}
EDITORS = frozenset({"admin", "change_lead"})
ALL_SEEING = frozenset({"admin", "change_lead", "analyst"})
ADMIN = frozenset({"admin"})
ANALYSTS = frozenset({"analyst"})


@dataclass(frozen=True)
class Rule:
    """Who may call ``method url``; everyone else is refused.

    ``allow`` lists the roles that get through ("anon" for the public). Allowed callers get
    a status in ``ok``; refused logged-in callers get ``denied`` (403), the anonymous get
    ``anon_denied`` (302 to the login page, or 401 for the API).
    """

    url: Callable[[Any], str]
    allow: frozenset[str]
    method: str = "GET"
    data: Callable[[Any], dict] | None = None
    ok: frozenset[int] = field(default=frozenset({200}))
    denied: int = 403
    anon_denied: int = 302
    headers: dict[str, str] = field(default_factory=dict)

    def expected_ok(self) -> frozenset[int]:
        if self.method == "GET":
            return self.ok
        # A POST with missing or invalid fields re-renders (200), redirects (302) or is a
        # clear client error (400/404/409/422); what it must never be is 401/403/500.
        return self.ok | {200, 302, 400, 404, 409, 422}


def get(url, allow, **kw) -> Rule:
    return Rule(url=url, allow=allow, **kw)


def post(url, allow, **kw) -> Rule:
    return Rule(url=url, allow=allow, method="POST", **kw)


def form_page(url, allow, **kw) -> list[Rule]:
    """A page with a form: GET shows it and POST submits it, for the same roles."""
    return [get(url, allow, **kw), post(url, allow)]


#: An upload no one has made: its preview answers 404 to those allowed to import.
FAKE_TOKEN = "0-" + "0" * 32 + ".csv"


def import_rules(upload: str, preview: str, url, allow=EDITORS) -> dict[str, list[Rule]]:
    """Rows for an import's two endpoints: ``upload``, the form at ``url(w)``, and ``preview``,
    an upload's page under it (an unknown upload answers 404 to those allowed to import)."""

    def preview_url(w) -> str:
        return f"{url(w)}/{FAKE_TOKEN}"

    return {
        upload: form_page(url, allow),
        preview: form_page(preview_url, allow, ok=frozenset({404})),
    }
