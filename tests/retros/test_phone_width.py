"""The lead's retro pages at phone width (375 px): wide tables scroll inside a
``.table-responsive``, button rows wrap; and the adjustment form names its sites once."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from app.extensions import db
from app.models import Role
from app.retros import meetings as retro_service
from tests.retros.conftest import RETRO_DAY, seed_feedback


class Nesting(HTMLParser):
    """For every <table>, the classes of the elements around it; every class seen."""

    VOID = {"input", "br", "img", "meta", "link", "hr", "col", "source", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, str]] = []
        self.tables: list[list[str]] = []
        self.classes: list[str] = []

    def handle_starttag(self, tag, attrs):
        cls = dict(attrs).get("class") or ""
        self.classes.append(cls)
        if tag == "table":
            self.tables.append([c for _, c in self.stack])
        if tag not in self.VOID:
            self.stack.append((tag, cls))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break


@pytest.fixture
def lead(auth):
    return auth.login(Role.CHANGE_LEAD)


def test_every_table_of_the_retro_day_scrolls_inside_its_own_box(client, lead, small_pilot):
    seed_feedback(small_pilot)
    retro_service.open_retro(small_pilot.pilot, RETRO_DAY, by=lead)
    db.session.commit()
    url = f"/retros/pilot/{small_pilot.pilot.id}/day/{RETRO_DAY.isoformat()}"
    page = Nesting()
    page.feed(client.get(url).get_data(as_text=True))
    assert len(page.tables) >= 3  # metrics, responses, satisfaction, actions
    for around in page.tables:
        assert any("table-responsive" in c.split() for c in around), around
    # a btn-group never wraps: at 375 px it pushes the page sideways
    assert not [c for c in page.classes if "btn-group" in c.split()]


def test_the_adjustment_form_names_the_chosen_sites_once(client, lead, small_pilot):
    retro, _ = retro_service.open_retro(small_pilot.pilot, RETRO_DAY, by=lead)
    db.session.commit()
    html = client.get(f"/retros/{retro.id}/adjustments/new", headers={"Accept-Language": "en"})
    text = html.get_data(as_text=True)
    # once, as the choice of scope; the list of sites under it has its own label
    assert text.count("Chosen pilot sites") == 1
    assert ">Which pilot sites<" in text
