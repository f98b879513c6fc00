"""The glossary page's terms: each a plain-language explanation, in both languages.

Reports link every term a reader might not know to ``/glossary#<key>`` (see
:func:`term_url`); the page lists :data:`TERMS` in this order. A term's key is its anchor, so
keys never change once published.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import url_for
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString


@dataclass(frozen=True, slots=True)
class Term:
    """One entry of the glossary."""

    key: str
    """The anchor (``/glossary#key``); stable."""
    title: LazyString
    """The term as readers meet it."""
    text: LazyString
    """What it means, in plain words."""


TERMS: tuple[Term, ...] = (
    Term(
        "control-site",
        _l("Control site"),
        _l(
            "A site that keeps working as before while the pilot sites try the change. What "
            "happens at control sites shows what would probably have happened at the pilot "
            "sites without the change: busy weeks, holidays and weather hit both."
        ),
    ),
    Term(
        "difference-in-differences",
        _l("Difference-in-differences"),
        _l(
            "Compares how much the pilot sites changed from before to during the pilot with "
            "how much the control sites changed over the same days. Whatever moved all sites "
            "alike cancels out; what is left is the effect of the change."
        ),
    ),
    Term(
        "ancova",
        _l("Pre-period adjustment (ANCOVA)"),
        _l(
            "Compares the pilot and control sites' averages during the pilot, taking into "
            "account where each site stood before the start. A busy site stays busy; "
            "allowing for that removes much of the noise between sites and gives a narrower "
            "likely range."
        ),
    ),
    Term(
        "t-test",
        _l("Comparison of site changes (t-test)"),
        _l(
            "Takes each site's change from before to during the pilot and compares the "
            "average change of the pilot sites with that of the control sites."
        ),
    ),
    Term(
        "permutation-test",
        _l("Permutation test"),
        _l(
            "Asks how often a difference at least this large would appear if the pilot sites "
            "had been other sites, picked the same way: the comparison is repeated for every "
            "possible choice of sites (or for thousands of random ones). It relies on no "
            "formula and stays honest with few sites."
        ),
    ),
    Term(
        "matched-pairs",
        _l("Matched pairs"),
        _l(
            "Sites are first put in pairs (or small groups) that are alike, for example in "
            "size, region and past results; then a coin decides which site of each pair "
            "tries the change. Each pilot site is compared with its own partner."
        ),
    ),
    Term(
        "interval",
        _l("Likely range (interval)"),
        _l(
            "The range of effects that fit the data. With the usual 95-in-100 interval, if the "
            "pilot were repeated many times, 95 of 100 such ranges would contain the true "
            "effect. "
            "A range that includes zero means the data cannot tell whether the change helped "
            "or hurt."
        ),
    ),
    Term(
        "p-value",
        _l("p-value"),
        _l(
            "How often a difference at least this large would appear by chance alone, if the "
            "change had no effect at all. p = 0.03 means about 3 times in 100. A small "
            "p-value says chance is an unlikely explanation; it does not say how large or "
            "important the effect is."
        ),
    ),
    Term(
        "adjusted-p-value",
        _l("Adjusted p-value (several metrics)"),
        _l(
            "When several metrics are compared at once, one of them can look different by "
            "chance alone. The adjusted p-value allows for the number of metrics compared, "
            "so that a lucky one is not mistaken for an effect."
        ),
    ),
    Term(
        "min-effect",
        _l("Smallest effect worth acting on"),
        _l(
            "The smallest change that would justify rolling the change out, agreed before "
            "the pilot started. It decides how long a pilot must run and how many sites it "
            "needs."
        ),
    ),
    Term(
        "guardrail",
        _l("Guardrail"),
        _l(
            "A metric the change must not make worse, such as complaints or average ticket. "
            "A guardrail holds when the data rule out harm larger than its margin."
        ),
    ),
    Term(
        "margin",
        _l("Margin"),
        _l(
            "How much worse a guardrail may get before the harm counts, agreed before the "
            "pilot started. A small worsening inside the margin is accepted."
        ),
    ),
    Term(
        "parallel-trends",
        _l("Pre-trend check (parallel trends)"),
        _l(
            "A comparison with control sites assumes that, without the change, pilot and "
            "control sites would have moved alike. The weeks before the start are the only "
            "evidence: if the two groups already drifted apart then, part of the later "
            "difference may have happened anyway. Passing the check with few sites or few "
            "weeks is weak evidence."
        ),
    ),
    Term(
        "balance",
        _l("Balance (standardized difference)"),
        _l(
            "Whether pilot and control sites were alike before the start. For each "
            "characteristic, the difference between the two groups' averages is divided by "
            "the usual spread between sites; values beyond about 0.25 (a quarter of that "
            "spread) are marked, because such a difference can bias the comparison."
        ),
    ),
    Term(
        "regression-to-the-mean",
        _l("Regression to the mean"),
        _l(
            "Sites picked because they did unusually badly (or well) tend to move back "
            "towards the average on their own, without any change. A pilot at such sites can "
            "look like a success that would have happened anyway."
        ),
    ),
    Term(
        "power",
        _l("Power"),
        _l(
            "The chance that a pilot detects an effect of a given size if it is really there. "
            "A power of 0.8 means 8 pilots in 10 would detect it. More days or more sites raise "
            "the power."
        ),
    ),
    Term(
        "sequential-monitoring",
        _l("Sequential monitoring"),
        _l(
            "Looking at the results every day and stopping as soon as they look good would "
            "declare many changes that do nothing a success. Sequential monitoring uses a "
            "stricter threshold at each look, so that looking often keeps false alarms as "
            "rare as planned."
        ),
    ),
    Term(
        "single-pilot-site",
        _l("A single pilot site"),
        _l(
            "With one pilot site, any difference could be that site's own ups and downs. "
            "The result is compared with what each other site would have shown in its place; "
            "treat it as an observation, not as evidence."
        ),
    ),
)

TERM_KEYS = frozenset(term.key for term in TERMS)


def term_url(key: str) -> str:
    """The glossary address of ``key`` (an unknown key is a programming error)."""
    if key not in TERM_KEYS:
        raise ValueError(f"unknown glossary term {key!r}; known: {sorted(TERM_KEYS)}")
    return url_for("main.glossary", _anchor=key)
