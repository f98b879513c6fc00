"""What the benchmark scripts share: a throwaway database app and the closing line of a run.

Imported by the scripts in this folder (``from tests.bench.benchkit import ...``, once the
repository root is on ``sys.path``); it runs nothing of its own.
"""

from __future__ import annotations

import argparse
import csv
import resource
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path


def database_parser(description: str | None, repeat: int) -> argparse.ArgumentParser:
    """The arguments of a database benchmark: ``--repeat`` and ``--database-url``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repeat", type=int, default=repeat)
    parser.add_argument("--database-url", default=None)
    return parser


@contextmanager
def fresh_app(url: str | None = None, *, request_context: bool = False) -> Iterator:
    """An app on ``url`` (a temporary SQLite file when ``None``) with an empty schema.

    Yields the app inside its application context (a test request context when
    ``request_context``), after ``drop_all`` and ``create_all``.
    """
    from app import create_app
    from app.config import TestConfig
    from app.extensions import db

    with tempfile.TemporaryDirectory() as tmp:

        class BenchConfig(TestConfig):
            SQLALCHEMY_DATABASE_URI = url or f"sqlite:///{Path(tmp) / 'bench.db'}"

        app = create_app(BenchConfig)
        with app.test_request_context() if request_context else app.app_context():
            db.drop_all()
            db.create_all()
            yield app


def finish(started: float, failures: int) -> int:
    """Print the run time and the failures since ``started``; the exit status (1 on failure)."""
    print(f"done in {time.perf_counter() - started:.0f} s; {failures} failure(s)")
    return 1 if failures else 0


def write_observation_csv(
    path: Path, rows: int, n_sites: int, metrics: tuple[str, ...], corrected: bool = False
) -> None:
    """An observation file in long form (``site,date,metric,value``): ``n_sites`` sites
    (``S0000``...) × ``metrics`` × ``rows / (sites × metrics)`` days ending yesterday.
    ``corrected`` changes every 100th value by 1 (a re-import that corrects 1 % of rows)."""
    days = max(rows // (n_sites * len(metrics)), 1)
    first = date.today() - timedelta(days=days)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["site", "date", "metric", "value"])
        n = 0
        for d in range(days):
            day = (first + timedelta(days=d)).isoformat()
            for s in range(n_sites):
                for m, metric in enumerate(metrics):
                    value = round(10 + (s % 17) + (d % 7) * 0.5 + m, 2)
                    if corrected and n % 100 == 0:
                        value += 1
                    writer.writerow([f"S{s:04d}", day, metric, value])
                    n += 1


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
