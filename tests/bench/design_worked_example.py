"""The worked example of docs/analysis-design.md: a seeded 120-site registry designed by
``analysis.design``, compared with the former route (worst sites as pilots, matched controls).

Prints the pool, the pairs, the balance of the former route, the balance over every within-pair
assignment the design could draw (before randomization) and of the seeded draw (after), the
power of the design by placebo pilots, and the CLI call that reproduces the design.

    .venv/bin/python tests/bench/design_worked_example.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from analysis import design, design_power, simulate_registry  # noqa: E402
from analysis.pilot_design import _characteristic_values, _registry, _smd_over_assignments  # noqa: E402
from analysis.selection import _site_frame, propose_pilot_sites, select_controls  # noqa: E402
from analysis.simulate import PROBLEM_METRIC  # noqa: E402

SEED, N_PILOTS, MATCH = 7, 8, ("region", "digital_readiness")


def designed_registry(days: int = 56):
    """The seeded 120-site registry with ``days`` of history, and its design."""
    sites, history = simulate_registry(120, region_skew=0.5, problem_skew=0.8, seed=2024, days=days)
    plan = design(
        sites,
        history,
        n_pilots=N_PILOTS,
        problem_metric=PROBLEM_METRIC,
        match=MATCH,
        max_volume_share=0.15,
        seed=SEED,
    )
    return sites, history, plan


def design_powers(sites, history, plan):
    """Power of the paired design and of unpaired pilots drawn from the same pool."""
    paired = design_power(history, plan, metric=PROBLEM_METRIC, registry=sites, min_effect=-1.0)
    unpaired = design_power(
        history,
        n_pilot=N_PILOTS,
        n_control=N_PILOTS,
        metric=PROBLEM_METRIC,
        candidates=plan.pool,
        min_effect=-1.0,
    )
    return paired, unpaired


def main() -> int:
    sites, history, plan = designed_registry()
    print(f"registry: 120 sites, regions {sites['region'].value_counts().sort_index().to_dict()}")
    print(plan.summary())
    level = history[history["metric"] == PROBLEM_METRIC].groupby("site_id")["value"].mean()
    pool = list(plan.pool)
    rest = level.drop(pool)
    print(
        f"\npool: {len(pool)} sites, wait level {level[pool].mean():.2f} (rest {rest.mean():.2f}); "
        f"pilot volume share {plan.volume_share:.1%}"
    )
    print("\nformer route: worst sites per region as pilots, matched controls from the rest")
    proposal = propose_pilot_sites(
        sites,
        history[history["metric"] == PROBLEM_METRIC],
        n=N_PILOTS,
        stratify_by="region",
        problem_metric=PROBLEM_METRIC,
        max_volume_share=0.15,
        volume_col="volume",
    )
    controls = select_controls(
        sites,
        proposal.site_ids,
        history,
        method="matched",
        n=N_PILOTS,
        match_on=list(MATCH),
        metric=PROBLEM_METRIC,
    )
    for row in controls.balance.rows:
        print(f"  {row.variable:<28} SMD {row.smd:+.2f}")
    print("\nbalance before randomization (over all 256 within-pair draws) and after (seed 7)")
    ask = type("Ask", (), {"match": MATCH, "volume_column": None})
    reg = _registry(_site_frame(sites), history, PROBLEM_METRIC, ask)
    for entry in plan.balance:
        values = _characteristic_values(reg, entry.name)
        table = np.array([[values[s] for s in g] for g in plan.pairs], dtype=float)
        smd = np.abs(_smd_over_assignments(table))
        print(
            f"  {entry.name:<28} median |SMD| {np.median(smd):.2f}, "
            f"share > 0.25: {np.mean(smd > 0.25):5.1%}; drawn {entry.smd:+.2f}"
        )
    print("\npower by placebo pilots on the 56-day history, 28 + 28 days")
    for result in design_powers(sites, history, plan):
        print(result.summary(), f"(placebo rejection {result.placebo_rejection:.1%})")
    print("\nthe same registry with 16 weeks of history (the first 8 are the ones above)")
    for result in design_powers(*designed_registry(days=112)):
        print(result.summary(), f"(placebo rejection {result.placebo_rejection:.1%})")
    print(
        "\npython -m analysis design registry.csv history.csv --pilots 8 --problem-metric "
        "wait_minutes --match region digital_readiness --max-volume-share 0.15 --seed 7"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
