"""Benchmark: randomization inference with 10,000 permutations of 40 sites.

    .venv/bin/python tests/bench/bench_permutation.py [--sites 40] [--pilot 10] [--perms 10000]

Times :func:`analysis.permutation.permutation_test` end to end (draws, p-value, and the
confidence interval by test inversion), best of ``--repeat`` runs, and the exact enumeration
of a design with 20,000 or fewer assignments.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from analysis.permutation import permutation_test


def timed(repeat: int, fn) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=40)
    parser.add_argument("--pilot", type=int, default=10)
    parser.add_argument("--perms", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    y = rng.normal(size=args.sites)
    z = np.arange(args.sites) < args.pilot
    y[z] += 0.7
    seconds, result = timed(args.repeat, lambda: permutation_test(y, z, n_permutations=args.perms))
    print(
        f"{args.perms} permutations, {args.pilot} pilot of {args.sites} sites: "
        f"{seconds * 1000:.1f} ms (best of {args.repeat}); budget 500 ms"
    )
    print(f"  {result.summary()}")
    strata = np.tile(["a", "b", "c", "d"], args.sites // 4)
    seconds, result = timed(
        args.repeat, lambda: permutation_test(y, z, strata=strata, n_permutations=args.perms)
    )
    print(f"  with 4 strata: {seconds * 1000:.1f} ms")
    y12, z12 = y[:14], np.arange(14) < 5
    seconds, result = timed(args.repeat, lambda: permutation_test(y12, z12))
    print(
        f"exact enumeration of C(14, 5) = {math.comb(14, 5)} assignments: {seconds * 1000:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
