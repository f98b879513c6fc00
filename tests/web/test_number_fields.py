"""Number fields refuse "inf", "nan" and overflowing numbers with a message (float() takes them)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict
from wtforms import Form
from wtforms.validators import NumberRange, Optional

from app.core.formfields import FiniteFloatField
from app.extensions import db
from app.models import Role, Site


class _Only(Form):
    amount = FiniteFloatField(validators=[Optional(), NumberRange(min=0)])


@pytest.mark.parametrize("text", ["inf", "Infinity", "-inf", "nan", "1e400"])
def test_words_for_infinity_and_nan_are_refused(app, text):
    with app.test_request_context():
        form = _Only(MultiDict({"amount": text}))
        assert not form.validate()
        assert form.amount.data is None
        assert "ordinary number" in form.errors["amount"][0]


@pytest.mark.parametrize("text, value", [("12", 12.0), ("0.5", 0.5), ("1e3", 1000.0)])
def test_ordinary_numbers_pass(app, text, value):
    with app.test_request_context():
        form = _Only(MultiDict({"amount": text}))
        assert form.validate() and form.amount.data == value


def test_a_site_with_infinite_daily_orders_is_refused_and_nothing_is_saved(client, auth):
    auth.login(Role.CHANGE_LEAD)
    data = {"code": "INF1", "name": "Infinite", "region": "East", "size_tier": "medium",
            "daily_orders": "inf"}  # fmt: skip
    page = client.post("/sites/new", data=data, headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert "Enter an ordinary number" in page.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Site.id)).where(Site.code == "INF1")) == 0
    created = client.post("/sites/new", data={**data, "daily_orders": "320"})
    assert created.status_code == 302
    assert db.session.scalar(select(Site.daily_orders).where(Site.code == "INF1")) == 320.0


def test_a_staff_count_too_large_for_the_database_is_refused(client, auth):
    auth.login(Role.CHANGE_LEAD)
    data = {"code": "BIG1", "name": "Big", "region": "East", "size_tier": "large",
            "staff_count": str(10**20)}  # fmt: skip
    page = client.post("/sites/new", data=data)
    assert page.status_code == 200  # the form again, with a message; no server error
    assert db.session.scalar(select(func.count(Site.id)).where(Site.code == "BIG1")) == 0
