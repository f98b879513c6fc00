"""The one chart setup (``app.core.charts``) and the one cache (``app.core.cache``).

Every area's charts go through the same figure and the same SVG rendering, so these checks
run over a chart of each kind: the shared daily series and bars (inline in a page) and the
report's charts (SVG files).
"""

from __future__ import annotations

import re
import threading
import xml.etree.ElementTree as ET
from datetime import date

import pandas as pd
import pytest

from app.core import charts
from app.core.cache import lru_cached
from app.core.charts import CONTROL_COLOUR, PILOT_COLOUR, bar_chart_svg, daily_series_svg
from app.reports import charts as report_charts

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script> & "quotes" $5 off, now $3'


def _daily(**overrides) -> str:
    frame = pd.DataFrame(
        {
            "date": pd.date_range("2026-09-01", periods=10),
            "pilot": [float(i) for i in range(10)],
            "control": [float(i) / 2 for i in range(10)],
        }
    )
    arguments = {
        "start": date(2026, 9, 5),
        "end": date(2026, 9, 9),
        "adjustments": [(date(2026, 9, 7), "Second queue")],
        "title": "Waiting time",
        "unit": "min",
    }
    return daily_series_svg(frame, **(arguments | overrides))


def _site_effects() -> str:
    rows = [
        {"site": "S01", "arm": "pilot", "effect": -1.5},
        {"site": "S02", "arm": "control", "effect": 0.4},
    ]
    return report_charts.site_effects_chart(
        rows, title="Change per site", xlabel="min", labels=("Pilot sites", "Control sites")
    )


def _event_study() -> str:
    points = [
        {"week": w, "effect": 0.1 * w, "ci_low": 0.1 * w - 1, "ci_high": 0.1 * w + 1}
        for w in range(-3, 4)
    ]
    return report_charts.event_study_chart(points, title="By week", xlabel="Week")


CHARTS = {
    "daily series": _daily,
    "empty daily series": lambda: daily_series_svg(
        pd.DataFrame(columns=["date", "pilot", "control"]), start=None, title="t", unit=""
    ),
    "bars": lambda: bar_chart_svg(["A", "B"], [1.0, None], title="t", unit="%", highlight="B"),
    "report forest plot": lambda: report_charts.forest_chart(
        [("Waiting time", -0.1, -0.2, 0.0, report_charts.GOOD)], title="All", xlabel="x"
    ),
    "report permutations": lambda: report_charts.permutation_chart(
        [-0.2, 0.0, 0.1, 0.3], 0.25, title="Random", xlabel="min", observed_label="Observed"
    ),
    "report site effects": _site_effects,
    "report event study": _event_study,
}


def _colours(svg: str) -> set[str]:
    # CSS in a chart file, presentation attributes in an inline chart (no inline CSS)
    found = re.findall(r'(?:stroke|fill)(?:: |=")(#[0-9a-fA-F]{6})', svg)
    return {c.lower() for c in found}


@pytest.mark.parametrize("name", CHARTS)
def test_every_chart_is_well_formed_svg(name):
    svg = CHARTS[name]()
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("viewBox")


def test_charts_in_a_page_scale_to_their_container_and_keep_text_as_text():
    root = ET.fromstring(_daily())
    assert root.get("width") is None and root.get("height") is None
    assert root.get("role") == "img"
    assert root.get("aria-label") == "Waiting time (min)"
    texts = [element.text for element in root.iter(f"{SVG}text")]
    assert "Waiting time" in texts


def test_chart_files_have_a_size_and_draw_their_text():
    root = ET.fromstring(_site_effects())
    assert root.get("width", "").endswith("pt") and root.get("height", "").endswith("pt")
    assert list(root.iter(f"{SVG}text")) == []  # glyph outlines: no font needed to read it


def test_user_text_in_titles_and_labels_is_escaped_and_never_mathtext():
    svg = _daily(title=HOSTILE, adjustments=[(date(2026, 9, 7), HOSTILE)])
    assert "<script" not in svg
    root = ET.fromstring(svg)
    assert root.get("aria-label") == f"{HOSTILE} (min)"
    texts = [element.text for element in root.iter(f"{SVG}text")]
    assert HOSTILE in texts  # the title, as typed: "$5 off, now $" is not a formula
    assert any(t and t.startswith("① 09-07 <script>") for t in texts)  # the adjustment's note
    bars = bar_chart_svg([HOSTILE], [1.0], title=HOSTILE, unit="")
    assert "<script" not in bars
    assert HOSTILE in [e.text for e in ET.fromstring(bars).iter(f"{SVG}text")]
    forest = report_charts.forest_chart(
        [(HOSTILE, 0.1, 0.0, 0.2, report_charts.NEUTRAL)], title=HOSTILE, xlabel=HOSTILE
    )
    assert "<script" not in forest
    ET.fromstring(forest)
    assert "Oblique" not in forest  # mathtext would draw "$5 off, now $" in italics


@pytest.mark.parametrize(
    "render", [_daily, _site_effects, _event_study], ids=["daily", "sites", "event study"]
)
def test_pilot_and_control_are_drawn_in_the_shared_colours(render):
    colours = _colours(render())
    assert {PILOT_COLOUR, CONTROL_COLOUR} <= colours


def test_equal_data_give_equal_svg():
    assert _daily() == _daily()
    assert _site_effects() == _site_effects()


def test_a_figure_is_drawn_in_the_house_style():
    with charts.figure(4, 3) as fig:
        ax = fig.add_subplot()
        ax.set_title("t")
        assert ax.title.get_fontweight() == "bold"
        assert not ax.spines["top"].get_visible()
        svg = charts.inline_svg(fig, "t")
    assert svg.startswith('<svg role="img"')


# ---------------------------------------------------------------------------- the cache


def test_the_cache_evicts_the_least_recently_used_entry():
    calls = []

    @lru_cached(2, key=lambda name, suffix: name)
    def shout(name: str, suffix: str) -> str:
        calls.append(name)
        return name.upper() + suffix

    assert shout("a", "!") == "A!"
    assert shout("b", "!") == "B!"
    assert shout("a", "?") == "A!"  # a hit (the key leaves the suffix out); a is now newest
    shout("c", "!")  # full: b, the least recently used, goes
    assert calls == ["a", "b", "c"]
    shout("a", "!")
    assert calls == ["a", "b", "c"]  # a stayed
    shout("b", "!")
    assert calls == ["a", "b", "c", "b"]  # b was evicted, so it is rendered again
    assert len(shout.cache) == 2


def test_the_cache_stays_bounded_and_correct_across_threads():
    @lru_cached(8, key=lambda n: n)
    def square(n: int) -> int:
        return n * n

    errors = []

    def work(offset: int) -> None:
        try:
            for i in range(2000):
                n = (i * 7 + offset) % 50
                assert square(n) == n * n
        except Exception as exc:  # collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(square.cache) <= 8


def test_the_report_caches_keep_their_sizes():
    from app.reports import context, exports

    assert context._chart.cache.maxsize == 256
    assert context._body_html.cache.maxsize == 32
    assert exports.pdf_bytes.cache.maxsize == 16
