"""Command line: ``python -m analysis compare OBSERVATIONS.csv SITES.csv --start YYYY-MM-DD``.

Caller mistakes (bad columns, unknown metric, unreadable file, ...) print ``error: ...`` to
stderr and exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import pandas as pd

from analysis import __version__
from analysis.compare import METHODS, compare

__all__ = ["build_parser", "main"]


def _key_value(kind: type):
    def parse(text: str) -> tuple[str, object]:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
        try:
            return key, kind(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"bad value in {text!r}: {exc}") from exc

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``python -m analysis``."""
    parser = argparse.ArgumentParser(
        prog="python -m analysis",
        description="Rollwise analysis engine: compare pilot with control sites.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    cmp = commands.add_parser(
        "compare",
        help="compare pilot and control sites on one or more metrics",
        description=(
            "Reads OBSERVATIONS (site_id,date,metric,value) and SITES (site_id,arm,...) and "
            "prints every estimator, the headline result and diagnostics per metric."
        ),
    )
    cmp.add_argument("observations", help="CSV with columns site_id, date, metric, value")
    cmp.add_argument("sites", help="CSV with columns site_id, arm (+ attributes)")
    cmp.add_argument("--start", required=True, help="first pilot day, YYYY-MM-DD")
    cmp.add_argument("--end", help="last pilot day (inclusive), YYYY-MM-DD")
    cmp.add_argument(
        "--metric",
        action="append",
        dest="metrics",
        metavar="KEY",
        help="metric to analyse (repeatable; default: all)",
    )
    cmp.add_argument("--primary", metavar="KEY", help="primary metric (default: first --metric)")
    cmp.add_argument(
        "--guardrail",
        action="append",
        dest="guardrails",
        metavar="KEY",
        help="guardrail metric (repeatable)",
    )
    cmp.add_argument("--alpha", type=float, default=0.05, help="significance level")
    cmp.add_argument("--method", choices=METHODS, default="auto", help="headline estimator")
    cmp.add_argument("--seed", type=int, default=0, help="seed of the permutation draws")
    cmp.add_argument("--n-permutations", type=int, default=10_000, help="permutation draws")
    cmp.add_argument("--min-effect", type=float, help="smallest effect of interest (primary)")
    cmp.add_argument(
        "--direction",
        action="append",
        type=_key_value(str),
        default=[],
        metavar="KEY=increase|decrease",
        help="better direction of a metric",
    )
    cmp.add_argument(
        "--margin",
        action="append",
        type=_key_value(float),
        default=[],
        metavar="KEY=X",
        help="guardrail non-inferiority margin",
    )
    cmp.add_argument("--strata", metavar="COLUMN", help="sites column with randomization strata")
    cmp.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    return parser


def _read_csv(path: str, what: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype={"site_id": str})
    except FileNotFoundError as exc:
        raise ValueError(f"{what} file not found: {path}") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {what} file {path}: {exc}") from exc


def run_compare(args: argparse.Namespace) -> str:
    """Run ``compare`` for parsed arguments and return the text to print."""
    observations = _read_csv(args.observations, "observations")
    sites = _read_csv(args.sites, "sites")
    report = compare(
        observations,
        sites,
        start=args.start,
        end=args.end,
        metrics=args.metrics,
        primary=args.primary,
        guardrails=args.guardrails,
        alpha=args.alpha,
        method=args.method,
        seed=args.seed,
        min_effect=args.min_effect,
        margins=dict(args.margin),
        directions=dict(args.direction),
        strata=args.strata,
        n_permutations=args.n_permutations,
    )
    if args.format == "json":
        return json.dumps(report.to_dict(), indent=2, allow_nan=False)
    return report.summary()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        output = run_compare(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(output)
    return 0
