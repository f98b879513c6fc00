"""Benchmark: import 1,000,000 observation rows from CSV on SQLite and on PostgreSQL.

Measures the same code path as the upload page and ``flask observations import``: the file
is streamed in chunks (``tabular.iter_upload``), validated vectorised, compared with the
stored values and written with the database's bulk path (``COPY`` on PostgreSQL,
``executemany`` on SQLite). It then imports the same file again (every row unchanged) and
a corrected file (1 % of values changed, revisions written).

Each database runs in its own process so that peak RSS is that run's own.

    .venv/bin/python tests/bench/bench_observation_import.py [--rows 1000000]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/rollwise_h4_bench]

The PostgreSQL database must exist and is emptied. The figures go in ``docs/pilot-setup.md``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.benchkit import peak_rss_mb, write_observation_csv  # noqa: E402

N_SITES = 500
METRICS = ("avg_wait_min", "orders", "avg_ticket", "complaints")


def write_csv(path: Path, rows: int, corrected: bool = False) -> None:
    """Long form: ``N_SITES`` sites × ``METRICS`` × as many days as ``rows`` needs."""
    write_observation_csv(path, rows, N_SITES, METRICS, corrected)


def run_one(url: str, path: Path, corrected: Path) -> None:
    """In a child process: fresh schema, sites and metrics, then three imports."""
    os.environ["TEST_DATABASE_URL"] = url
    from app.core import tables as tabular
    from app.extensions import db
    from app.models import Metric, Site
    from app.sites.observation_import import apply_observations, plan_observations
    from tests.bench.benchkit import fresh_app

    with fresh_app(url, request_context=True):
        db.session.add_all(
            [Site(code=f"S{s:04d}", name=f"Site {s}", region="East") for s in range(N_SITES)]
        )
        db.session.add_all([Metric(key=k, name=k) for k in METRICS])
        db.session.commit()
        for label, source in (
            ("first import", path),
            ("same file again", path),
            ("corrected file (1 %)", corrected),
        ):
            started = time.perf_counter()
            plan = plan_observations(tabular.iter_upload(str(source)), source=str(source))
            assert plan.ok, plan.errors[:5]
            planned = time.perf_counter()
            apply_observations(plan, filename=str(source))
            db.session.commit()
            done = time.perf_counter()
            print(
                f"  {label:<22} {plan.n_rows:>9,} rows  {done - started:6.1f} s "
                f"(read+validate+compare {planned - started:5.1f} s, write {done - planned:5.1f} s)"
                f"  inserted {plan.inserted:,} updated {plan.updated:,} "
                f"unchanged {plan.unchanged:,}  peak RSS {peak_rss_mb():,.0f} MB",
                flush=True,
            )
            del plan
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES_URL"))
    parser.add_argument("--child", nargs=3, metavar=("URL", "CSV", "CORRECTED"))
    args = parser.parse_args()
    if args.child:
        url, csv_path, corrected = args.child
        run_one(url, Path(csv_path), Path(corrected))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path, corrected = Path(tmp) / "observations.csv", Path(tmp) / "corrected.csv"
        started = time.perf_counter()
        write_csv(path, args.rows)
        write_csv(corrected, args.rows, corrected=True)
        size = path.stat().st_size / 1e6
        print(
            f"generated {args.rows:,} rows ({size:.0f} MB CSV) in "
            f"{time.perf_counter() - started:.1f} s"
        )
        targets = [("SQLite (file)", f"sqlite:///{Path(tmp) / 'bench.db'}")]
        if args.postgres:
            targets.append(("PostgreSQL", args.postgres))
        for name, url in targets:
            print(f"{name}:", flush=True)
            subprocess.run(
                [sys.executable, __file__, "--child", url, str(path), str(corrected)],
                check=True,
                cwd=ROOT,
            )


if __name__ == "__main__":
    main()
