"""Error-rate study of the analysis engine: false positives, interval coverage, CI width.

Each replication simulates a pilot with :func:`analysis.simulate.simulate_panel` (site
effects, weekday seasonality, AR(1) noise with rho = 0.5, 28 pre + 28 post days) and runs the
full :func:`analysis.compare` on it:

* A/A replications (true effect 0) give every method's false-positive rate at alpha = 0.05;
* replications with a true effect give the coverage of each method's 95% interval.

Beside them it prints the naive day-level t-test (every post-period site-day's change against
its site's pre-period mean, treated as independent) and, when :mod:`analysis.sequential` is
present, the false-positive rate of the daily sequential monitor over 28 looks.

The ``paired`` design (issue 19) is a designed pilot instead: a seeded 120-site registry
(:func:`analysis.simulate.simulate_designed_pilot`), 56 pre-period days, the default design
(pool = worst half, 10 pairs matched on level, trend and region, seeded assignment inside the
pairs), 28 more days. Each replication analyses, on the same chains,

* the paired design with its pairs (``compare(..., pairs=...)``: headline = pair fixed
  effects; the permutation test flips the pilot inside each pair, 2^10 assignments);
* the same sites analysed as if unpaired (``compare`` without pairs; headline ANCOVA);
* the unpaired design: as many pilot and control sites drawn completely at random from the
  same pool (headline ANCOVA);

A/A replications give false-positive rates, replications with a true effect of -1.5 minutes
give coverage and power; the power gain of the paired design over unpaired controls is the
difference in rejection rates on the same simulated chains.

    .venv/bin/python tests/bench/simulate_error_rates.py --reps 2000 --seed 20240601
    .venv/bin/python tests/bench/simulate_error_rates.py --reps 2000 --designs paired
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from analysis import compare
from analysis.simulate import PROBLEM_METRIC, simulate_designed_pilot, simulate_panel

METHODS = ("did", "ancova", "welch", "permutation", "rank")
TRUE_EFFECT = 3.0


@dataclass(frozen=True)
class Design:
    """One simulated design."""

    name: str
    n_pilot: int
    n_control: int
    pre_days: int = 28
    post_days: int = 28


DESIGNS = {
    "10v30": Design("10 pilot vs 30 control", 10, 30),
    "4v30": Design("4 pilot vs 30 control", 4, 30),
    "1v30": Design("1 pilot vs 30 control", 1, 30),
    "6v30": Design("6 pilot vs 30 control", 6, 30),
    "6v6": Design("6 pilot vs 6 control", 6, 6),
    "10v30short": Design("10 vs 30, 3 pre-period days", 10, 30, pre_days=3),
    "10v100": Design("10 pilot vs 100 control", 10, 100),
    "20v20": Design("20 pilot vs 20 control", 20, 20),
    "20v20short": Design("20 vs 20, 3 pre-period days", 20, 20, pre_days=3),
    "15v25short": Design("15 vs 25, 3 pre-period days", 15, 25, pre_days=3),
    "paired": Design("designed pilot: 10 pairs from a 120-site registry", 10, 10, 56, 28),
}
PAIRED_EFFECT = -1.5
PAIRED_ARMS = ("paired", "paired_as_unpaired", "random")


def naive_day_level_p(sim, alpha: float = 0.05) -> float:
    """Welch t-test of post-period site-day changes (value minus the site's pre mean)."""
    obs = sim.observations
    arm = sim.sites.set_index("site_id")["arm"]
    pre_mean = obs[obs["date"] < sim.start].groupby("site_id")["value"].mean()
    post = obs[obs["date"] >= sim.start]
    change = post["value"].to_numpy() - post["site_id"].map(pre_mean).to_numpy()
    pilot = (post["site_id"].map(arm) == "pilot").to_numpy()
    return float(stats.ttest_ind(change[pilot], change[~pilot], equal_var=False).pvalue)


def one_replication(args: tuple) -> dict:
    """Simulate one pilot, analyse it, and report rejections and coverage per method."""
    design, effect, seed, n_permutations, with_sequential = args
    sim = simulate_panel(
        design.n_pilot,
        design.n_control,
        design.pre_days,
        design.post_days,
        effect=effect,
        rho=0.5,
        seed=np.random.default_rng(seed),
    )
    report = compare(
        sim.observations, sim.sites, sim.start, n_permutations=n_permutations, seed=seed[-1]
    )
    result = report.metrics["sales"]
    row = {"headline": result.method.split(":")[0], "reason": result.method_reason}
    for name, r in [("headline", result), *result.methods.items()]:
        ok = r.error is None and math.isfinite(r.p_value)
        row[f"{name}_reject"] = bool(ok and r.p_value < 0.05)
        row[f"{name}_cover"] = bool(ok and r.ci_low <= effect <= r.ci_high)
        row[f"{name}_width"] = (r.ci_high - r.ci_low) if ok else float("nan")
        row[f"{name}_ok"] = ok
    row["naive_reject"] = naive_day_level_p(sim) < 0.05
    if with_sequential:
        from analysis.sequential import monitor

        seq = monitor(sim.observations, sim.sites, sim.start, "sales", planned_end=sim.end)
        row["sequential_reject"] = seq.first_crossing is not None
    return row


def one_paired_replication(args: tuple) -> dict:
    """One designed pilot: the paired design (with and without its pairs) and the unpaired
    design on the same chains, each analysed by the full compare()."""
    effect, seed, n_permutations = args
    rng = np.random.default_rng(seed)
    pilot = simulate_designed_pilot(120, 10, seed=rng)
    runs = {
        "paired": (pilot.sites, "pair"),
        "paired_as_unpaired": (pilot.sites.drop(columns="pair"), None),
        "random": (pilot.random_sites(rng), None),
    }
    row: dict = {"unbalanced": len(pilot.design.unbalanced)}
    for arm, (sites, pairs) in runs.items():
        report = compare(
            pilot.observations(sites, effect),
            sites,
            pilot.start,
            pairs=pairs,
            n_permutations=n_permutations,
            seed=seed[-1],
        )
        result = report.metrics[PROBLEM_METRIC]
        row[f"{arm}_method"] = result.method.split(":")[0]
        for name, r in [("headline", result), ("permutation", result.methods["permutation"])]:
            ok = r.error is None and math.isfinite(r.p_value)
            row[f"{arm}_{name}_reject"] = bool(ok and r.p_value < 0.05)
            row[f"{arm}_{name}_cover"] = bool(ok and r.ci_low <= effect <= r.ci_high)
            row[f"{arm}_{name}_width"] = (r.ci_high - r.ci_low) if ok else float("nan")
    return row


def report_paired(pool: ProcessPoolExecutor, reps: int, seed: int, n_permutations: int) -> int:
    """Run and print the paired study; returns the number of failed requirements."""
    jobs = [
        (effect, (seed, 99, kind, rep), n_permutations)
        for kind, effect in enumerate((0.0, PAIRED_EFFECT))
        for rep in range(reps)
    ]
    rows = list(pool.map(one_paired_replication, jobs, chunksize=10))
    null, alt = rows[:reps], rows[reps:]
    print(
        f"\n{DESIGNS['paired'].name} (56+28 days, true effect {PAIRED_EFFECT} for coverage and "
        f"power); designs with an unbalanced characteristic: "
        f"{100 * np.mean([r['unbalanced'] > 0 for r in null]):.1f}%"
    )
    print(
        f"  {'design / analysis':<38} {'FPR':>7} {'(se)':>6} {'coverage':>9} {'(se)':>6} "
        f"{'power':>7} {'mean CI width':>14}"
    )
    for arm in PAIRED_ARMS:
        methods = sorted({r[f"{arm}_method"] for r in null})
        for name in ("headline", "permutation"):
            key = f"{arm}_{name}"
            fpr, fpr_se = _rate(null, f"{key}_reject")
            cov, cov_se = _rate(alt, f"{key}_cover")
            power, _ = _rate(alt, f"{key}_reject")
            width = np.nanmean([r[f"{key}_width"] for r in alt])
            label = f"{arm} {name}" + (f" ({'/'.join(methods)})" if name == "headline" else "")
            print(
                f"  {label:<38} {100 * fpr:6.2f}% {100 * fpr_se:5.2f}% {100 * cov:8.2f}% "
                f"{100 * cov_se:5.2f}% {100 * power:6.2f}% {width:14.3f}"
            )
    fpr, _ = _rate(null, "paired_headline_reject")
    cov, _ = _rate(alt, "paired_headline_cover")
    ok = 0.035 <= fpr <= 0.065 and 0.93 <= cov <= 0.97
    print(
        f"  paired headline FPR in [3.5%, 6.5%] and coverage in [93%, 97%]: "
        f"{'PASS' if ok else 'FAIL'}"
    )
    gain = np.array([r["paired_headline_reject"] for r in alt], float) - np.array(
        [r["random_headline_reject"] for r in alt], float
    )
    print(
        f"  power gain of the paired design over unpaired random controls (same chains): "
        f"{100 * gain.mean():+.2f} points (se {100 * gain.std(ddof=1) / np.sqrt(reps):.2f})"
    )
    return int(not ok)


def _rate(rows: list[dict], key: str) -> tuple[float, float]:
    values = np.array([r[key] for r in rows], dtype=float)
    p = float(np.nanmean(values))
    return p, math.sqrt(p * (1 - p) / len(values))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2000, help="replications per design and case")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument(
        "--designs", nargs="+", default=["10v30", "4v30", "1v30", "paired"], choices=sorted(DESIGNS)
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--n-permutations", type=int, default=10_000)
    args = parser.parse_args(argv)

    try:
        import analysis.sequential  # noqa: F401

        sequential = True
    except ImportError:
        sequential = False

    print(
        f"error-rate study: {args.reps} A/A and {args.reps} effect={TRUE_EFFECT} replications "
        f"per design (paired: effect={PAIRED_EFFECT}), seed {args.seed}, alpha 0.05"
    )
    failures = 0
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for d_index, key in enumerate(args.designs):
            if key == "paired":
                failures += report_paired(pool, args.reps, args.seed, args.n_permutations)
                continue
            design = DESIGNS[key]
            seq_here = sequential and key == "10v30"
            jobs = [
                (
                    design,
                    effect,
                    (args.seed, d_index, kind, rep),
                    args.n_permutations,
                    seq_here and kind == 0,
                )
                for kind, effect in enumerate((0.0, TRUE_EFFECT))
                for rep in range(args.reps)
            ]
            rows = list(pool.map(one_replication, jobs, chunksize=20))
            null, alt = rows[: args.reps], rows[args.reps :]
            headline = sorted({r["headline"] for r in null})
            print(
                f"\n{design.name} ({design.pre_days}+{design.post_days} days); "
                f"auto headline: {', '.join(headline)}"
            )
            print(f"  why: {null[0]['reason']}")
            print(
                f"  {'method':<12} {'FPR':>7} {'(se)':>7} {'coverage':>9} {'(se)':>7} "
                f"{'mean CI width':>14} {'valid':>6}"
            )
            for name in ("headline", *METHODS):
                fpr, fpr_se = _rate(null, f"{name}_reject")
                cov, cov_se = _rate(alt, f"{name}_cover")
                widths = np.array([r[f"{name}_width"] for r in alt], dtype=float)
                width = np.nanmean(widths) if np.isfinite(widths).any() else float("nan")
                valid = np.mean([r[f"{name}_ok"] for r in null])
                print(
                    f"  {name:<12} {100 * fpr:6.2f}% {100 * fpr_se:6.2f}% {100 * cov:8.2f}% "
                    f"{100 * cov_se:6.2f}% {width:14.3f} {100 * valid:5.0f}%"
                )
            naive, naive_se = _rate(null, "naive_reject")
            print(
                f"  {'naive t':<12} {100 * naive:6.2f}% {100 * naive_se:6.2f}%   "
                "(day-level t-test, site-days treated as independent)"
            )
            if key == "10v30":
                fpr, _ = _rate(null, "headline_reject")
                cov, _ = _rate(alt, "headline_cover")
                ok = 0.035 <= fpr <= 0.065 and 0.93 <= cov <= 0.97
                failures += not ok
                print(
                    f"  headline FPR in [3.5%, 6.5%] and coverage in [93%, 97%]: "
                    f"{'PASS' if ok else 'FAIL'}"
                )
                if seq_here:
                    seq, seq_se = _rate(null, "sequential_reject")
                    verdict = "PASS" if seq <= 0.06 else "FAIL"
                    failures += seq > 0.06
                    print(
                        f"  sequential monitor, 28 daily looks: FPR {100 * seq:.2f}% "
                        f"(se {100 * seq_se:.2f}%) <= 6%: {verdict}"
                    )
                elif not sequential:
                    print("  sequential: not available")
            if key == "1v30":
                fell_back = all(r["headline"] == "permutation" for r in null)
                failures += not fell_back
                print(
                    f"  falls back to permutation with a single pilot site: "
                    f"{'PASS' if fell_back else 'FAIL'}"
                )
    print(f"\ntotal time {time.perf_counter() - started:.0f} s with {args.workers} workers")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
