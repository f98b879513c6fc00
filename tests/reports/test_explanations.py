"""A plain explanation beside every result (EXPLAINING.md), in English and in Chinese.

Five situations are built as snapshots by hand (as in ``test_sentences.py``) and read in
both languages: clearly better, unclear for lack of power, worse but inside a guardrail's
margin, a doubtful pre-trend, a single pilot site. The report page is then read in Chinese
for engine codes and English left behind, and the glossary page for every role.
"""

from __future__ import annotations

import math
import re
from datetime import date, timedelta

import pytest
from flask_babel import force_locale
from markupsafe import Markup
from scipy import stats
from statsmodels.stats.power import NormalIndPower

from analysis.power import sites_for_power_by_se
from app.core.glossary import TERMS
from app.core.labels import segment_value_label
from app.models import Role
from app.reports import explain
from tests.reports.conftest import create_report

WAIT = {"name": "Average wait", "name_zh": "平均等待时间", "unit": "min", "kind": "continuous"}
COMPLAINTS = {
    "name": "Complaints per 100 orders",
    "name_zh": "每百单投诉数",
    "unit": "",
    "kind": "continuous",
}
START = date(2026, 10, 1)
PRE_DAYS = POST_DAYS = 28


def result(**kw) -> dict:
    base = {
        "metric": "avg_wait_min",
        "role": "primary",
        "direction": "decrease",
        "effect": -2.1,
        "se": 0.46,
        "ci_low": -3.2,
        "ci_high": -1.0,
        "p_value": 0.0004,
        "p_adjusted": 0.0004,
        "relative_effect": -0.15,
        "method": "did: x",
        "method_reason": "The pre-period is short or patchy (median 5 days per site), so ...",
        "n_pilot_sites": 10,
        "n_control_sites": 30,
        "verdict": "better",
        "alpha": 0.05,
        "min_effect": 1.0,
        "margin": None,
        "error": None,
        "methods": {},
        "diagnostics": {"pretrend": pretrend(passed=True), "balance": {"rows": []}},
    }
    base.update(kw)
    return base


def pretrend(passed: bool, leads=(0.05, -0.04, 0.02), p=0.8) -> dict:
    """Four weeks before the start: three lead weeks and the reference week (−1)."""
    points = [{"week": -2 - i, "effect": e} for i, e in enumerate(leads)]
    points.append({"week": -1, "effect": 0.0})
    return {"points": points, "n_leads": len(leads), "p_value": p, "passed": passed, "error": None}


def snapshot(*results: dict, metas: dict | None = None, **extra) -> dict:
    days = [(START + timedelta(days=d)).isoformat() for d in range(-PRE_DAYS, POST_DAYS)]
    metrics = {r["metric"]: r for r in results}
    comp = {
        "metrics": metrics,
        "parameters": {
            "start": START.isoformat(),
            "end": (START + timedelta(days=POST_DAYS - 1)).isoformat(),
            "primary": results[0]["metric"],
            "pairs": None,
            "strata": None,
        },
        "n_pilot_sites": results[0]["n_pilot_sites"],
        "n_control_sites": results[0]["n_control_sites"],
        "balance": {"rows": []},
        "warnings": [],
    }
    out = {
        "comparison": comp,
        "metrics_meta": metas or {"avg_wait_min": WAIT},
        "daily": {key: {"dates": days} for key in metrics},
        "site_effects": {},
        "recommendation": {},
        "design": {"pre_start": (START - timedelta(days=PRE_DAYS)).isoformat()},
    }
    out.update(extra)
    return out


def read(app, results: dict, locale: str, methods=frozenset({"random_stratified"})) -> dict:
    """The overview and every metric's text as plain strings, in ``locale``."""
    with app.test_request_context(), force_locale(locale):
        texts = explain.explanations(results, set(methods), locale)
        return {
            "overview": " ".join(_plain(p) for p in texts["overview"]),
            **{
                key: {
                    "decision": m["decision"],
                    "text": " ".join(_plain(p) for p in m["paragraphs"]),
                }
                for key, m in texts["metrics"].items()
            },
        }


def _plain(markup: Markup) -> str:
    return Markup(markup).striptags()


# ---------------------------------------------------------------- five situations


def test_clearly_better(app):
    snap = snapshot(result())
    en = read(app, snap, "en")
    assert en["avg_wait_min"]["decision"] == "Better."
    text = en["avg_wait_min"]["text"]
    assert text.startswith(
        "At the pilot sites, Average wait fell by 2.1 min compared with the control sites "
        "(likely between 1.0 min and 3.2 min lower; about 15 % less)."
    )
    assert "A difference this large would appear by chance alone less than once in 1,000 " in text
    assert "(p < 0.001)" in text
    assert (
        "In the 4 weeks before the start, Average wait moved alike at pilot and control sites, "
        "which supports the comparison (pre-trend check)." in text
    )
    assert "more weeks" not in text  # nothing to make clearer
    assert en["overview"].startswith(
        "10 pilot sites were compared with 30 control sites drawn at random within groups of "
        "alike sites, over 28 days before the start (from Sep 3, 2026) and 28 days of the pilot "
        "(Oct 1, 2026 to Oct 28, 2026)."
    )
    assert "difference-in-differences" in en["overview"]
    zh = read(app, snap, "zh_CN")
    assert zh["avg_wait_min"]["decision"] == "更好。"
    assert zh["avg_wait_min"]["text"].startswith(
        "与对照门店相比，试点门店的平均等待时间减少了 2.1 分钟（很可能降低 1.0 分钟 至 3.2 分钟；"
        "约减少 15%）。"
    )
    assert (
        "仅凭偶然出现如此大差异的可能性不到 1,000 分之一（p < 0.001）。"
        in zh["avg_wait_min"]["text"]
    )
    assert "开始前 4 周，平均等待时间在试点门店与对照门店走势一致" in zh["avg_wait_min"]["text"]
    assert zh["overview"].startswith(
        "将 10 家试点门店与 30 家对照门店（在相似门店组成的组内随机抽取）"
    )


def _needed(se: float, effect: float) -> tuple[int, int]:
    """Weeks and pilot sites for 80 % power, computed here from scipy and statsmodels."""
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    days = POST_DAYS * (z * se / effect) ** 2
    # NormalIndPower: per-site spread sigma from se = sigma * sqrt(1/10 + 1/30), ratio 3
    sigma = se / math.sqrt(1 / 10 + 1 / 30)
    sites = NormalIndPower().solve_power(
        effect_size=effect / sigma, alpha=0.05, power=0.8, ratio=3.0, alternative="two-sided"
    )
    return math.ceil((days - POST_DAYS) / 7), math.ceil(sites)


def test_sites_for_power_matches_statsmodels():
    # statsmodels NormalIndPower().solve_power(d, alpha, power, ratio) with d = effect / sigma
    for se, n_p, n_c, effect in [(0.5, 10, 30, 1.0), (0.8, 6, 6, 1.5), (2.0, 4, 20, 3.0)]:
        sigma = se / math.sqrt(1 / n_p + 1 / n_c)
        expected = NormalIndPower().solve_power(
            effect_size=effect / sigma, alpha=0.05, power=0.8, ratio=n_c / n_p
        )
        # statsmodels also counts the far tail of the two-sided test (power gained by an
        # estimate of the wrong sign), so it needs a hair fewer sites than the one-tail formula
        assert sites_for_power_by_se(se, n_p, n_c, effect) == pytest.approx(expected, rel=1e-4)
    with pytest.raises(ValueError):
        sites_for_power_by_se(0.0, 10, 30, 1.0)


def test_no_clear_difference_yet_says_how_many_more_weeks(app):
    res = result(
        effect=-0.4,
        se=0.5,
        ci_low=-1.5,
        ci_high=0.7,
        p_value=0.42,
        p_adjusted=0.42,
        relative_effect=-0.03,
        verdict="inconclusive",
    )
    weeks, sites = _needed(0.5, 1.0)
    assert weeks == 4 and sites == 20  # the numbers the text must quote
    snap = snapshot(res)
    en = read(app, snap, "en")["avg_wait_min"]
    assert en["decision"] == "No clear difference yet: not yet enough data."
    assert "it could plausibly be anywhere from 1.5 min lower to 0.7 min higher" in en["text"]
    assert (
        "about 4 times in 10 (p = 0.42), so chance explains it as well as the change" in en["text"]
    )
    assert (
        f"With these 10 pilot sites, about {weeks} more weeks would detect a change of 1.0 min "
        "8 times in 10." in en["text"]
    )
    assert f"about {sites} pilot sites instead of 10" in en["text"]
    zh = read(app, snap, "zh_CN")["avg_wait_min"]
    assert zh["decision"] == "暂无明确差异：数据尚不足。"
    assert "实际可能在降低 1.5 分钟 到升高 0.7 分钟 之间" in zh["text"]
    assert f"以现有 10 家试点门店，大约再需 {weeks} 周" in zh["text"]
    assert f"约 {sites} 家试点门店" in zh["text"]


def test_the_snapshot_extension_is_quoted_for_the_primary_metric(app):
    res = result(effect=-0.4, ci_low=-1.5, ci_high=0.7, p_value=0.42, verdict="inconclusive")
    ext = {"metric": "avg_wait_min", "effect": 1.0, "weeks": 3, "method": "power"}
    en = read(app, snapshot(res, recommendation={"extension": ext}), "en")["avg_wait_min"]
    assert "about 3 more weeks would detect a change of 1.0 min 8 times in 10" in en["text"]


def test_worse_but_inside_the_guardrail_margin(app):
    guard = result(
        metric="complaints",
        role="guardrail",
        direction="decrease",
        effect=0.2,
        se=0.1,
        ci_low=0.01,
        ci_high=0.39,
        p_value=0.04,
        p_adjusted=0.08,
        relative_effect=None,
        verdict="worse",
        margin=0.5,
    )
    snap = snapshot(result(), guard, metas={"avg_wait_min": WAIT, "complaints": COMPLAINTS})
    en = read(app, snap, "en")
    assert en["complaints"]["decision"] == (
        "Worse, but within the guardrail's margin: the guardrail holds."
    )
    text = en["complaints"]["text"]
    assert text.startswith(
        "At the pilot sites, Complaints per 100 orders rose by 0.20 compared with the control "
        "sites (likely between 0.01 and 0.39 higher). This stays inside the margin of 0.50 "
        "agreed before the start: the guardrail holds."
    )
    assert "(p = 0.04; p = 0.08 once the other metrics are allowed for)" in text
    assert "Because 2 metrics were compared at once" in en["overview"]
    zh = read(app, snap, "zh_CN")
    assert zh["complaints"]["decision"] == "变差，但仍在护栏容许范围内：护栏守住了。"
    assert "这仍在开始前商定的 0.50 容许范围之内：护栏守住了。" in zh["complaints"]["text"]
    assert "考虑其他指标后 p = 0.08" in zh["complaints"]["text"]


def test_a_doubtful_pre_trend_says_read_with_care(app):
    # the pilot-minus-control gap shrank week by week before the start: on a metric where
    # lower is better, the pilot sites were already improving faster
    res = result(diagnostics={"pretrend": pretrend(False, leads=(0.3, 0.6, 0.9), p=0.004)})
    en = read(app, snapshot(res), "en")["avg_wait_min"]["text"]
    assert (
        "Read with care: in the weeks before the start, pilot sites were already improving "
        "faster than control sites, so part of the difference may have happened anyway "
        "(pre-trend check: p = 0.004)." in en
    )
    assert "moved alike" not in en
    zh = read(app, snapshot(res), "zh_CN")["avg_wait_min"]["text"]
    assert "请谨慎解读：开始前几周，试点门店已经比对照门店改善得更快" in zh
    worse = result(diagnostics={"pretrend": pretrend(False, leads=(-0.3, -0.6, -0.9), p=0.01)})
    assert (
        "already getting worse faster" in read(app, snapshot(worse), "en")["avg_wait_min"]["text"]
    )


def test_a_single_pilot_site_is_an_observation_with_its_rank(app):
    res = result(
        n_pilot_sites=1,
        n_control_sites=12,
        method="permutation: x",
        verdict="inconclusive",
        ci_low=-4.0,
        ci_high=0.2,
        p_value=0.08,
        p_adjusted=0.08,
    )
    changes = [-2.5, -1.8, 0.4, -0.2, 0.1, -1.0, 0.8, 0.3, -0.6, 1.1, 0.0, -0.3]
    rows = [{"site": "P", "arm": "pilot", "change": -1.5}] + [
        {"site": f"C{i}", "arm": "control", "change": c} for i, c in enumerate(changes)
    ]
    # lower waits are better: the sites whose waits fell more than -1.5 rank above it
    rank = 1 + sum(c < -1.5 for c in changes)
    assert rank == 3
    snap = snapshot(res, site_effects={"avg_wait_min": rows})
    en = read(app, snap, "en")
    assert (
        "With a single pilot site, a result cannot be told apart from that site's own ups and "
        "downs. Treat each result as an observation, not as evidence." in en["overview"]
    )
    assert (
        "Compared with every other site in turn, the pilot site's change in Average wait ranks "
        f"{rank} of 13 (1 = best)." in en["avg_wait_min"]["text"]
    )
    assert "permutation test" in en["overview"]
    zh = read(app, snap, "zh_CN")
    assert "请将每项结果视为一次观察，而非证据。" in zh["overview"]
    assert f"在 13 家门店中排第 {rank}（1 = 最好）" in zh["avg_wait_min"]["text"]


# ---------------------------------------------------------------- words, not codes


def test_warnings_reasons_and_segments_read_in_both_languages(app):
    names = {"avg_wait_min": "Average wait"}
    imbalance = "Imbalanced before the start (|SMD| > 0.25): pre:avg_wait_min, size_tier=small."
    missing = "31% of pilot site-days are missing for avg_wait_min."
    with app.test_request_context(), force_locale("en"):
        assert explain.warning_text(imbalance, names) == (
            "Pilot and control sites differed before the start in: Average wait before the "
            "start and Size tier: Small."
        )
        assert explain.warning_text(missing, names) == (
            "31 % of the pilot sites' days have no data for Average wait."
        )
        assert explain.reason_text("regressors are collinear after removing the fixed effects") == (
            "the sites do not differ enough in this characteristic to compare segments"
        )
        assert segment_value_label("30_59") == "30–59"
        assert segment_value_label("60+") == "60 and over"
        assert segment_value_label("senior_share <= 0.2") == "Share of senior customers ≤ 0.2"
    with app.test_request_context(), force_locale("zh_CN"):
        zh_names = {"avg_wait_min": "平均等待时间"}
        assert explain.warning_text(imbalance, zh_names) == (
            "开始前试点门店与对照门店在以下方面存在差异：开始前的平均等待时间和规模等级：小。"
        )
        assert (
            explain.warning_text(missing, zh_names) == "试点门店有 31% 的天数缺少平均等待时间数据。"
        )
        assert segment_value_label("30_59") == "30–59 岁"
        assert segment_value_label("60+") == "60 岁及以上"
        assert "SMD" not in explain.warning_text("something new with |SMD|", zh_names)


def test_the_repeated_interval_names_both_ends_or_says_which_is_open(app):
    seq = {"status": "enough_evidence", "first_crossing": "2026-10-03"}
    with app.test_request_context(), force_locale("en"):
        both = explain.sequential_text(
            dict(seq, repeated_ci_low=-3.1, repeated_ci_high=-1.8), WAIT, "en"
        )
        assert "is −3.10 min to −1.80 min" in both.striptags()
        open_low = explain.sequential_text(
            dict(seq, repeated_ci_low=None, repeated_ci_high=-1.79), WAIT, "en"
        ).striptags()
        assert open_low.startswith("Enough evidence to decide: checked in a way that allows")
        assert "at most −1.79 min (no lower limit yet)" in open_low
        assert "enough_evidence" not in open_low and "—" not in open_low
    with app.test_request_context(), force_locale("zh_CN"):
        zh = explain.sequential_text(
            dict(seq, repeated_ci_low=None, repeated_ci_high=-1.79), WAIT, "zh_CN"
        ).striptags()
        assert zh.startswith("证据足以做出决定") and "差异至多为 −1.79 分钟（暂无下限）" in zh


# ---------------------------------------------------------------- the page


def _sentences(html: str) -> list[str]:
    text = re.sub(r"<[^>]+>", " ", html)
    return [s.strip() for s in re.split(r"(?<=[.。])\s+", text) if s.strip()]


@pytest.fixture
def report_page(report_pilot, analyst_client, client):
    def get(language: str) -> str:
        pilot = report_pilot()
        report = create_report(client, pilot)
        client.get(f"/lang/{language}")
        response = client.get(f"/reports/{report.id}")
        assert response.status_code == 200
        return response.get_data(as_text=True)

    return get


def test_the_method_is_said_once_not_under_every_metric(report_page):
    html = report_page("en")
    articles = re.findall(r'<article class="card.*?</article>', html, flags=re.S)
    assert len(articles) == 2
    per_metric = [
        set(_sentences(" ".join(re.findall(r'data-testid="explanation">(.*?)</div>', a, re.S))))
        for a in articles
    ]
    shared = set.intersection(*per_metric)
    assert shared == set(), shared
    overview = re.search(r'data-testid="overview">(.*?)</div>', html, re.S)[1]
    method = next(s for s in _sentences(overview) if s.startswith("Method:"))
    assert html.count(re.sub(r"\s+", " ", method).split(" (")[0]) == 1
    assert "HC2" not in html and "Bell" not in html  # the engine's own method names
    assert 'href="/glossary#ancova"' in html


def test_the_chinese_page_has_no_engine_codes_or_english_leftovers(report_page):
    html = report_page("zh_CN")
    for leftover in (
        "ANCOVA, HC2",
        "HC2",
        "not estimable",
        "not available",
        "adjusted p",
        "enough_evidence",
        "|SMD|",
        "30_59",
        "Status:",
        "repeated-confidence",
        "pre:metric",
    ):
        assert leftover not in html, leftover
    assert "30–59 岁" in html
    assert "比较了什么、如何比较" in html and "证据足以做出决定" in html
    for key in ("parallel-trends", "balance", "sequential-monitoring", "p-value", "interval"):
        assert f'href="/glossary#{key}"' in html, key


# ---------------------------------------------------------------- the glossary


@pytest.mark.parametrize("role", list(Role))
def test_every_role_reads_the_glossary(client, auth, role):
    auth.login(role)
    response = client.get("/glossary")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for term in TERMS:
        assert f'id="{term.key}"' in page


def test_the_glossary_needs_a_login_and_reads_in_chinese(client, auth):
    assert client.get("/glossary").status_code == 302
    auth.login(Role.STAFF)
    client.get("/lang/zh_CN")
    page = client.get("/glossary").get_data(as_text=True)
    assert "术语表" in page and "双重差分" in page and "置换检验" in page


def test_every_glossary_link_of_the_report_has_its_term(report_page):
    html = report_page("en")
    linked = set(re.findall(r'href="/glossary#([\w-]+)"', html))
    assert linked and linked <= {t.key for t in TERMS}


@pytest.mark.parametrize(
    ("method", "reason", "en_words", "zh_words"),
    [
        ("did", "short or patchy", "compared how pilot and control sites changed", "双重差分"),
        ("ancova", "stable", "allowing for where each site stood before the start", "前期调整"),
        (
            "permutation",
            "only 4 pilot",
            "every other way the pilot sites could have been",
            "置换检验",
        ),
        ("paired", "matched groups", "with the alike site it was paired with", "匹配配对"),
        ("welch", "", "the average change of the pilot sites", "t 检验"),
    ],
)
def test_each_method_is_explained_in_its_own_words(app, method, reason, en_words, zh_words):
    snap = snapshot(result(method=f"{method}: x", method_reason=reason))
    en = read(app, snap, "en")["overview"]
    method_sentence = en[en.index("Method: every metric") :].split(". ")[0]
    assert en_words in method_sentence
    zh = read(app, snap, "zh_CN")["overview"]
    assert "方法：所有指标均" in zh and zh_words in zh


def test_the_design_says_how_the_sites_were_chosen(app):
    paired = snapshot(result())
    paired["comparison"]["parameters"]["pairs"] = [["a", "b"]]
    assert (
        "drawn at random within matched pairs of alike sites" in read(app, paired, "en")["overview"]
    )
    matched = read(app, snapshot(result()), "en", methods={"matched", "manual"})["overview"]
    assert "with control sites matched to the pilot sites on their history" in matched
    by_hand = read(app, snapshot(result()), "zh_CN", methods={"manual"})["overview"]
    assert "（由人工选定）" in by_hand


def test_methods_that_differ_between_metrics_are_named_per_metric(app):
    other = result(metric="ticket", method="permutation: x", method_reason="only 4")
    snap = snapshot(result(), other, metas={"avg_wait_min": WAIT, "ticket": WAIT})
    texts = read(app, snap, "en")
    assert "Method: every metric" not in texts["overview"]
    assert "Method: compared how pilot and control sites changed" in texts["avg_wait_min"]["text"]
    assert "Method: checked the difference against every other way" in texts["ticket"]["text"]


def test_when_more_days_cannot_do_it_more_sites_are_named(app):
    res = result(
        effect=-0.4,
        se=3.0,
        ci_low=-6.3,
        ci_high=5.5,
        p_value=0.9,
        p_adjusted=0.9,
        verdict="inconclusive",
    )
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert POST_DAYS * (z * 3.0) ** 2 > POST_DAYS + 52 * 7  # beyond a year of extra days
    sites = math.ceil(10 * (z * 3.0) ** 2)
    en = read(app, snapshot(res), "en")["avg_wait_min"]["text"]
    assert "More days alone would not be enough to detect a change of 1.0 min 8 times in 10" in en
    assert f"About {sites} pilot sites instead of 10 (with control sites in the same " in en
    no_target = read(app, snapshot(dict(res, min_effect=None)), "zh_CN")["avg_wait_min"]["text"]
    assert "该指标没有商定值得采取行动的最小效果，因此无法计算还需要多少天。" in no_target


def test_a_metric_that_could_not_be_analysed_says_why_in_words(app):
    res = result(effect=None, error="no post-period data for avg_wait_min")
    en = read(app, snapshot(res), "en")["avg_wait_min"]
    assert en["decision"] == "Not enough data to compare."
    assert en["text"] == "It could not be analysed: no data during the pilot"
    zh = read(app, snapshot(res), "zh_CN")["avg_wait_min"]
    assert zh["decision"] == "数据不足，无法比较。" and zh["text"] == "无法分析：试点期间没有数据"


def test_the_charts_are_described_in_words_and_units_are_translated(report_page):
    html = report_page("zh_CN")
    alts = re.findall(r'<img class="img-fluid chart"[^>]*\balt="([^"]*)"', html)
    assert alts, "the page shows no chart"
    for alt in alts:
        assert re.search(r"[\u4e00-\u9fff]", alt), alt  # a title, not an id like forest-metrics
        assert not re.search(r"[a-z]+[-_][a-z]", alt), alt
    assert 'alt="forest-metrics"' not in html and "所有指标" in alts[0]
    assert "<th>SE</th>" not in html and "标准误" in html


def test_a_unit_reads_in_the_readers_language(app):
    errors = {"name": "Order errors", "name_zh": "点单错误", "unit": "errors", "kind": "count"}
    res = result(metric="order_errors")
    zh = read(app, snapshot(res, metas={"order_errors": errors}), "zh_CN")["order_errors"]
    assert "2.1 次错误" in zh["text"] and "errors" not in zh["text"]
    en = read(app, snapshot(res, metas={"order_errors": errors}), "en")["order_errors"]
    assert "2.1 errors" in en["text"]


def test_too_few_sites_answering_before_and_after_is_said_in_words(app):
    reason = (
        "1 pilot site(s) answered both before and after the start; "
        "a site-clustered before/after comparison needs at least two"
    )
    with app.test_request_context(), force_locale("zh_CN"):
        assert explain.reason_text(reason) == "开始前后都有作答的门店少于两家"
    with app.test_request_context(), force_locale("en"):
        assert explain.reason_text(reason) == (
            "fewer than two sites answered both before and after the start"
        )


def test_a_metric_the_adjustment_left_out_is_said_in_the_readers_words(app):
    # "not analysed" is what app/retros/adjustments.py stores for a metric the engine skipped
    with app.test_request_context(), force_locale("zh_CN"):
        assert explain.reason_text("not analysed") == "未分析"
    with app.test_request_context(), force_locale("en"):
        assert explain.reason_text("not analysed") == "not analysed"
        # only the whole phrase: a longer engine reason keeps its own words
        assert explain.reason_text("no pre-period: not analysed yet") == (
            "no data from before the start"
        )
