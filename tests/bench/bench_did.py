"""Benchmark: site x day DiD on 2,000 sites x 365 days (730,000 rows), ours vs pyfixest and
vs a bare numpy demeaning (the floor: the same estimate with no checks, issue 22's
"within 1.3 x").

    .venv/bin/python tests/bench/bench_did.py [--sites 2000] [--days 365] [--missing 0.1]
        [--chain-snapshot URL]

Prints wall time (best of ``--repeat`` warm runs; pyfixest's first call, which compiles, is
reported separately), the ratio, the largest coefficient/SE disagreement, and the peak memory
allocated by our fit (tracemalloc, a separate run) and the process RSS (psutil).

``--chain-snapshot URL`` also times, beside the comparison, a report snapshot of the biggest
running pilot (200 sites) of a chain-seeded database (``bench_chain_jobs.py``'s part (b):
median of ``--repeat`` runs, goal <= 10 s).
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from analysis.did import did
from analysis.simulate import simulate_panel


def make_panel(n_sites: int, days: int, missing: float, seed: int):
    n_pilot = n_sites // 4
    pre = days // 2
    sim = simulate_panel(
        n_pilot, n_sites - n_pilot, pre, days - pre, effect=1.0, missing_share=missing, seed=seed
    )
    panel = sim.observations
    arm = panel["site_id"].map(sim.sites.set_index("site_id")["arm"])
    panel["treated"] = ((arm == "pilot") & (panel["date"] >= sim.start)).astype(int)
    return panel


def bare_inputs(panel) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """value, treated and 0-based site and day codes of the complete rows: what any fit of
    the panel starts with (timed with the floor, as ours starts from the same frame)."""
    import pandas as pd

    used = panel.dropna(subset=["value", "treated"])
    site = pd.factorize(used["site_id"])[0]
    day = pd.factorize(used["date"])[0]
    return (
        used["value"].to_numpy(dtype=float),
        used["treated"].to_numpy(dtype=float),
        site,
        day,
    )


def bare_numpy_did(y, x, site, day, tol: float = 1e-10) -> tuple[float, float]:
    """The floor: the same estimate with nothing but numpy on ready arrays -- alternating
    demeaning of value and treated by site and day to the same tolerance as ours, the slope
    and a site-clustered standard error. No checks, no result object."""
    data = np.column_stack([y, x])
    scale = np.abs(data).max(axis=0) + 1.0
    counts = [np.bincount(codes).astype(float) for codes in (site, day)]
    for _sweep in range(10_000):
        biggest = np.zeros(2)
        for codes, n in zip((site, day), counts, strict=True):
            for col in range(2):
                means = np.bincount(codes, weights=data[:, col]) / n
                data[:, col] -= means[codes]
                biggest[col] = max(biggest[col], np.abs(means).max())
        if np.all(biggest <= tol * scale):
            break
    ty, tx = data[:, 0], data[:, 1]
    beta = float(tx @ ty / (tx @ tx))
    score = np.bincount(site, weights=tx * (ty - beta * tx))
    n_sites = len(score)
    return beta, float(np.sqrt(n_sites / (n_sites - 1) * (score @ score)) / (tx @ tx))


def best_of(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=2000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--missing", type=float, nargs="+", default=[0.0, 0.1])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--chain-snapshot",
        metavar="URL",
        default=None,
        help="also time a report snapshot of the 200-site running pilot of this chain database",
    )
    args = parser.parse_args(argv)
    import psutil
    import pyfixest as pf

    process = psutil.Process()
    for missing in args.missing:
        panel = make_panel(args.sites, args.days, missing, args.seed)
        print(
            f"\n{args.sites} sites x {args.days} days, {100 * missing:.0f}% site-days missing: "
            f"{len(panel):,} rows"
        )
        ours_time, ours = best_of(lambda p=panel: did(p), args.repeat)

        def fixest(p=panel):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return pf.feols(
                    "value ~ treated | site_id + date", data=p, vcov={"CRV1": "site_id"}
                )

        bare_time, (bare_beta, _se) = best_of(
            lambda p=panel: bare_numpy_did(*bare_inputs(p)), args.repeat
        )
        first = time.perf_counter()
        fixest()
        first = time.perf_counter() - first
        ref_time, ref = best_of(fixest, args.repeat)
        tracemalloc.start()
        did(panel)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        coef_diff = abs(ours.effect - ref.coef()["treated"]) / abs(ref.coef()["treated"])
        se_diff = abs(ours.se - ref.se()["treated"]) / ref.se()["treated"]
        print(
            f"  ours (analysis.did.did)        {ours_time:8.3f} s  "
            f"({ours.fit.iterations} demeaning sweeps)"
        )
        print(f"  pyfixest feols, warm           {ref_time:8.3f} s  (first call {first:.2f} s)")
        print(f"  ratio pyfixest / ours          {ref_time / ours_time:8.2f}x  (goal 2-5x)")
        print(
            f"  bare numpy demeaning           {bare_time:8.3f} s  ratio ours / bare "
            f"{ours_time / bare_time:.2f}x (goal <= 1.3x); coef differs by "
            f"{abs(ours.effect - bare_beta) / abs(bare_beta):.1e}"
        )
        print(f"  relative difference coef / SE  {coef_diff:.1e} / {se_diff:.1e}")
        print(
            f"  peak memory of our fit         {peak / 2**20:8.1f} MiB (tracemalloc); "
            f"process RSS {process.memory_info().rss / 2**20:.0f} MiB (psutil)"
        )
        print(f"  estimate {ours.effect:.5f} (SE {ours.se:.5f}), true effect 1.0")
    if args.chain_snapshot:
        return chain_snapshot(args.chain_snapshot, args.repeat)
    return 0


def chain_snapshot(url: str, repeat: int) -> int:
    """The report snapshot of the chain's biggest running pilot (bench_chain_jobs.py (b))."""
    import statistics

    from tests.bench import bench_chain_jobs

    runs, what = bench_chain_jobs.chain_snapshot(url, repeat)
    median = statistics.median(runs)
    missed = median > bench_chain_jobs.GOAL_SECONDS
    print(f"\nchain-scale report snapshot, {what}:")
    print(f"  runs {', '.join(f'{s:.2f}' for s in runs)} s")
    print(f"  median {median:.2f} s (goal <= {bench_chain_jobs.GOAL_SECONDS:.0f} s)"
          f"{' MISSED' if missed else ''}")  # fmt: skip
    return 1 if missed else 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
