"""Benchmark: ``compare`` on 40 sites x 56 days x 6 metrics (budget 2 s).

    .venv/bin/python tests/bench/bench_compare.py [--repeat 5]

Uses the shared simulator (:func:`analysis.simulate.simulate_panel`): 10 pilot and 30 control
sites, 28 pre- and 28 post-period days, 6 metrics, every estimator and diagnostic, 10,000
permutations per metric.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from analysis import compare
from analysis.simulate import simulate_panel

METRICS = ["sales", "wait_minutes", "nps", "complaints", "staff_hours", "returns"]
ROLES = {
    "primary": "sales",
    "guardrails": ["wait_minutes"],
    "directions": {"wait_minutes": "decrease"},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    sim = simulate_panel(10, 30, 28, 28, effect={"sales": 3.0}, metrics=METRICS, seed=1)
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        report = compare(sim.observations, sim.sites, sim.start, **ROLES)
        times.append(time.perf_counter() - start)
    rows = len(sim.observations)
    print(
        f"compare: 40 sites x 56 days x {len(METRICS)} metrics ({rows:,} rows): "
        f"best {min(times):.3f} s, median {sorted(times)[len(times) // 2]:.3f} s "
        f"over {args.repeat} runs; budget 2 s"
    )
    headline = report.metrics["sales"]
    print(
        f"  sales: {headline.method.split(':')[0]} effect {headline.effect:.3f} "
        f"(true 3.0), verdict {headline.verdict}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
