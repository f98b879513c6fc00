"""Property-based: no query string and no form value makes a 500 (Hypothesis).

Text includes NUL bytes, huge and negative integers, numbers that are not finite, markup and
any Unicode; the pages are the sites search, the feedback comments filter, paging, and a few
forms a change lead posts. The API's JSON is covered in tests/api/test_api_hardening.py.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.extensions import db
from app.models import Role

SPECIAL = st.sampled_from(
    [
        "\x00",
        "a\x00b",
        "99999999999999999999",
        "-99999999999999999999",
        "2147483648",
        "-1",
        "0",
        "1e308",
        "NaN",
        "-inf",
        "%",
        "'",
        '"',
        "<script>alert(1)</script>",
        "{{7*7}}",
        "' OR 1=1 --",
        "\ud7ff\ufffd",
        " " * 300,
        "x" * 5000,
    ]
)
NASTY = st.one_of(
    st.text(max_size=40),
    SPECIAL,
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)
#: Bounded so the module runs in well under a minute.
GENERATED = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ACCEPTABLE = {200, 302, 400, 403, 404, 409, 413, 422}


@pytest.fixture
def lead(auth, make_pilot):
    """A change lead, logged in, and a pilot of theirs (its id)."""
    user = auth.login(Role.CHANGE_LEAD)
    pilot = make_pilot(owner=user)
    db.session.commit()
    return pilot.id


def check(response) -> None:
    assert response.status_code in ACCEPTABLE, response.get_data(as_text=True)[:500]


@GENERATED
@given(q=NASTY, region=NASTY, page=NASTY, extra=NASTY)
def test_no_sites_search_makes_a_server_error(client, lead, q, region, page, extra):
    check(client.get("/sites/", query_string={"q": q, "region": region, "page": page, extra: q}))


@GENERATED
@given(site=NASTY, tag=NASTY, page=NASTY, flagged=NASTY)
def test_no_comments_filter_makes_a_server_error(client, lead, site, tag, page, flagged):
    query = {"site": site, "tag": tag, "page": page, "flagged": flagged}
    check(client.get(f"/feedback/pilots/{lead}/comments", query_string=query))


@GENERATED
@given(path_id=st.integers(min_value=-(2**70), max_value=2**70), step=NASTY)
def test_no_id_in_a_path_makes_a_server_error(client, lead, path_id, step):
    for url in (f"/pilots/{path_id}", f"/pilots/{lead}/wizard/{path_id}", f"/sites/{path_id}/edit"):
        check(client.get(url, query_string={"step": step}))


@GENERATED
@given(name=NASTY, change=NASTY, hypothesis=NASTY, owner=NASTY, reason=NASTY)
def test_no_pilot_description_makes_a_server_error(
    client, lead, name, change, hypothesis, owner, reason
):
    form = {
        "name": name,
        "change_description": change,
        "hypothesis": hypothesis,
        "owner_id": owner,
        "reason": reason,
        "next": "1",
    }
    check(client.post("/pilots/new", data=form))
    check(client.post(f"/pilots/{lead}/wizard/1", data=form))


@GENERATED
@given(values=st.lists(NASTY, min_size=12, max_size=12))
def test_no_site_form_makes_a_server_error(client, lead, values):
    names = [
        "code", "name", "region", "city", "address", "size_tier", "staff_count",
        "management_score", "digital_readiness", "senior_share", "daily_orders", "is_active",
    ]  # fmt: skip
    check(client.post("/sites/new", data=dict(zip(names, values, strict=True))))


@GENERATED
@given(values=st.lists(NASTY, min_size=7, max_size=7))
def test_no_new_metric_or_dates_form_makes_a_server_error(client, lead, values):
    names = ["name", "name_zh", "unit", "kind", "better_direction", "min_value", "max_value"]
    metric = {f"metric-{n}": v for n, v in zip(names, values, strict=True)}
    check(client.post(f"/pilots/{lead}/metrics/new", data=metric))
    dates = {"pre_start": values[0], "start_date": values[1], "end_date": values[2]}
    check(client.post(f"/pilots/{lead}/wizard/3", data=dates))
