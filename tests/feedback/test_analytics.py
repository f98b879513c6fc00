"""Feedback analytics against hand-computed values.

Data (customer headline question "overall", pilot start 2026-10-01, times 12:00 Shanghai):

====  =====  ==========================  ===================  ==============================
site  arm    before the start            since the start      segments since the start
====  =====  ==========================  ===================  ==============================
P1    pilot  3, 3                        5, 4, 2              2 is 60+
P2    pilot  4, 2                        4, 4, 1, 5           1 and 5 are 60+
C1    ctrl   4                           3, 4                 -
C2    ctrl   3                           2, 5, 3              2 is 60+
====  =====  ==========================  ===================  ==============================
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest
import statsmodels.api as sm
from numpy.testing import assert_allclose
from scipy import stats

from app.extensions import db
from app.feedback import analytics as fa
from app.models import Audience, Role

POST = {"P1": [5, 4, 2], "P2": [4, 4, 1, 5], "C1": [3, 4], "C2": [2, 5, 3]}
PRE = {"P1": [3, 3], "P2": [4, 2], "C1": [4], "C2": [3]}
SENIOR = {("P1", 2), ("P2", 1), ("P2", 5), ("C2", 2)}
NPS_POST = {"P1": [10, 9, 6], "P2": [8, 10, 3, 7], "C1": [5, 9], "C2": [0, 10, 7]}


@pytest.fixture
def data(make_site, make_pilot, add_response):
    sites = {code: make_site(code=code, name=f"Store {code}") for code in ("P1", "P2", "C1", "C2")}
    pilot = make_pilot(
        n_pilot=2, n_control=2, sites=list(sites.values()), start_date=date(2026, 10, 1)
    )
    from app.feedback import questionnaires as svc

    svc.ensure_forms(pilot)
    for code, ratings in PRE.items():
        for i, rating in enumerate(ratings):
            when = datetime(2026, 9, 20 + i, 4, 0, tzinfo=UTC)
            add_response(pilot, sites[code], when, overall=rating, ease=3, recommend=5)
    for code, ratings in POST.items():
        for i, rating in enumerate(ratings):
            when = datetime(2026, 10, 5, 4, i, tzinfo=UTC)
            segment = "60+" if (code, rating) in SENIOR else "30_59"
            add_response(
                pilot,
                sites[code],
                when,
                overall=rating,
                ease=3,
                recommend=NPS_POST[code][i],
                age_band=segment,
            )
    db.session.commit()
    return pilot, sites


def test_rates_by_arm_and_period(data):
    pilot, _ = data
    overview = fa.pilot_overview(pilot)
    row = overview["audiences"]["customer"]["rating_table"][0]
    assert row["question"]["key"] == "overall"
    # hand count: pilot since start 5,4,2,4,4,1,5 -> 5 of 7 are 4-5, mean 25/7
    assert row["pilot_post"] == {
        "n": 7,
        "csat": pytest.approx(5 / 7),
        "mean": pytest.approx(25 / 7),
    }
    # control since start 3,4,2,5,3 -> 2 of 5, mean 17/5
    assert row["control_post"] == {
        "n": 5,
        "csat": pytest.approx(2 / 5),
        "mean": pytest.approx(17 / 5),
    }
    # pilot before 3,3,4,2 -> 1 of 4, mean 3
    assert row["pilot_pre"] == {"n": 4, "csat": pytest.approx(1 / 4), "mean": pytest.approx(3.0)}
    assert overview["audiences"]["customer"]["n_pre"] == 6
    assert overview["audiences"]["customer"]["n_post"] == 12


def test_seniors_are_visible_at_a_glance(data):
    pilot, _ = data
    overview = fa.pilot_overview(pilot)
    seniors = next(r for r in overview["headline"]["segment_table"] if r["segment"] == "60+")
    assert seniors["is_senior"]
    # pilot seniors since start: 2, 1, 5 -> 1 of 3; control seniors: 2 -> 0 of 1
    assert seniors["pilot_post"]["csat"] == pytest.approx(1 / 3)
    assert seniors["control_post"]["csat"] == pytest.approx(0.0)


def test_pilot_vs_control_uses_a_site_clustered_interval(data):
    pilot, _ = data
    comparison = fa.pilot_overview(pilot)["headline"]["comparison"]
    assert comparison["pilot_rate"] == pytest.approx(5 / 7)
    assert comparison["control_rate"] == pytest.approx(2 / 5)
    assert comparison["difference"] == pytest.approx(5 / 7 - 2 / 5)
    # statsmodels: OLS(y ~ pilot).fit(cov_type="cluster", groups=site), t(G-1) interval
    y, x, g = [], [], []
    for code, ratings in POST.items():
        for rating in ratings:
            y.append(float(rating >= 4))
            x.append(1.0 if code.startswith("P") else 0.0)
            g.append(code)
    fit = sm.OLS(np.array(y), sm.add_constant(np.array(x))).fit(
        cov_type="cluster", cov_kwds={"groups": np.array(pd_codes(g))}
    )
    assert_allclose(comparison["se"], fit.bse[1], rtol=1e-9)
    q = stats.t.ppf(0.975, 3)
    assert_allclose(comparison["ci_low"], fit.params[1] - q * fit.bse[1], rtol=1e-9)


def pd_codes(labels):
    order = {label: i for i, label in enumerate(dict.fromkeys(labels))}
    return [order[label] for label in labels]


def test_before_after_at_pilot_sites_is_within_site(data):
    pilot, _ = data
    result = fa.pilot_overview(pilot)["headline"]["before_after"]
    assert result["pre_rate"] == pytest.approx(1 / 4)
    assert result["post_rate"] == pytest.approx(5 / 7)
    # statsmodels: OLS(y ~ post + site dummies) clustered by site
    y, post, site = [], [], []
    for code in ("P1", "P2"):
        for rating in PRE[code]:
            y.append(float(rating >= 4)), post.append(0.0), site.append(code)
        for rating in POST[code]:
            y.append(float(rating >= 4)), post.append(1.0), site.append(code)
    dummies = np.array([[1.0 if s == c else 0.0 for c in ("P1", "P2")] for s in site])
    fit = sm.OLS(np.array(y), np.column_stack([post, dummies])).fit(
        cov_type="cluster", cov_kwds={"groups": np.array(pd_codes(site))}
    )
    assert_allclose(result["change"], fit.params[0], rtol=1e-9)
    assert_allclose(result["se"], fit.bse[0], rtol=1e-9)


def test_nps_by_arm(data):
    pilot, _ = data
    entry = fa.pilot_overview(pilot)["audiences"]["customer"]["nps"][0]
    # pilot scores 10,9,6,8,10,3,7: 3 promoters, 2 detractors of 7 -> 100 * 1/7
    assert entry["pilot"]["nps"] == pytest.approx(100 / 7)
    # control 5,9,0,10,7: 2 promoters, 2 detractors -> 0
    assert entry["control"]["nps"] == pytest.approx(0.0)


def test_local_days_and_the_daily_summary(data, add_response):
    pilot, sites = data
    # 17:30 UTC on 10-05 is 01:30 on 10-06 in Shanghai: it belongs to 10-06
    add_response(
        pilot,
        sites["P1"],
        datetime(2026, 10, 5, 17, 30, tzinfo=UTC),
        overall=1,
        ease=1,
        recommend=0,
        comment="太慢了，再也不来了，我要投诉",
        age_band="60+",
    )
    db.session.commit()
    day5 = fa.feedback_summary(pilot, date(2026, 10, 5))
    assert day5["responses"] == {"customer": 12, "staff": 0, "total": 12}
    assert day5["satisfaction"]["customer"]["csat"] == pytest.approx(7 / 12)
    assert day5["by_arm"]["pilot"]["n"] == 7
    assert day5["seniors"]["csat"] == pytest.approx(1 / 4)  # 2, 1, 5, 2
    day6 = fa.feedback_summary(pilot, date(2026, 10, 6))
    assert day6["responses"]["customer"] == 1
    assert len(day6["flagged"]) == 1
    assert day6["flagged"][0]["text"] == "太慢了，再也不来了，我要投诉"
    assert day6["flagged"][0]["site_code"] == "P1"
    assert day6["top_themes"][0]["tag"] == "waiting"


def test_top_themes_by_period_and_site(data, add_response):
    pilot, sites = data
    when = datetime(2026, 10, 7, 4, tzinfo=UTC)
    for text in ("排队太久", "等了很久才上菜", "扫码点餐很方便"):
        add_response(pilot, sites["P1"], when, overall=4, ease=4, recommend=9, comment=text)
    add_response(pilot, sites["C1"], when, overall=4, ease=4, recommend=9, comment="服务员很热情")
    db.session.commit()
    top = fa.top_themes(pilot, date(2026, 10, 7), date(2026, 10, 7))
    assert [(t["tag"], t["count"]) for t in top][:1] == [("waiting", 2)]
    assert ("qr_ordering", 1) in [(t["tag"], t["count"]) for t in top]
    only_c1 = fa.top_themes(pilot, date(2026, 10, 7), date(2026, 10, 7), site_ids=[sites["C1"].id])
    assert [t["tag"] for t in only_c1] == ["staff"]
    cells = fa.themes_by_day_and_site(pilot, date(2026, 10, 7), date(2026, 10, 7))
    assert {c["site_code"] for c in cells} == {"P1", "C1"}


def test_the_page_shows_the_numbers_and_charts(client, auth, data):
    pilot, _ = data
    auth.login(Role.ANALYST)
    page = client.get(f"/feedback/pilots/{pilot.id}/overview", headers={"Accept-Language": "en"})
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'data-testid="csat-pilot">71.4%' in text
    assert 'data-testid="csat-seniors">33.3%' in text
    assert 'data-testid="chart-csat"><svg' in text
    assert "table-warning" in text  # seniors highlighted
    assert "<script" not in text.split("<main")[1].split("</main>")[0]  # charts are plain SVG


def test_an_empty_pilot_renders_without_errors(client, auth, feedback_pilot):
    auth.login(Role.CHANGE_LEAD)
    page = client.get(
        f"/feedback/pilots/{feedback_pilot.id}/overview", headers={"Accept-Language": "en"}
    )
    assert page.status_code == 200
    assert "No feedback yet." in page.get_data(as_text=True)
    summary = fa.feedback_summary(feedback_pilot, date(2026, 10, 2))
    assert summary["responses"]["total"] == 0 and summary["seniors"]["csat"] is None


def test_staff_attitude_in_the_summary(feedback_pilot, add_response):
    site = feedback_pilot.assignments[0].site
    for attitude in (2, 4, 5):
        add_response(
            feedback_pilot,
            site,
            datetime(2026, 10, 3, 13, tzinfo=UTC),
            Audience.STAFF,
            workload=3,
            ease=3,
            attitude=attitude,
        )
    summary = fa.feedback_summary(feedback_pilot, date(2026, 10, 3))
    assert summary["staff_attitude"] == {"n": 3, "mean": pytest.approx(11 / 3)}
    assert summary["responses"]["staff"] == 3
