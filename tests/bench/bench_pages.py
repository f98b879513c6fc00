"""Benchmark: the pages people open, served warm over real HTTP, on a given database.

Starts the app in this process behind werkzeug's server (one thread, so each request's
queries are its own), logs in per role with ``requests``, opens every page N times and
prints, per page: median and p95 time, SQL statements issued and rows they returned
(counted by SQLAlchemy's ``before_cursor_execute``/``after_cursor_execute`` events on the
server's engine; rows are the driver's ``rowcount``, which SQLite does not report for a
SELECT: ``-`` there). With ``--explain`` (PostgreSQL) it prints ``EXPLAIN`` of the slowest
statements that read ``observations`` or ``feedback_responses``.

    .venv/bin/python tests/bench/bench_pages.py [--database-url URL] [--repeat 10]
        [--explain] [--only NAME ...]

Without ``--database-url`` it builds the demo (``flask demo seed``) in a temporary SQLite
file. A chain-sized database comes from ``flask demo seed --scale chain`` (``make
demo-chain``). The benchmark adds one API token and, when the first running pilot has no
report, computes one (so that the report page has something to show). Goals: chain scale
median ≤ 300 ms and p95 ≤ 1 s on PostgreSQL; demo scale p95 ≤ 300 ms. Figures go in
``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

os.environ.setdefault("REPORT_RUNNER", "sync")


@dataclass
class Counter:
    """Statements and rows of the request being served (one server thread)."""

    statements: list[tuple[str, float]] = field(default_factory=list)
    rows: int = 0
    rows_known: bool = True
    started: float = 0.0

    def reset(self) -> None:
        self.statements.clear()
        self.rows = 0
        self.rows_known = True


COUNTER = Counter()
SLOWEST: dict[str, tuple[float, str, object, str]] = {}


def instrument(engine) -> None:
    from sqlalchemy import event

    @event.listens_for(engine, "before_cursor_execute")
    def before(conn, cursor, statement, parameters, context, executemany):
        COUNTER.started = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def after(conn, cursor, statement, parameters, context, executemany):
        took = time.perf_counter() - COUNTER.started
        COUNTER.statements.append((statement, took))
        if cursor.rowcount is not None and cursor.rowcount >= 0:
            COUNTER.rows += cursor.rowcount
        else:
            COUNTER.rows_known = False
        if "observations" in statement or "feedback_responses" in statement:
            key = statement[:300]
            if key not in SLOWEST or SLOWEST[key][0] < took:
                SLOWEST[key] = (took, statement, parameters, PAGE_NOW[0])


PAGE_NOW = [""]


def build_app(url: str):
    from app import create_app
    from app.config import Config

    class BenchConfig(Config):
        SQLALCHEMY_DATABASE_URI = url
        SECRET_KEY = "bench-only-secret"
        WTF_CSRF_ENABLED = False
        RATELIMIT_ENABLED = False
        REPORT_RUNNER = "sync"

    app = create_app(BenchConfig)
    for name in ("werkzeug", "rollwise.request", "rollwise"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return app


def seed_demo(app) -> None:
    from flask_migrate import upgrade

    from app.demo.seed import database_is_empty, seed
    from app.extensions import db

    with app.app_context():
        upgrade()
        if database_is_empty():
            seed()
            db.session.commit()


@dataclass(frozen=True)
class Targets:
    pilot: int
    site: int
    retro_day: str
    report: int | None
    plan: int | None
    token: str


def find_targets(app) -> Targets:
    """The biggest running pilot, a site of it, its latest retro, a report, a plan, a token."""
    from sqlalchemy import func, select

    from app.api.tokens import create_token
    from app.extensions import db
    from app.models import (
        Assignment,
        Pilot,
        PilotStatus,
        Report,
        Retrospective,
        Role,
        RolloutPlan,
        User,
    )
    from app.reports import snapshots

    with app.test_request_context():
        pilot = db.session.scalars(
            select(Pilot)
            .join(Assignment)
            .where(Pilot.status == PilotStatus.RUNNING)
            .group_by(Pilot.id)
            .order_by(func.count(Assignment.id).desc(), Pilot.id)
        ).first()
        site = db.session.scalar(
            select(Assignment.site_id).where(Assignment.pilot_id == pilot.id).limit(1)
        )
        day = db.session.scalar(
            select(func.max(Retrospective.date)).where(Retrospective.pilot_id == pilot.id)
        )
        analyst = db.session.scalar(select(User).where(User.role == Role.ANALYST))
        report = db.session.scalar(
            select(Report.id).where(Report.pilot_id == pilot.id).order_by(Report.id.desc())
        )
        if report is None:
            made = snapshots.start_snapshot(pilot, by=analyst)
            db.session.commit()
            snapshots.compute_report(made.id)
            db.session.commit()
            report = made.id
        plan = db.session.scalar(select(RolloutPlan.id).order_by(RolloutPlan.id))
        admin = db.session.scalar(select(User).where(User.role == Role.ADMIN))
        _token, raw = create_token("page benchmark", by=admin)
        db.session.commit()
        return Targets(pilot.id, site, day.isoformat() if day else "", report, plan, raw)


def pages(t: Targets) -> list[tuple[str, str, str]]:
    """(name, role, path) of every page a user opens."""
    p = t.pilot
    out = [
        ("dashboard", "lead", "/"),
        ("sites list", "lead", "/sites/"),
        ("sites search", "lead", "/sites/?q=store+1&sort=code"),
        ("sites page 5", "lead", "/sites/?page=5"),
        ("site detail", "lead", f"/sites/{t.site}"),
        ("pilot dashboard", "lead", f"/pilots/{p}"),
        ("feedback manage", "lead", f"/feedback/pilots/{p}"),
        ("feedback overview", "lead", f"/feedback/pilots/{p}/overview"),
        ("feedback overview, new rating", "lead", f"/feedback/pilots/{p}/overview"),
        ("feedback overview, new comment", "lead", f"/feedback/pilots/{p}/overview"),
        ("feedback overview, first view", "lead", f"/feedback/pilots/{p}/overview"),
        ("feedback comments", "lead", f"/feedback/pilots/{p}/comments"),
        ("retros index", "lead", f"/retros/pilot/{p}"),
        ("retro day + brief", "lead", f"/retros/pilot/{p}/day/{t.retro_day}"),
        ("retro timeline", "lead", f"/retros/pilot/{p}/timeline"),
        ("reports index", "analyst", f"/reports/pilot/{p}"),
        ("staff feed", "staff", "/feedback/staff"),
        ("staff my actions", "staff", "/retros/my-actions"),
        ("api sites", "api", "/api/v1/sites"),
        ("api metrics", "api", "/api/v1/metrics"),
    ]
    if t.report is not None:
        out.append(("report page", "analyst", f"/reports/{t.report}"))
    if t.plan is not None:
        out += [
            ("rollout plan", "lead", f"/rollout/{t.plan}"),
            ("rollout wave 1", "lead", f"/rollout/{t.plan}/waves/1"),
            ("wave 1, new comment", "lead", f"/rollout/{t.plan}/waves/1"),
            ("rollout site card", "lead", f"/rollout/{t.plan}/sites/{t.site}"),
        ]
    return out


#: Pages named so are measured as their first view after new feedback arrived: before each
#: request the bench forgets what the app remembers of a pilot's feedback as such feedback
#: would make it. A rating without a comment: the overview's numbers (its themes are keyed
#: on the tags and flags; the pilot's rows grow by the new response: three small statements
#: the bench does not repeat). A tagged comment: the numbers and the themes (for the wave
#: page, its wave-vs-pilot feedback). The first view after the server started (or after a
#: response was deleted): all of that and the pilot's rows.
FORGET = {
    ", new rating": ("rollwise.feedback_overviews", {"themes"}),
    ", new comment": ("rollwise.feedback_overviews", set()),
    ", first view": ("rollwise.feedback_overviews", set()),
}


def forget_feedback(app, name: str) -> None:
    for suffix, (where, kept) in FORGET.items():
        if name.endswith(suffix):
            remembered = app.extensions.get(where, {})
            for key in [k for k in remembered if not (isinstance(k, tuple) and k[0] in kept)]:
                del remembered[key]
            if suffix == ", first view":
                app.extensions.get("rollwise.pilot_rows", {}).clear()


def serve(app) -> tuple[str, object]:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


def log_in(base: str, role: str, token: str):
    import requests

    from app.demo.seed import DEMO_PASSWORD

    session = requests.Session()
    if role == "api":
        session.headers["Authorization"] = f"Bearer {token}"
        return session
    email = f"{'lead' if role == 'lead' else role}@demo.rollwise"
    answer = session.post(
        f"{base}/auth/login", data={"email": email, "password": DEMO_PASSWORD}, timeout=60
    )
    answer.raise_for_status()
    return session


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def show_statements(page: str, statements: list[tuple[str, float]]) -> None:
    """The statements a page repeats (an N+1 shows here) and its slowest ones."""
    from collections import Counter as Tally

    print(f"\n== {page}: {len(statements)} statements")
    for statement, times in Tally(s for s, _t in statements).most_common(4):
        print(f"  {times:4d}x  {' '.join(statement.split())[:160]}")
    for statement, took in sorted(statements, key=lambda item: -item[1])[:3]:
        print(f"  {took * 1000:5.0f} ms  {' '.join(statement.split())[:160]}")


def explain(app, top: int) -> None:
    from sqlalchemy import text

    from app.extensions import db

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            print("(EXPLAIN only on PostgreSQL)")
            return
        worst = sorted(SLOWEST.values(), key=lambda item: -item[0])[:top]
        with db.engine.connect() as conn:
            raw = conn.connection.driver_connection
            for took, statement, parameters, page in worst:
                print(f"\n-- {page}: {took * 1000:.0f} ms\n{statement.strip()[:400]}")
                with raw.cursor() as cursor:
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                    for (line,) in cursor.fetchall():
                        print("   ", line)
            conn.execute(text("SELECT 1"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--explain-top", type=int, default=4)
    parser.add_argument("--only", nargs="*", default=None, help="page names to run")
    parser.add_argument(
        "--queries", action="store_true", help="print each page's repeated and slowest statements"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        app = build_app(url)
        if args.database_url is None:
            seed_demo(app)
        targets = find_targets(app)
        from app.extensions import db

        with app.app_context():
            instrument(db.engine)
        base, server = serve(app)
        sessions: dict[str, object] = {}
        rows = []
        failures = 0
        for name, role, path in pages(targets):
            if args.only and name not in args.only:
                continue
            session = sessions.get(role) or log_in(base, role, targets.token)
            sessions[role] = session
            PAGE_NOW[0] = name
            session.get(base + path, timeout=120)  # warm-up: caches, compiled statements
            times, counts, read = [], [], []
            status = 0
            for _ in range(args.repeat):
                forget_feedback(app, name)
                COUNTER.reset()
                started = time.perf_counter()
                answer = session.get(base + path, timeout=120)
                times.append(time.perf_counter() - started)
                status = answer.status_code
                counts.append(len(COUNTER.statements))
                read.append(COUNTER.rows if COUNTER.rows_known else -1)
            failures += status != 200
            if args.queries:
                show_statements(name, COUNTER.statements)
            rows.append((name, status, times, counts, read))
        server.shutdown()

        print(f"\n{url.split('@')[-1]}  ({args.repeat} requests per page, warm)")
        header = ("page", "status", "median ms", "p95 ms", "queries", "rows")
        print("{:32s} {:>6s} {:>10s} {:>8s} {:>8s} {:>9s}".format(*header))
        for name, status, times, counts, read in rows:
            rows_text = "-" if min(read) < 0 else str(max(read))
            print(
                f"{name:32s} {status:>6d} {statistics.median(times) * 1000:>10.0f} "
                f"{percentile(times, 0.95) * 1000:>8.0f} {max(counts):>8d} {rows_text:>9s}"
            )
        if args.explain:
            explain(app, args.explain_top)
        return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
