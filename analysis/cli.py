"""Command line of the analysis engine.

* ``python -m analysis compare OBSERVATIONS.csv SITES.csv --start YYYY-MM-DD [...]``: every
  estimator, the headline and diagnostics per metric (a ``pair`` column of SITES, or
  ``--pairs COLUMN``, analyses a pilot randomized inside matched pairs);
* ``python -m analysis design SITES.csv HISTORY.csv --pilots N --problem-metric KEY [...]``:
  pool, matched pairs and seeded assignment (:func:`analysis.pilot_design.design`).

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
from analysis.pilot_design import design

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
    for flag, kind, metavar, what in (
        ("--direction", str, "KEY=increase|decrease", "better direction of a metric"),
        ("--margin", float, "KEY=X", "guardrail non-inferiority margin"),
    ):
        cmp.add_argument(
            flag, action="append", type=_key_value(kind), default=[], metavar=metavar, help=what
        )
    cmp.add_argument("--strata", metavar="COLUMN", help="sites column with randomization strata")
    cmp.add_argument(
        "--pairs",
        metavar="COLUMN",
        help="sites column with the matched pair (group) of each site of a pilot randomized "
        "inside pairs (default: the column 'pair' when SITES has one)",
    )
    cmp.add_argument("--no-pairs", action="store_true", help="ignore a 'pair' column of SITES")
    cmp.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    _add_design_parser(commands)
    return parser


def _add_design_parser(commands: argparse._SubParsersAction) -> None:
    """The ``design`` subcommand."""
    des = commands.add_parser(
        "design",
        help="design a pilot: pool where the problem is present, matched pairs, random pilots",
        description=(
            "Reads SITES (site_id + attributes) and HISTORY (site_id,date,metric,value before "
            "the pilot) and prints the pilot and control sites, the pairs, the seed, the "
            "balance table and warnings."
        ),
    )
    des.add_argument("sites", help="CSV with column site_id (+ attributes)")
    des.add_argument("history", help="CSV with columns site_id, date, metric, value")
    des.add_argument("--pilots", type=int, required=True, metavar="N", help="pilot sites")
    des.add_argument("--problem-metric", required=True, metavar="KEY", help="metric of HISTORY")
    des.add_argument("--problem", choices=("high", "low"), default="high", help="which end is bad")
    des.add_argument(
        "--match",
        action="extend",
        nargs="+",
        default=[],
        metavar="ATTR",
        help="attribute(s) to match on (categorical: exactly; repeatable)",
    )
    pool = des.add_mutually_exclusive_group()
    pool.add_argument("--pool-share", type=float, metavar="X", help="worst share of sites (0.5)")
    pool.add_argument("--threshold", type=float, metavar="T", help="sites at or past T")
    des.add_argument(
        "--exclude",
        action="extend",
        nargs="+",
        default=[],
        metavar="SITE",
        help="site(s) that may not take part",
    )
    des.add_argument("--ratio", type=int, choices=(1, 2), default=1, help="controls per pilot")
    des.add_argument("--max-volume-share", type=float, metavar="X", help="cap on pilot volume")
    des.add_argument("--volume-column", metavar="COL", help="volume attribute (default volume)")
    des.add_argument("--seed", type=int, default=0, help="seed of the assignment in the pairs")
    des.add_argument("--format", choices=("text", "json"), default="text", help="output format")


def _read_csv(path: str, what: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype={"site_id": str})
    except FileNotFoundError as exc:
        raise ValueError(f"{what} file not found: {path}") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {what} file {path}: {exc}") from exc


_COMPARE_OPTIONS = (
    "start end metrics primary guardrails alpha method seed min_effect strata n_permutations"
).split()
_DESIGN_OPTIONS = (
    "problem_metric problem match pool_share threshold exclude ratio max_volume_share "
    "volume_column seed"
).split()


def _options(args: argparse.Namespace, names: Sequence[str]) -> dict:
    """The parsed options ``names``, as keyword arguments of the same names."""
    return {name: getattr(args, name) for name in names}


def _render(result, output_format: str) -> str:
    """``result`` as indented JSON (``"json"``) or as its text summary."""
    if output_format == "json":
        return json.dumps(result.to_dict(), indent=2, allow_nan=False)
    return result.summary()


def run_compare(args: argparse.Namespace) -> str:
    """Run ``compare`` for parsed arguments and return the text to print."""
    observations = _read_csv(args.observations, "observations")
    sites = _read_csv(args.sites, "sites")
    pairs = args.pairs
    if pairs is None and not args.no_pairs and "pair" in sites.columns:
        pairs = "pair"
    report = compare(
        observations,
        sites,
        margins=dict(args.margin),
        directions=dict(args.direction),
        pairs=pairs,
        **_options(args, _COMPARE_OPTIONS),
    )
    return _render(report, args.format)


def run_design(args: argparse.Namespace) -> str:
    """Run ``design`` for parsed arguments and return the text to print."""
    sites = _read_csv(args.sites, "sites")
    history = _read_csv(args.history, "history")
    result = design(sites, history, n_pilots=args.pilots, **_options(args, _DESIGN_OPTIONS))
    return _render(result, args.format)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        output = run_design(args) if args.command == "design" else run_compare(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(output)
    return 0
