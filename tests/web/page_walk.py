"""Walk every page of the demo as each role, and read what the reader sees.

Shared by ``test_translation_coverage.py`` and ``test_no_identifiers.py`` (each seeds the
demo once, in a module-scoped fixture). The walk starts from every GET rule of the app's
``url_map`` with its parameters filled from the demo's ids, follows the links and images it
finds on the pages, and reads:

* HTML and SVG pages: the text outside ``script``/``style`` and code samples
  (``code``/``pre``/``kbd``/``samp``: file column names and API calls the reader must type
  as they are), plus the ``aria-label``, ``title``, ``placeholder`` and ``alt`` attributes and
  the labels of buttons;
* exports: the header row of CSV files and of every Excel sheet (and the sheet names), the
  whole text of minutes (Markdown, text, PDF), the summaries and descriptions of calendars.

What people typed (site, pilot and people's names, comments, retro notes …) is data, not the
interface: :func:`data_strings` lists it so the checks can leave it aside.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from flask import Flask, url_for
from sqlalchemy import select
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from app import create_app
from app.config import TestConfig
from app.extensions import db
from app.models import (
    ActionItem,
    Adjustment,
    AuditEvent,
    FeedbackAnswer,
    FeedbackForm,
    FormLink,
    Metric,
    Pilot,
    Report,
    RetroItem,
    Retrospective,
    RolloutPlan,
    Site,
    User,
    Wave,
)

#: Areas whose pages others are rewriting right now: their failures are expected (xfail,
#: not strict) until that work is merged. The lead empties this set after the merge.
PENDING_AREAS: set[str] = set()

#: The demo's accounts, by role ("anonymous": not signed in, for the sign-in page and the
#: public feedback form).
ROLES = {
    "anonymous": None,
    "change_lead": "lead@demo.rollwise",
    "admin": "admin@demo.rollwise",
    "analyst": "analyst@demo.rollwise",
    "staff": "staff@demo.rollwise",
}
LANGUAGES = ("en", "zh_CN")

#: Endpoints not walked: files of the framework, machine answers (JSON API, health check),
#: the language switch and sign-out (they would end the walk), images without text.
SKIPPED_ENDPOINTS = {
    "static",
    "bootstrap.static",
    "main.health",
    "main.set_language",
    "auth.logout",
    "feedback.qr_code",
    "api.metrics",
    "api.sites",
    "api.openapi",
    "reports.export_json",
    "reports.export_bundle",
    "reports.status",
}
#: The formats each ``…<fmt>`` endpoint offers.
FORMATS = {
    "feedback.export": ["csv", "xlsx"],
    "sites.export": ["csv", "xlsx"],
    "retros.minutes": ["md", "txt", "pdf"],
    "rollout.export": ["csv", "xlsx", "ics"],
}
#: At most this many addresses per endpoint and role (ids spread over the demo's, first and
#: last included), so that 60 sites or 27 retro days do not make the walk slow; links found
#: on pages fill the rest of :data:`MAX_PAGES`. The change lead, who sees the most, reads
#: more of each endpoint than the other roles, whose pages differ mostly by their buttons.
MAX_SEEDS_PER_ENDPOINT = 6
MAX_PAGES = {"change_lead": 8, "admin": 2, "analyst": 2, "staff": 2, "anonymous": 2}

HIDDEN_TAGS = {"script", "style", "code", "pre", "kbd", "samp", "template", "noscript"}
VISIBLE_ATTRIBUTES = ("aria-label", "title", "placeholder", "alt")


def demo_app() -> Flask:
    """An app whose database holds the demo and one computed report; its context is pushed
    (the caller pops it)."""
    from app.demo.seed import DEMO_PASSWORD, seed
    from tests.conftest import _reset_database

    app = create_app(TestConfig)
    context = app.app_context()
    context.push()
    _reset_database()
    seed()
    db.session.commit()
    analyst = app.test_client()
    analyst.post("/auth/login", data={"email": ROLES["analyst"], "password": DEMO_PASSWORD})
    for pilot_id in db.session.scalars(select(Pilot.id).order_by(Pilot.id)):
        analyst.post(f"/reports/pilot/{pilot_id}/create")
    db.session.expire_all()
    app.extensions["page_walk_context"] = context
    return app


def close_demo_app(app: Flask) -> None:
    db.session.remove()
    db.engine.dispose()
    app.extensions.pop("page_walk_context").pop()


# ---------------------------------------------------------------- reading


class _TextReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.links: list[str] = []
        self._hidden = 0
        self._language: str | None = None  # the document's (``<html lang>``)
        self._other_language: list[str] = []  # open elements in another language

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "html":
            self._language = (attributes.get("lang") or "")[:2]
        elif (attributes.get("lang") or "")[:2] not in ("", self._language):
            # a text deliberately in another language (the QR sheet's English line)
            self._other_language.append(tag)
            self._hidden += 1
        if tag in HIDDEN_TAGS:
            self._hidden += 1
        for name in ("href", "src", "action" if tag == "form" else ""):
            if name and attributes.get(name):
                self.links.append(attributes[name])
        if self._hidden:
            return
        for name in VISIBLE_ATTRIBUTES:
            if attributes.get(name):
                self.texts.append(attributes[name])
        if tag == "input" and attributes.get("type") in {"submit", "button"}:
            self.texts.append(attributes.get("value") or "")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag in HIDDEN_TAGS:
            self._hidden -= 1

    def handle_endtag(self, tag):
        if tag in HIDDEN_TAGS and self._hidden:
            self._hidden -= 1
        if self._other_language and self._other_language[-1] == tag:
            self._other_language.pop()
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden and data.strip():
            self.texts.append(data)


def read_markup(markup: str) -> tuple[list[str], list[str]]:
    """The visible texts of an HTML or SVG document, and the addresses it links to."""
    reader = _TextReader()
    reader.feed(markup)
    reader.close()
    texts = [" ".join(t.split()) for t in reader.texts]
    return [t for t in texts if t], reader.links


def _csv_header(body: bytes) -> list[str]:
    rows = csv.reader(io.StringIO(body.decode("utf-8-sig")))
    return next(rows, [])


def _xlsx_headers(body: bytes) -> list[str]:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(body), read_only=True)
    texts = []
    for sheet in book.worksheets:
        texts.append(sheet.title)
        for row in sheet.iter_rows(max_row=1, values_only=True):
            texts += [str(v) for v in row if v is not None]
    return texts


def _pdf_text(body: bytes) -> list[str]:
    from pypdf import PdfReader

    return [
        line
        for page in PdfReader(io.BytesIO(body)).pages
        for line in (page.extract_text() or "").splitlines()
    ]


def _ics_text(body: bytes) -> list[str]:
    from icalendar import Calendar

    texts = []
    for component in Calendar.from_ical(body).walk():
        for name in ("SUMMARY", "DESCRIPTION", "LOCATION", "X-WR-CALNAME"):
            if component.get(name):
                texts += str(component.get(name)).splitlines()
    return texts


def read_download(mimetype: str, body: bytes) -> list[str] | None:
    """The reader's text of a download, or None for a type the walk does not read."""
    if mimetype == "text/csv":
        return _csv_header(body)
    if mimetype.endswith("spreadsheetml.sheet"):
        return _xlsx_headers(body)
    if mimetype in {"text/markdown", "text/plain"}:
        return body.decode("utf-8").splitlines()
    if mimetype == "application/pdf":
        return _pdf_text(body)
    if mimetype == "text/calendar":
        return _ics_text(body)
    return None


# ---------------------------------------------------------------- walking


@dataclass
class Page:
    role: str
    language: str
    endpoint: str
    url: str
    texts: list[str] = field(default_factory=list)


def _spread(values: list, limit: int) -> list:
    """At most ``limit`` of ``values``, first and last included, evenly spread."""
    if len(values) <= limit:
        return values
    step = (len(values) - 1) / (limit - 1)
    return [values[round(i * step)] for i in range(limit)]


def demo_ids() -> dict[str, list]:
    """Values for the URL parameters: every demo object of each kind."""

    def ids(column) -> list:
        return list(db.session.scalars(select(column).order_by(column)))

    tokens = []
    for link in db.session.scalars(select(FormLink).order_by(FormLink.id)):
        if link.is_active and len(tokens) < 4:
            tokens.append(link.token)
    return {
        "pilot_id": ids(Pilot.id),
        "site_id": ids(Site.id),
        "report_id": ids(Report.id),
        "plan_id": ids(RolloutPlan.id),
        "retro_id": ids(Retrospective.id),
        "action_id": ids(ActionItem.id),
        "adjustment_id": ids(Adjustment.id),
        "user_id": ids(User.id),
        "link_id": ids(FormLink.id)[:2],
        "number": sorted(set(ids(Wave.number))),
        "step": [1, 2, 3, 4, 5],
        "audience": ["customer", "staff"],
        "day": sorted({d.isoformat() for d in ids(Retrospective.date)}),
        "token": tokens,
    }


def _combinations(rule, ids: dict[str, list]) -> Iterator[dict]:
    """Every filling of ``rule``'s parameters (the first parameter varies, the others take
    their first value)."""
    arguments = sorted(rule.arguments)
    choices = {}
    for arg in arguments:
        if arg == "fmt":
            choices[arg] = FORMATS.get(rule.endpoint, [])
        elif arg in ids:
            choices[arg] = ids[arg]
        elif isinstance(rule._converters.get(arg), IntegerConverter):
            choices[arg] = [1]
        else:
            choices[arg] = []
    if any(not values for values in choices.values()):
        return
    if "fmt" in choices:  # every format of one object (the files are slow to build)
        others = [a for a in arguments if a != "fmt"]
        for fmt in choices["fmt"]:
            for value in choices[others[0]][:1] if others else [None]:
                values = {a: choices[a][0] for a in others}
                if others:
                    values[others[0]] = value
                yield {**values, "fmt": fmt}
        return
    if not arguments:
        yield {}
        return
    first, *rest = arguments
    for value in _spread(choices[first], MAX_SEEDS_PER_ENDPOINT):
        yield {first: value, **{a: choices[a][0] for a in rest}}


def get_rules(app: Flask) -> list:
    return sorted(
        (
            r
            for r in app.url_map.iter_rules()
            if "GET" in r.methods and r.endpoint not in SKIPPED_ENDPOINTS
        ),
        key=lambda r: r.rule,
    )


def walked_endpoints() -> list[str]:
    """The endpoints the walk reads (for parametrizing at collection time)."""
    return sorted({r.endpoint for r in get_rules(create_app(TestConfig))})


def area(endpoint: str) -> str:
    return endpoint.split(".", 1)[0]


def cases(known_gaps: dict[str, str] | None = None) -> Iterator:
    """One ``pytest.param`` per walked endpoint; the :data:`PENDING_AREAS`' pages and the
    ``known_gaps`` (endpoint: what is left) expected to fail, not strictly."""
    for endpoint in walked_endpoints():
        if area(endpoint) in PENDING_AREAS:
            reason = "pending: owned by the reports/rollout work"
        else:
            reason = (known_gaps or {}).get(endpoint)
        marks = [pytest.mark.xfail(reason=reason, strict=False)] if reason else []
        yield pytest.param(endpoint, marks=marks, id=endpoint)


def walk(app: Flask, role: str, language: str, downloaded: set[str] | None = None) -> list[Page]:
    """Every page ``role`` can open in ``language``, read; downloads whose address is in
    ``downloaded`` are not fetched again (another role read them), the others are added."""
    downloaded = set() if downloaded is None else downloaded
    from app.demo.seed import DEMO_PASSWORD

    client = app.test_client()
    if ROLES[role]:
        client.post("/auth/login", data={"email": ROLES[role], "password": DEMO_PASSWORD})
    client.get(f"/lang/{language}")
    ids = demo_ids()
    queue: list[str] = []
    with app.test_request_context():
        for rule in get_rules(app):
            for values in _combinations(rule, ids):
                queue.append(url_for(rule.endpoint, **values))
    adapter = app.url_map.bind("localhost")
    seen: set[str] = set()
    per_endpoint: dict[str, int] = defaultdict(int)
    pages: list[Page] = []
    while queue:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        parts = urlsplit(url)
        try:
            endpoint, _ = adapter.match(parts.path, method="GET")
        except HTTPException:
            continue
        if endpoint in SKIPPED_ENDPOINTS or per_endpoint[endpoint] >= MAX_PAGES[role]:
            continue
        if url in downloaded:
            continue
        response = client.get(url)
        if response.status_code != 200:
            continue
        per_endpoint[endpoint] += 1
        page = Page(role, language, endpoint, url)
        mimetype = response.mimetype
        if mimetype in {"text/html", "image/svg+xml"}:
            page.texts, links = read_markup(response.get_data(as_text=True))
            for link in links:
                target = urlsplit(urljoin(url, link))
                if target.netloc not in {"", "localhost"} or target.path.startswith("/static"):
                    continue
                queue.append(target.path + (f"?{target.query}" if target.query else ""))
        else:
            downloaded.add(url)
            texts = read_download(mimetype, response.data)
            if texts is None:
                continue
            page.texts = texts
        pages.append(page)
    return pages


def walk_all(app: Flask, languages: Iterable[str]) -> dict[str, list[Page]]:
    """The pages of every role in ``languages``, grouped by endpoint."""
    by_endpoint: dict[str, list[Page]] = defaultdict(list)
    for language in languages:
        downloaded: set[str] = set()
        for role in ROLES:
            for page in walk(app, role, language, downloaded):
                by_endpoint[page.endpoint].append(page)
    return by_endpoint


# ---------------------------------------------------------------- data


def data_strings() -> list[str]:
    """What people typed into the demo (names, notes, comments …), longest first."""
    columns = [
        Site.name, Site.region, Site.city, Site.address, User.name, Pilot.name,
        Pilot.change_description, Pilot.hypothesis, Pilot.decision_note, Metric.description,
        Retrospective.attendees, Retrospective.summary, RetroItem.text, ActionItem.title,
        ActionItem.outcome, Adjustment.title, Adjustment.description, FeedbackAnswer.value_text,
        RolloutPlan.name, Wave.decision_reason, AuditEvent.reason, Report.review_comment,
    ]  # fmt: skip
    found: set[str] = set()
    for attributes in db.session.scalars(select(Site.attributes)):
        found.update(attributes or {})  # the names of a site file's own extra columns
    for column in columns:
        for value in db.session.scalars(select(column).distinct()):
            if value and value.strip():
                found.add(" ".join(value.split()))
                found.update(line.strip() for line in value.splitlines() if line.strip())
    return sorted(found, key=len, reverse=True)


class DataFilter:
    """Takes what people typed out of a text, so only the interface's words are left."""

    def __init__(self, strings: list[str]):
        self._strings = strings
        self._pattern = (
            re.compile("|".join(re.escape(s) for s in strings)) if strings else re.compile("$^")
        )

    def __call__(self, text: str) -> str:
        text = self._pattern.sub(" ", text)
        core = text.strip().rstrip("…").rstrip(".").strip()
        # a shortened note ("Seniors struggle with…") or a quoted part of one
        if len(core) >= 8 and any(core in s for s in self._strings):
            return ""
        return text


#: Pages that show both languages of a bilingual text on purpose (the form editor).
BILINGUAL_ENDPOINTS = {"feedback.edit_form"}


def bilingual_strings() -> list[str]:
    """The English and Chinese wording of the feedback forms (titles, intros, questions and
    their options), which the form editor shows side by side."""
    found: set[str] = set()
    for form in db.session.scalars(select(FeedbackForm)):
        found.update(t for t in (form.title_en, form.title_zh, form.intro_en, form.intro_zh) if t)
        for question in form.questions or []:
            found.update(str(v) for k, v in question.items() if k.startswith("label") and v)
            for option in question.get("options") or []:
                if isinstance(option, dict):
                    found.update(str(v) for v in option.values() if isinstance(v, str))
    return sorted(found, key=len, reverse=True)


def failures(pages: list[Page], find, data_filter: DataFilter) -> list[str]:
    """``role/language url: text`` for every text of ``pages`` where ``find`` finds
    something."""
    problems = []
    for page in pages:
        for text in page.texts:
            hits = find(data_filter(text))
            if hits:
                problems.append(
                    f"{page.role}/{page.language} {page.url}: {', '.join(map(repr, hits))}"
                    f" in {text[:160]!r}"
                )
    return sorted(set(problems))
