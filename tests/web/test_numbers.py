"""Numbers as people read them (app/core/numbers.py): "< 0.001", one minus sign, no "−0",
date spans with years only when needed, percentages, and the same in zh-CN."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from flask_babel import force_locale

from app.core import clock, numbers
from app.core.numbers import MINUS
from app.models import Role


@pytest.fixture
def ctx(app):
    with app.test_request_context():
        yield


@pytest.fixture
def today_is(monkeypatch):
    def move(day: date) -> None:
        moment = datetime(day.year, day.month, day.day, 4, 0, tzinfo=UTC)
        monkeypatch.setattr(clock, "utc_now", lambda: moment)

    return move


@pytest.mark.parametrize(
    ("p", "text"),
    [
        (0.0, "< 0.001"),
        (0.00049, "< 0.001"),
        (0.001, "0.001"),
        (0.0049, "0.005"),  # three decimals below 0.01
        (0.0123, "0.01"),  # two above
        (0.0499, "0.05"),
        (0.5, "0.50"),
        (1.0, "1.00"),
        (None, "—"),
        (float("nan"), "—"),
    ],
)
def test_p_values_never_read_zero(ctx, p, text):
    assert numbers.p_text(p) == text


def test_p_expression_says_less_than_or_equals(ctx):
    assert numbers.p_expr(0.00001) == "p < 0.001"
    assert numbers.p_expr(0.031) == "p = 0.03"


@pytest.mark.parametrize(
    ("x", "digits", "text"),
    [(-2.94, 2, f"{MINUS}2.94"), (-1234.5, 1, f"{MINUS}1,234.5"), (-0.08, 2, f"{MINUS}0.08")],
)
def test_negative_numbers_use_the_true_minus_sign(ctx, x, digits, text):
    out = numbers.num(x, digits)
    assert out == text
    assert "-" not in out


@pytest.mark.parametrize("x", [-0.0, -0.001, -0.004])
def test_a_number_that_rounds_to_zero_has_no_sign(ctx, x):
    assert numbers.num(x, 2) == "0.00"
    assert numbers.num(x, 2, signed=True) == "0.00"
    assert numbers.pct(x / 100) in ("0.0%", "0%")


def test_signed_numbers_show_plus_and_true_minus(ctx):
    assert numbers.num(1.5, 1, signed=True) == "+1.5"
    assert numbers.num(-1.5, 1, signed=True) == f"{MINUS}1.5"


@pytest.mark.parametrize(
    ("x", "kwargs", "text"),
    [
        (0.05, {}, "+5.0%"),  # one decimal below 10 %
        (0.25, {}, "+25%"),  # none above
        (-0.034, {}, f"{MINUS}3.4%"),
        (0.25, {"signed": False}, "25%"),
        (0.1234, {"signed": False, "digits": 1}, "12.3%"),
    ],
)
def test_percent_digits(ctx, x, kwargs, text):
    assert numbers.pct(x, **kwargs) == text


def test_sentence_numbers_use_the_true_minus_sign(ctx):
    assert numbers.sig(-2.94281) == f"{MINUS}2.94"
    assert numbers.sig(0.000123456) == "0.000123"
    assert numbers.sig(-12345.6) == f"{MINUS}12,346"


def test_the_template_filters_format_the_same_way(app, ctx):
    render = app.jinja_env.from_string
    assert render("{{ -2.5 | number(1) }}").render() == f"{MINUS}2.5"
    assert render("{{ 0.0002 | p_value }}").render() == "&lt; 0.001"
    assert render("{{ 0.0002 | p_expression }}").render() == "p &lt; 0.001"


def test_a_date_span_within_this_year_has_no_year(ctx, today_is):
    today_is(date(2026, 6, 1))
    assert numbers.date_span(date(2026, 3, 2), date(2026, 3, 29)) == "Mar 2 – Mar 29"


def test_a_date_span_across_a_year_shows_both_years(ctx, today_is):
    today_is(date(2026, 12, 20))
    text = numbers.date_span(date(2026, 12, 14), date(2027, 1, 10))
    assert text == "Dec 14, 2026 – Jan 10, 2027"


def test_a_date_span_in_another_year_shows_the_year(ctx, today_is):
    today_is(date(2027, 2, 1))
    assert numbers.date_span(date(2026, 3, 2), date(2026, 3, 29)) == "Mar 2, 2026 – Mar 29, 2026"


def test_a_date_span_of_one_day_or_an_open_end(ctx, today_is):
    today_is(date(2026, 6, 1))
    assert numbers.date_span(date(2026, 3, 2), date(2026, 3, 2)) == "Mar 2"
    assert numbers.date_span(date(2026, 3, 2), None) == "Mar 2 –"
    assert numbers.date_span(None, None) == "—"


def test_zh_cn_output(ctx, today_is):
    today_is(date(2026, 12, 20))
    with force_locale("zh_CN"):
        assert numbers.num(-1234.5, 1) == f"{MINUS}1,234.5"
        assert numbers.p_text(0.0001) == "< 0.001"
        assert numbers.pct(0.25, signed=False) == "25%"
        span = numbers.date_span(date(2026, 12, 14), date(2027, 1, 10))
        assert span == "2026年12月14日 – 2027年1月10日"
        assert numbers.date_span(date(2026, 3, 2), date(2026, 3, 29)) == "3月2日 – 3月29日"


@pytest.mark.parametrize(
    ("column", "kind"),
    [
        ("p_value", "p"),
        ("p_adjusted", "p"),
        ("heterogeneity_p_value", "p"),
        ("p", "p"),
        ("relative_effect", "share"),
        ("senior_share", "share"),
        ("power", "share"),
        ("load", "share"),
        ("satisfied_rate", "share"),
        ("effect", "number"),
        ("ci_low", "number"),
        ("pilot_mean", "number"),
    ],
)
def test_column_kinds(column, kind):
    assert numbers.column_kind(column) == kind


@pytest.mark.parametrize(
    ("x", "kind", "rounded"),
    [
        (0.0123456, "p", 0.0123),
        (0.000012345, "p", 0.000012),  # below 0.0001: two significant digits, never 0
        (0.0345678, "share", 0.035),
        (-2.9428113, "number", -2.943),
        (123456.78, "number", 123457.0),  # digits before the point are never rounded away
        (0.000123456, "number", 0.0001235),
        (-0.00001, "share", 0.0),  # no "-0.0"
    ],
)
def test_export_rounding_by_kind(x, kind, rounded):
    out = numbers.round_for_column(x, kind)
    assert out == rounded
    assert str(out) == str(rounded)


def test_export_rounding_leaves_other_cells_alone():
    for value in (3, True, "0.123456789", None):
        assert numbers.round_for_column(value, "number") == value
    nan = numbers.round_for_column(float("nan"), "p")
    assert nan != nan


def test_the_pilot_page_shows_its_period_with_years_across_new_year(
    client, auth, make_pilot, today_is
):
    today_is(date(2026, 12, 20))
    pilot = make_pilot(start_date=date(2026, 12, 14))  # runs 28 days, into 2027
    auth.login(Role.CHANGE_LEAD)
    page = client.get(f"/pilots/{pilot.id}", headers={"Accept-Language": "en"})
    period = re.search(r'data-testid="pilot-period">([^<]*)<', page.get_data(as_text=True))
    assert period is not None
    assert period.group(1) == "pilot period Dec 14, 2026 – Jan 10, 2027"
