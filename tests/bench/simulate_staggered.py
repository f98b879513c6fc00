"""Coverage study of the staggered-rollout bootstrap (analysis.staggered.staggered_att).

Waves of very different sizes (3, 8 and 24 sites) plus 8 never-treated sites, 70 days, effect
``1 + 0.1 * days since adoption`` with a site-level jump SD of 0.5 (heterogeneous effects),
site effects, weekday pattern and AR(1) noise (``tests/analysis_design/helpers.staggered_panel``).
Prints the 95 % interval coverage of the overall ATT and of each wave's ATT against the
simulated population effect, the mean SE and the mean bias.

    .venv/bin/python tests/bench/simulate_staggered.py --reps 300 --seed 5000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from analysis.staggered import staggered_att  # noqa: E402
from tests.analysis_design.helpers import staggered_panel  # noqa: E402
from tests.bench.benchkit import finish  # noqa: E402

WAVE_SIZES = (3, 8, 24)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=5000)
    parser.add_argument("--n-boot", type=int, default=99)
    args = parser.parse_args()
    started = time.perf_counter()
    covered, ses, errors = [], [], []
    for r in range(args.reps):
        panel = staggered_panel(
            args.seed + r, n_never=8, wave_sizes=WAVE_SIZES, effect_sd=0.5, waves=(20, 35, 50)
        )
        treated = panel[panel["adoption_date"].notna() & (panel["date"] >= panel["adoption_date"])]
        truth = [treated["true_effect"].mean()]
        truth += treated.groupby("adoption_date")["true_effect"].mean().tolist()
        res = staggered_att(panel.drop(columns="true_effect"), seed=r, n_boot=args.n_boot)
        est = [res, *res.cohorts]
        covered.append([e.ci_low <= t <= e.ci_high for e, t in zip(est, truth, strict=True)])
        ses.append([e.se for e in est])
        errors.append([e.effect - t for e, t in zip(est, truth, strict=True)])
    covered, ses, errors = np.array(covered), np.array(ses), np.array(errors)
    names = ["overall", *[f"wave of {n}" for n in WAVE_SIZES]]
    print(
        f"staggered bootstrap coverage: waves {WAVE_SIZES} + 8 never treated, {args.reps} "
        f"panels, n_boot {args.n_boot}, seed {args.seed}"
    )
    failures = 0
    for j, name in enumerate(names):
        rate = covered[:, j].mean()
        se = np.sqrt(rate * (1 - rate) / args.reps)
        ok = rate >= 0.95 - 2.33 * np.sqrt(0.05 * 0.95 / args.reps)
        failures += not ok
        print(
            f"  {name:<12} coverage {100 * rate:5.1f}% (se {100 * se:.1f}) "
            f"[{'PASS' if ok else 'FAIL'} >= 95% within noise]; mean SE {ses[:, j].mean():.3f}, "
            f"SD of estimates {errors[:, j].std(ddof=1):.3f}, mean bias {errors[:, j].mean():+.4f}"
        )
    return finish(started, failures)


if __name__ == "__main__":
    raise SystemExit(main())
