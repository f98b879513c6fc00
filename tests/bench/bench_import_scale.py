"""Benchmark: an observation import against the database's own bulk load of the same rows.

Goal (issue 22): 1,000,000 rows imported within 3 × a plain load of the same CSV into a
bare table — ``COPY … FROM STDIN (FORMAT csv)`` on PostgreSQL, ``executemany`` of the
``csv`` module's rows on SQLite — with peak RSS under 1 GB.

The file is 1,000 sites × 100 days × 10 metrics in the long form (``site,date,metric,
value``). Each round runs, one after the other on each database (interleaved, so the
shared machine's load falls on all alike):

* ``bare``: the plain load into a fresh bare table ``(site, date, metric, value)``;
* ``indexed``: the same plain load into a table that carries the indexes of
  ``observations`` (surrogate key, unique (site, date, metric), (metric, date)): what the
  database itself needs to store these rows where the pages can find them, printed beside
  the goal's ratio;
* ``fresh``: our import of the file (``flask observations import``'s path: streamed,
  validated, staged, one upsert, committed) into an empty ``observations`` table;
* ``update``: our import of a corrected file (1 % of values changed, the rest unchanged)
  into the table now holding the rows: 10,000 updates with revisions.

Every run is its own process (timed inside, start-up excluded), so its peak RSS
(``ru_maxrss``) is its own. Medians over ``--repeat`` rounds; ratio = median ours /
median bare.

    .venv/bin/python tests/bench/bench_import_scale.py [--rows 1000000] [--repeat 3]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/rollwise_import_bench]
        [--sqlite PATH] [--with-fk-triggers]

The PostgreSQL database must exist; its tables are dropped and created again.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.benchkit import peak_rss_mb, write_observation_csv  # noqa: E402

N_SITES = 1_000
METRICS = tuple(f"metric_{m}" for m in range(10))
GOAL_RATIO = 3.0
GOAL_RSS_MB = 1024


def write_csv(path: Path, rows: int, corrected: bool = False) -> None:
    """Long form: ``N_SITES`` sites × ``METRICS`` × as many days as ``rows`` needs."""
    write_observation_csv(path, rows, N_SITES, METRICS, corrected)


# ---------------------------------------------------------------- one run (child process)


#: ``indexed``: the bare table with what ``observations`` carries: a surrogate primary key,
#: the unique (site, date, metric) key and the (metric, date) index.
INDEXES = {
    "sqlite": (
        "CREATE TABLE bare_observations (id INTEGER PRIMARY KEY, site, date, metric, value)",
        "CREATE UNIQUE INDEX bare_key ON bare_observations (site, date, metric)",
        "CREATE INDEX bare_metric_date ON bare_observations (metric, date)",
    ),
    "postgresql": (
        "CREATE TABLE bare_observations (id bigserial PRIMARY KEY, site text, date date, "
        "metric text, value float8)",
        "CREATE UNIQUE INDEX bare_key ON bare_observations (site, date, metric)",
        "CREATE INDEX bare_metric_date ON bare_observations (metric, date)",
    ),
}


def bare_load(url: str, path: Path, indexed: bool = False) -> dict:
    """The plain load of the file into a fresh bare table (``indexed``: with the indexes of
    ``observations``, see :data:`INDEXES`)."""
    if url.startswith("sqlite"):
        connection = sqlite3.connect(url.removeprefix("sqlite:///"))
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")  # as the app's connections
        connection.execute("DROP TABLE IF EXISTS bare_observations")
        for statement in INDEXES["sqlite"] if indexed else ():
            connection.execute(statement)
        if not indexed:
            connection.execute("CREATE TABLE bare_observations (site, date, metric, value)")
        connection.commit()
        started = time.perf_counter()
        with path.open(newline="", encoding="utf-8") as source:
            reader = csv.reader(source)
            next(reader)
            connection.executemany(
                "INSERT INTO bare_observations (site, date, metric, value) VALUES (?, ?, ?, ?)",
                reader,
            )
        connection.commit()
        seconds = time.perf_counter() - started
        connection.close()
        return {"seconds": seconds}
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as connection:
        connection.execute("DROP TABLE IF EXISTS bare_observations")
        for statement in INDEXES["postgresql"] if indexed else ():
            connection.execute(statement)
        if not indexed:
            connection.execute(
                "CREATE TABLE bare_observations (site text, date date, metric text, value float8)"
            )
        connection.commit()
        started = time.perf_counter()
        copy_sql = (
            "COPY bare_observations (site, date, metric, value) FROM STDIN (FORMAT csv, HEADER)"
        )
        with (
            path.open("rb") as source,
            connection.cursor() as cursor,
            cursor.copy(copy_sql) as copy,
        ):
            while block := source.read(1 << 20):
                copy.write(block)
        connection.commit()
        seconds = time.perf_counter() - started
        connection.execute("DROP TABLE bare_observations")
        connection.commit()
    return {"seconds": seconds}


def our_import(url: str, path: Path, fresh: bool, with_fk_triggers: bool) -> dict:
    """Our import of the file (the ``flask observations import`` path), committed."""
    os.environ["TEST_DATABASE_URL"] = url
    from app import create_app
    from app.config import TestConfig
    from app.core import imports
    from app.extensions import db
    from app.models import Metric, Site
    from app.sites import observation_bulk
    from app.sites.observation_import import ObservationImport

    observation_bulk.SKIP_FK_TRIGGERS = not with_fk_triggers

    class BenchConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = url

    app = create_app(BenchConfig)
    with app.test_request_context():
        if fresh:
            db.drop_all()
            db.create_all()
            db.session.add_all(
                [Site(code=f"S{s:04d}", name=f"Site {s}", region="East") for s in range(N_SITES)]
            )
            db.session.add_all([Metric(key=k, name=k) for k in METRICS])
            db.session.commit()
        kind = ObservationImport()
        started = time.perf_counter()
        plan = imports.plan_file(kind, str(path), filename=str(path))
        assert plan.ok, plan.errors[:5]
        batch = imports.apply(kind, plan, by=None, filename=str(path))
        db.session.commit()
        seconds = time.perf_counter() - started
        counts = [batch.rows_inserted, batch.rows_updated, batch.rows_unchanged]
        db.session.remove()
        db.engine.dispose()
    return {"seconds": seconds, "counts": counts}


# ---------------------------------------------------------------- the rounds


def run_child(mode: str, url: str, path: Path, with_fk_triggers: bool) -> dict:
    command = [sys.executable, __file__, "--child", mode, url, str(path)]
    if with_fk_triggers:
        command.append("--with-fk-triggers")
    out = subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"{mode} on {url} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES_URL"))
    parser.add_argument("--sqlite", default=None, help="SQLite file (default: a temporary one)")
    parser.add_argument(
        "--with-fk-triggers",
        action="store_true",
        help="PostgreSQL: keep the per-row foreign-key triggers (as for a role without the "
        "right to set session_replication_role)",
    )
    parser.add_argument("--child", nargs=3, metavar=("MODE", "URL", "CSV"))
    args = parser.parse_args()
    if args.child:
        mode, url, csv_path = args.child
        if mode in ("bare", "indexed"):
            result = bare_load(url, Path(csv_path), indexed=mode == "indexed")
        else:
            result = our_import(url, Path(csv_path), mode == "fresh", args.with_fk_triggers)
        result["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path, corrected = Path(tmp) / "observations.csv", Path(tmp) / "corrected.csv"
        write_csv(path, args.rows)
        write_csv(corrected, args.rows, corrected=True)
        print(f"{args.rows:,} rows, {path.stat().st_size / 1e6:.0f} MB CSV", flush=True)
        targets = [("SQLite", f"sqlite:///{args.sqlite or Path(tmp) / 'bench.db'}")]
        if args.postgres:
            targets.append(("PostgreSQL", args.postgres))
        results: dict[tuple[str, str], list[dict]] = {}
        for round_ in range(1, args.repeat + 1):
            for name, url in targets:
                modes = (("bare", path), ("indexed", path), ("fresh", path), ("update", corrected))
                for mode, source in modes:
                    result = run_child(mode, url, source, args.with_fk_triggers)
                    results.setdefault((name, mode), []).append(result)
                    counts = result.get("counts", "")
                    bare = results[(name, "bare")][-1]["seconds"]
                    ratio = "" if mode == "bare" else f"{result['seconds'] / bare:5.2f} × bare"
                    print(
                        f"round {round_} {name:<10} {mode:<6} {result['seconds']:6.2f} s  "
                        f"{ratio:<13} peak RSS {result['peak_rss_mb']:5.0f} MB  {counts}",
                        flush=True,
                    )
        print("\nmedians:")
        for name, _url in targets:
            bare = statistics.median(r["seconds"] for r in results[(name, "bare")])
            indexed = statistics.median(r["seconds"] for r in results[(name, "indexed")])
            print(
                f"  {name:<10} bare load {bare:6.2f} s; into the same indexes as observations "
                f"{indexed:6.2f} s ({indexed / bare:4.2f} × bare)"
            )
            for mode in ("fresh", "update"):
                runs = results[(name, mode)]
                ours = statistics.median(r["seconds"] for r in runs)
                rss = max(r["peak_rss_mb"] for r in runs)
                ratio = ours / bare
                verdict = "meets" if ratio <= GOAL_RATIO and rss < GOAL_RSS_MB else "MISSES"
                print(
                    f"  {name:<10} {mode:<6} ours {ours:6.2f} s = {ratio:4.2f} × bare "
                    f"(goal ≤ {GOAL_RATIO:g} ×), {ours / indexed:4.2f} × indexed load; "
                    f"peak RSS ≤ {rss:4.0f} MB  {verdict}"
                )


if __name__ == "__main__":
    main()
