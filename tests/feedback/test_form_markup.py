"""What the public and staff forms say and hide: "(optional)" once, a honeypot no person or
screen reader meets, the favicon, and a closed staff check-in that speaks to staff."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from app.extensions import db
from app.feedback import questionnaires as svc
from app.models import PilotStatus, Role


class Elements(HTMLParser):
    """Start tags with their attributes, and the text inside each <legend> / <label>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.texts: dict[str, list[str]] = {"legend": [], "label": []}
        self._open: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in self.texts:
            self._open.append(tag)
            self.texts[tag].append("")

    def handle_endtag(self, tag):
        if self._open and self._open[-1] == tag:
            self._open.pop()

    def handle_data(self, data):
        if self._open:
            self.texts[self._open[-1]][-1] += data


def parse(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    return parser


@pytest.mark.parametrize(
    ("language", "age", "optional"),
    [("en", "Your age", "(optional)"), ("zh-CN", "您的年龄", "选填")],
)
def test_an_optional_question_says_optional_once(client, link, language, age, optional):
    page = client.get(f"/feedback/f/{link.token}", headers={"Accept-Language": language})
    legends = [
        re.sub(r"\s+", " ", t).strip() for t in parse(page.get_data(as_text=True)).texts["legend"]
    ]
    age_legend = next(t for t in legends if age in t)
    assert age_legend.count(optional.strip("()")) == 1, age_legend


def test_a_label_that_already_says_optional_gets_no_second_one(client, link):
    form = svc.current_form(link.pilot_id, link.audience)
    questions = [dict(q) for q in form.questions]
    for q in questions:
        if q["key"] == "age_band":  # a form saved before the label lost its "(optional)"
            q["label_en"], q["label_zh"] = "Your age (optional)", "您的年龄（选填）"
    form.questions = questions
    db.session.commit()
    for language in ("en", "zh-CN"):
        html = client.get(f"/feedback/f/{link.token}", headers={"Accept-Language": language})
        legend = next(
            t
            for t in parse(html.get_data(as_text=True)).texts["legend"]
            if "age" in t or "年龄" in t
        )
        assert legend.count("optional") + legend.count("选填") == 1, legend


def test_says_optional_reads_both_languages():
    assert svc.says_optional("Your age (optional)")
    assert svc.says_optional("您的年龄（选填）")
    assert not svc.says_optional("Your age")
    assert not svc.says_optional("Optional extras you liked")


def test_the_honeypot_is_hidden_from_people_and_screen_readers(client, link):
    page = parse(client.get(f"/feedback/f/{link.token}").get_data(as_text=True))
    trap = next(
        attrs for tag, attrs in page.tags if tag == "input" and attrs.get("name") == "website"
    )
    assert trap.get("aria-hidden") == "true"
    assert trap.get("tabindex") == "-1"
    assert trap.get("autocomplete") == "off"
    # no label a screen reader or a person could read points at it
    assert not [a for t, a in page.tags if t == "label" and a.get("for") == "website"]
    wrapper = [a for t, a in page.tags if t == "div" and "rw-hp" in (a.get("class") or "")]
    assert wrapper and wrapper[0].get("aria-hidden") == "true"


@pytest.mark.parametrize("url", ["/feedback/f/{token}", "/auth/login"])
def test_every_page_links_the_favicon_from_our_own_static_files(client, app, link, url):
    html = client.get(url.format(token=link.token)).get_data(as_text=True)
    icons = [a for t, a in parse(html).tags if t == "link" and "icon" in (a.get("rel") or "")]
    assert len(icons) == 1
    href = icons[0]["href"]
    assert href.startswith("/static/") and "//" not in href  # no CDN
    with client.get(href) as svg:
        assert svg.status_code == 200
        assert b"<svg" in svg.data


def test_a_closed_staff_check_in_tells_staff_what_to_do(client, auth, feedback_pilot):
    mine = feedback_pilot.assignments[0].site
    auth.login(Role.STAFF, site=mine)
    feedback_pilot.status = PilotStatus.DONE
    db.session.commit()
    url = f"/feedback/staff/answer/{feedback_pilot.id}"
    en = client.get(url, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "tell a member of staff" not in en
    assert "change lead" in en and "reopen" in en
    assert feedback_pilot.name in en
    zh = client.get(url, headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "变革负责人" in zh and "重新开放" in zh
    assert "请告诉工作人员" not in zh


def test_the_public_closed_page_still_asks_customers_to_tell_staff(client, link):
    link.pilot.status = PilotStatus.DONE
    db.session.commit()
    page = client.get(f"/feedback/f/{link.token}", headers={"Accept-Language": "en"})
    assert "tell a member of staff" in page.get_data(as_text=True)
