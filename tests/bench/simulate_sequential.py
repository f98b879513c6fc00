"""Error-rate study of daily sequential monitoring (analysis.sequential).

A/A replications (no effect): 10 pilot vs 30 control sites, 28 pre + 28 post days, site
effects, weekday pattern and AR(1) noise (rho = 0.5), one look per post-period day (28 looks).
Prints, for one-sided ("increase") and two-sided designs at alpha = 0.05:

* the false-positive rate of the sequential boundaries (must stay <= alpha, within noise);
* the rate of naive daily peeking at the fixed alpha (what the boundaries protect against);
* the rate of the final look alone (the fixed-horizon test);
* how often the repeated confidence interval excluded 0 at some look (it must equal the
  sequential rate: interval and test use the same t critical value), the number of looks where
  they disagree (must be 0), and the rate of the former z-scale interval for contrast;

then, with a true effect, the share of pilots stopped for enough evidence and the median day
of the first crossing, and a few replications through the full ``monitor()`` entry point.

    .venv/bin/python tests/bench/simulate_sequential.py --reps 5000 --seed 1
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from analysis.sequential import _estimate_looks, _make_looks, monitor  # noqa: E402
from tests.analysis_design.helpers import ar1_panel, pilot_frames  # noqa: E402
from tests.bench.benchkit import finish  # noqa: E402

N_PILOT, N_CONTROL, PRE, POST = 10, 30, 28, 28


def _one(rng: np.random.Generator, effect: float, direction: str) -> tuple:
    """One panel: (crossed, naive, final look alone, first crossing day, interval excluded 0,
    former z-scale interval excluded 0, looks where interval and test disagree)."""
    dates = pd.date_range("2024-01-01", periods=PRE + POST, freq="D")
    pilot = np.arange(N_PILOT + N_CONTROL) < N_PILOT
    values = ar1_panel(rng, N_PILOT + N_CONTROL, PRE + POST)
    values = values + effect * np.outer(pilot, np.arange(PRE + POST) >= PRE)
    rows = _estimate_looks(values, pilot, dates, dates[PRE])
    looks, _, z_dir, _, _ = _make_looks(rows, PRE, POST, 0.05, direction)
    crit = 1.959964 if direction == "two-sided" else 1.644854
    crossed = np.array([lk.crossed for lk in looks])
    excluded = np.array([lk.ci_low > 0 or lk.ci_high < 0 for lk in looks])
    est = np.array([lk.estimate for lk in looks])
    se = np.array([lk.se for lk in looks])
    c = np.abs([lk.boundary for lk in looks])
    old = (est - c * se > 0) if direction == "increase" else (np.abs(est) - c * se > 0)
    first = int(np.argmax(crossed)) + 1 if crossed.any() else 0
    return (
        bool(crossed.any()),
        bool((z_dir >= crit).any()),
        bool(z_dir[-1] >= crit),
        first,
        bool(excluded.any()),
        bool(old.any()),
        int((crossed != excluded).sum()),
    )


def _rate(flags: list[bool]) -> str:
    p = float(np.mean(flags))
    se = float(np.sqrt(p * (1 - p) / len(flags)))
    return f"{100 * p:5.2f}% (se {100 * se:.2f}%)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--effect", type=float, default=3.0)
    parser.add_argument("--monitor-reps", type=int, default=200)
    args = parser.parse_args()
    started = time.perf_counter()
    print(
        f"sequential monitoring: {N_PILOT} pilot vs {N_CONTROL} control sites, {PRE}+{POST} "
        f"days, AR(1) rho=0.5, 28 daily looks, alpha=0.05, {args.reps} reps, seed {args.seed}"
    )
    failures = 0
    for direction in ("increase", "two-sided"):
        rng = np.random.default_rng([args.seed, 0 if direction == "increase" else 1])
        rows = [_one(rng, 0.0, direction) for _ in range(args.reps)]
        seq, naive, final, _, interval, old, disagree = zip(*rows, strict=True)
        ok = np.mean(seq) <= 0.06 and sum(disagree) == 0
        failures += not ok
        print(
            f"  A/A {direction:<9}: sequential FPR {_rate(list(seq))} "
            f"[{'PASS' if ok else 'FAIL'} <= 6%], naive daily peeking {_rate(list(naive))}, "
            f"final look alone {_rate(list(final))}"
        )
        bound = 0.05 + 2.33 * np.sqrt(0.05 * 0.95 / args.reps)
        ok = np.mean(interval) <= bound
        failures += not ok
        print(
            f"    repeated interval excluded 0 at some look {_rate(list(interval))} "
            f"[{'PASS' if ok else 'FAIL'} consistent with <= 5%: <= {100 * bound:.2f}%]; "
            f"looks where interval and test disagree: {sum(disagree)}; former z-scale "
            f"interval (estimate - boundary * se) {_rate(list(old))}"
        )
        rng = np.random.default_rng([args.seed, 2])
        rows = [_one(rng, args.effect, direction) for _ in range(args.reps // 3)]
        seq, _, final, first, *_ = zip(*rows, strict=True)
        days = [d for d in first if d > 0]
        print(
            f"  effect {args.effect:+g} {direction:<9}: stopped with enough evidence "
            f"{_rate(list(seq))}, fixed-horizon power {_rate(list(final))}, median first "
            f"crossing day {np.median(days) if days else float('nan'):.0f}"
        )
    hits = 0
    for r in range(args.monitor_reps):
        obs, sites, start, end = pilot_frames(10_000 + r)
        res = monitor(obs, sites, start, "sales", planned_end=end)
        hits += res.first_crossing is not None
    print(
        f"  full monitor() path, A/A: {hits} of {args.monitor_reps} crossed "
        f"({100 * hits / args.monitor_reps:.1f}%)"
    )
    return finish(started, failures)


if __name__ == "__main__":
    raise SystemExit(main())
