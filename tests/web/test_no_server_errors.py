"""Nothing a user can type answers 500: every route, seeded junk, on the demo data.

For each role that can log in, every POST endpoint of the app (the API has its own tests) is
sent a few payloads drawn from values that broke forms before: infinities, NaN, numbers
too large for the database, impossible dates, very long text, markup, path fragments. Any
answer is fine (303, 400, 403, 404, 409, 422, ...) except a server error.
"""

from __future__ import annotations

import random
import re

import pytest
from flask import url_for
from sqlalchemy import select
from werkzeug.routing import AnyConverter, IntegerConverter

from app.demo.seed import DEMO_PASSWORD, seed
from app.extensions import db
from app.models import (
    ActionItem,
    Adjustment,
    ApiToken,
    FeedbackAnswer,
    FeedbackResponse,
    FormLink,
    Pilot,
    Report,
    Retrospective,
    RolloutPlan,
    Site,
    User,
)

JUNK = ["", "0", "-1", "1", "2", "99999999999999999999", "inf", "nan", "1e400", "abc", "中文",
        "2026-13-45", "2026-11-24", "x" * 5000, "<script>", "pilot", "control", "true", "60+",
        "0.5", " ", "%00", "../"]  # fmt: skip
FIELDS = ["name", "description", "hypothesis", "start_date", "end_date", "pre_start", "alpha",
          "min_effect", "n_pilot", "n_control", "seed", "max_volume_share", "stratify_by",
          "problem_metric", "problem_direction", "control_method", "match_on", "metric", "role",
          "direction", "margin", "reason", "site_id", "arm", "notes", "decision", "title",
          "owner_id", "due_date", "status", "outcome", "comment", "tag", "flagged", "audience",
          "mapping", "sites_per_week", "wave_count", "wave_size", "holdback_percent",
          "mentor_limit", "min_days_live", "checklist_percent", "go_live", "to_wave", "email",
          "password", "locale", "effective_date", "scope", "condition", "text", "summary",
          "code", "region", "size_tier", "staff_count", "daily_orders", "request_changes",
          "title_en", "title_zh", "questions-0-key", "questions-0-kind",
          "signoff_role"]  # fmt: skip
ID_MODELS = {
    "pilot_id": Pilot, "site_id": Site, "report_id": Report, "plan_id": RolloutPlan,
    "retro_id": Retrospective, "action_id": ActionItem, "link_id": FormLink,
    "answer_id": FeedbackAnswer, "response_id": FeedbackResponse, "adjustment_id": Adjustment,
    "token_id": ApiToken, "user_id": User,
}  # fmt: skip
SKIPPED_PREFIXES = ("static", "bootstrap", "api.", "auth.")
#: Query parameters the views read (``request.args``), plus a few they do not.
QUERY_NAMES = ["name", "audience", "page", "next", "tag", "site", "metric", "format", "flagged",
               "download", "days", "day", "closed", "all", "lang", "arm", "from", "q"]  # fmt: skip


@pytest.fixture
def demo_ids(app):
    seed()
    db.session.commit()
    # existing objects: a missing id is a 404 before any field is read (the access matrix
    # covers those)
    ids = {
        name: [db.session.scalar(select(model.id).order_by(model.id)) or 1]
        for name, model in ID_MODELS.items()
    }
    ids["number"] = [1, 2]
    ids["step"] = [1, 2, 3, 4, 5]
    return ids


def _urls(app, ids, rng, method: str = "POST"):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if method not in rule.methods or rule.endpoint.startswith(SKIPPED_PREFIXES):
            continue
        values = {}
        for arg in rule.arguments:
            if arg in ids:
                values[arg] = rng.choice(ids[arg])
            elif arg == "audience":
                values[arg] = rng.choice(["customer", "staff", "visitors"])
            elif arg == "fmt":
                values[arg] = rng.choice(["csv", "xlsx", "pdf", "svg", "png", "ics", "md", "exe"])
            elif arg == "day":
                values[arg] = rng.choice(["2026-11-01", "2026-13-45"])
            elif isinstance(rule._converters.get(arg), IntegerConverter):
                values[arg] = rng.choice([1, 2])
            elif isinstance(rule._converters.get(arg), AnyConverter):
                values[arg] = rng.choice(sorted(rule._converters[arg].items))
            else:
                values[arg] = "zzz"
        with app.test_request_context():
            yield rule, url_for(rule.endpoint, **values)


def _field_names(client, rule, url: str) -> list[str]:
    """The names of the inputs on the page's own form (when the route also shows it)."""
    if "GET" not in rule.methods:
        return []
    page = client.get(url)
    if page.status_code != 200:
        return []
    names = re.findall(r'<(?:input|select|textarea)[^>]*\bname="([^"]+)"', page.get_data(True))
    return sorted(set(names) - {"csrf_token"})


@pytest.mark.parametrize("email", ["lead@demo.rollwise", "staff@demo.rollwise"])
def test_junk_posted_to_every_route_never_answers_500(app, client, demo_ids, email):
    rng = random.Random(email)
    client.post("/auth/login", data={"email": email, "password": DEMO_PASSWORD})
    failures = []
    for rule, url in _urls(app, demo_ids, rng):
        own = _field_names(client, rule, url)
        for _ in range(4):  # bounded
            names = set(rng.sample(FIELDS, rng.randint(1, 8)))
            names |= {n for n in own if rng.random() < 0.7}
            data = {name: rng.choice(JUNK) for name in sorted(names)}
            response = client.post(url, data=data)
            if response.status_code >= 500:
                failures.append((rule.endpoint, url, data))
                break
    assert failures == []


@pytest.mark.parametrize("email", ["lead@demo.rollwise", "staff@demo.rollwise"])
def test_junk_in_the_address_never_answers_500(app, client, demo_ids, email):
    rng = random.Random("get" + email)
    client.post("/auth/login", data={"email": email, "password": DEMO_PASSWORD})
    failures = []
    for rule, url in _urls(app, demo_ids, rng, method="GET"):
        for _ in range(2):  # bounded
            names = rng.sample(QUERY_NAMES, rng.randint(1, 5))
            query = {name: rng.choice(JUNK)[:200] for name in names}
            response = client.get(url, query_string=query)
            if response.status_code >= 500:
                failures.append((rule.endpoint, url, query))
                break
    assert failures == []
