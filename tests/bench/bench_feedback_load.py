"""Load benchmark of the public feedback form under gunicorn (2 workers).

For each database (PostgreSQL and SQLite in WAL mode) it

1. builds an empty schema with one running pilot (10 sites, forms and links),
2. starts ``gunicorn -w 2`` on 127.0.0.1 with the real app (CSRF on, rate limits off) and
   warms every endpoint up with a few untimed requests (not counted below),
3. sends ``--n`` form submissions from ``--clients`` concurrent clients (each client first
   loads the form for its CSRF cookie and token, like a phone, before the clock starts;
   about 1 in 20 submissions is sent twice with the same idempotency key, like a double tap
   or a retry after a drop),
4. checks that exactly ``--n`` responses are stored (none lost, none doubled),
5. sends the same number of requests to a bare endpoint that inserts one row into the same
   database, and to a CSRF-protected one-row form (the *form floor*), and reports
   throughput, p50/p99 latency, the gunicorn workers' CPU time per request, and the ratio
   of the feedback throughput to the form floor's (the goal: at least 0.7) and to the bare
   insert's (for reference).

The machine is shared (a virtual machine whose speed can change by 2× within minutes), so
the three kinds of traffic are sent in ``--blocks`` interleaved rounds (default 4, the order
rotating every round) and summed: a slow spell then falls on all three alike instead of on
whichever ran at the time. Every database is measured ``--repeat`` times (default 3) and
the median ratio is reported too.

Only 127.0.0.1 is contacted; every loop is bounded. Run from the repository root:

    .venv/bin/python tests/bench/bench_feedback_load.py --db both --n 2000 --clients 20

PostgreSQL uses ``--pg-url`` (default: the ``rollwise_h5_bench`` database on 127.0.0.1).
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

#: Requests per warm-up client and endpoint (4 clients; not timed, not counted).
WARM_UP = 10
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/rollwise_h5_bench"
#: What phones send: a Chinese and an English browser.
LANGUAGES = ["zh-CN,zh;q=0.9,en;q=0.8", "en-US,en;q=0.9"]
COMMENTS = [
    "排队时间短了很多，扫码点餐很方便",
    "老人不会用手机点餐，需要店员帮忙",
    "The QR menu was quick, but the font is small",
    "上菜速度快，服务员很热情",
]


# ---------------------------------------------------------------- the app under test


def make_app():
    """The WSGI app gunicorn serves: Rollwise plus a bare one-row insert endpoint."""
    from flask import Response, redirect, request
    from sqlalchemy import text

    from app import create_app
    from app.config import Config
    from app.extensions import csrf, db

    class BenchConfig(Config):
        SECRET_KEY = "bench-secret-key"
        SQLALCHEMY_DATABASE_URI = os.environ["BENCH_DATABASE_URL"]
        RATELIMIT_ENABLED = False  # 20 clients share 127.0.0.1
        WTF_CSRF_ENABLED = True

    app = create_app(BenchConfig)  # SQLite: WAL with synchronous=NORMAL, as the app runs

    def bare():
        db.session.execute(text("INSERT INTO bench_bare (note) VALUES (:n)"), {"n": "x"})
        db.session.commit()
        return Response("ok", status=201)

    def floor():
        """What every CSRF-protected form post pays: session, CSRF check, form parse, one
        row, a redirect. Its ratio to ``bare`` is the ceiling for any form on this stack."""
        note = (request.form.get("idempotency_key") or "x")[:10]
        db.session.execute(text("INSERT INTO bench_floor (note) VALUES (:n)"), {"n": note})
        db.session.commit()
        return redirect("/bench/bare", code=303)

    app.add_url_rule("/bench/bare", "bench_bare", csrf.exempt(bare), methods=["POST"])
    app.add_url_rule("/bench/floor", "bench_floor", floor, methods=["POST"])
    with app.app_context():
        from app.feedback.themes import warm_up

        warm_up()
    return app


def ensure_postgres_database(url: str) -> None:
    """Create the benchmark's PostgreSQL database when it does not exist yet."""
    from sqlalchemy import create_engine, make_url, text

    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": target.database},
            ).first()
            if exists is None:
                connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        admin.dispose()


def prepare_database(url: str) -> list[str]:
    """Empty schema, a running pilot with 10 sites, and the customer link tokens."""
    if url.startswith("postgresql"):
        ensure_postgres_database(url)
    os.environ["BENCH_DATABASE_URL"] = url
    from datetime import date, timedelta

    from sqlalchemy import text

    from app.extensions import db
    from app.feedback import questionnaires as svc
    from app.models import Arm, Assignment, Audience, Pilot, PilotStatus, Site

    app = make_app()
    with app.app_context():
        db.drop_all()
        for table in ("bench_bare", "bench_floor"):
            db.session.execute(text(f"DROP TABLE IF EXISTS {table}"))
        db.session.commit()
        db.create_all()
        pk = "SERIAL PRIMARY KEY" if url.startswith("postgresql") else "INTEGER PRIMARY KEY"
        for table in ("bench_bare", "bench_floor"):
            db.session.execute(text(f"CREATE TABLE {table} (id {pk}, note VARCHAR(10))"))
        today = date.today()
        pilot = Pilot(
            name="Bench",
            status=PilotStatus.RUNNING,
            pre_start=today - timedelta(days=28),
            start_date=today,
            end_date=today + timedelta(days=27),
        )
        for i in range(10):
            site = Site(code=f"B{i:02d}", name=f"Bench site {i}", region="East")
            pilot.assignments.append(Assignment(site=site, arm=Arm.PILOT if i < 5 else Arm.CONTROL))
        db.session.add(pilot)
        svc.ensure_forms(pilot)
        links = svc.ensure_links(pilot)
        db.session.commit()
        tokens = [lk.token for lk in links if lk.audience is Audience.CUSTOMER]
        db.session.remove()
        db.engine.dispose()
    return tokens


def count_rows(url: str) -> dict[str, int]:
    os.environ["BENCH_DATABASE_URL"] = url
    from sqlalchemy import func, select, text

    from app.extensions import db
    from app.models import FeedbackResponse

    app = make_app()
    with app.app_context():
        out = {
            "responses": db.session.scalar(select(func.count(FeedbackResponse.id))),
            "distinct_keys": db.session.scalar(
                select(func.count(func.distinct(FeedbackResponse.idempotency_key)))
            ),
            "bare": db.session.execute(text("SELECT count(*) FROM bench_bare")).scalar(),
            "floor": db.session.execute(text("SELECT count(*) FROM bench_floor")).scalar(),
        }
        db.session.remove()
        db.engine.dispose()
    return out


# ---------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(url: str, port: int, threads: int) -> subprocess.Popen:
    env = {**os.environ, "BENCH_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    gunicorn = shutil.which("gunicorn", path=str(ROOT / ".venv" / "bin")) or "gunicorn"
    process = subprocess.Popen(
        [
            gunicorn,
            "-w",
            "2",
            "--threads",
            str(threads),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--timeout",
            "60",
            "tests.bench.bench_feedback_load:make_app()",
        ],
        cwd=ROOT,
        env=env,
    )
    for _ in range(300):  # bounded: at most 30 s
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("gunicorn did not start")


def worker_cpu_seconds(process: subprocess.Popen) -> float:
    """User plus system CPU time of the gunicorn workers so far."""
    import psutil

    total = 0.0
    for worker in psutil.Process(process.pid).children():
        times = worker.cpu_times()
        total += times.user + times.system
    return total


def postgres_cpu_seconds() -> float:
    """User plus system CPU time of the PostgreSQL server processes on this machine so far
    (0 when none are visible). New backends start from zero, so only differences taken
    while gunicorn's connections stay open are meaningful."""
    import psutil

    total = 0.0
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] in ("postgres", "postmaster"):
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
    return total


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


# ---------------------------------------------------------------- the clients


@dataclass
class Outcome:
    latencies: list[float]
    errors: list[str]
    requests: int = 0
    #: share of the machine's CPU time left idle while the clients ran
    idle_share: float = 0.0


def _request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, dict(response.getheaders()), data
    finally:
        conn.close()


@dataclass
class Phone:
    """A client that has loaded the form: its session cookie, CSRF token and count sent."""

    token: str
    seed: int
    cookie: str
    csrf: str
    language: str
    sent: int = 0


def open_form(port: int, token: str, seed: int) -> Phone:
    """Load the form like a phone does, for its CSRF cookie and token (half the phones ask
    for Chinese, half for English)."""
    language = LANGUAGES[seed % len(LANGUAGES)]
    status, headers, page = _request(
        port, "GET", f"/feedback/f/{token}", headers={"Accept-Language": language}
    )
    if status != 200:
        raise RuntimeError(f"form GET {status}")
    cookie = headers.get("Set-Cookie", "").split(";")[0]
    csrf = re.search(rb'name="csrf_token"[^>]* value="([^"]+)"', page).group(1).decode()
    return Phone(token, seed, cookie, csrf, language)


def post_answers(port: int, phone: Phone, count: int, outcome: Outcome, path: str) -> None:
    """Post ``count`` submissions from ``phone`` to ``path``, continuing its numbering."""
    for _ in range(count):  # bounded
        i, seed = phone.sent, phone.seed
        phone.sent += 1
        key = f"bench-{seed:03d}-{i:05d}-{secrets.token_hex(4)}"
        fields = {
            "csrf_token": phone.csrf,
            "idempotency_key": key,
            "q_overall": str(1 + (i + seed) % 5),
            "q_ease": str(1 + (i * 3 + seed) % 5),
            "q_recommend": str((i * 7 + seed) % 11),
            "q_age_band": ["under_30", "30_59", "60+"][i % 3],
        }
        if i % 3 == 0:
            fields["q_comment"] = COMMENTS[(i + seed) % len(COMMENTS)]
        body = urlencode(fields)
        sends = 2 if i % 20 == 7 else 1  # a double tap / a retry with the same key
        for _ in range(sends):
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": phone.cookie,
                "Accept-Language": phone.language,
            }
            start = time.perf_counter()
            status, answer, _b = _request(port, "POST", path, body, headers)
            outcome.latencies.append(time.perf_counter() - start)
            if "Set-Cookie" in answer:  # keep the cookie up to date, as a browser does
                phone.cookie = answer["Set-Cookie"].split(";")[0]
            outcome.requests += 1
            if status != 303:
                outcome.errors.append(f"POST {status}")


def feedback_client(
    port: int, token: str, count: int, seed: int, outcome: Outcome, path: str | None = None
) -> None:
    """Load the form, then post ``count`` submissions to ``path`` (default: the public form).

    Runs in a client thread: a form that does not load is recorded as an error, not raised.
    """
    try:
        phone = open_form(port, token, seed)
    except RuntimeError as error:
        outcome.errors.append(str(error))
        return
    post_answers(port, phone, count, outcome, path or f"/feedback/f/{token}")


def bare_client(port: int, count: int, outcome: Outcome) -> None:
    for _ in range(count):  # bounded
        start = time.perf_counter()
        status, _h, _b = _request(port, "POST", "/bench/bare", b"", {"Content-Length": "0"})
        outcome.latencies.append(time.perf_counter() - start)
        outcome.requests += 1
        if status != 201:
            outcome.errors.append(f"bare {status}")


def run_clients(target, args_for, clients: int) -> tuple[float, Outcome]:
    import psutil

    outcome = Outcome([], [])
    idle_start = psutil.cpu_times().idle
    lock = threading.Lock()
    per_client = []

    def run(i):
        mine = Outcome([], [])
        target(*args_for(i), mine)
        with lock:
            per_client.append(mine)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=900)
    elapsed = time.perf_counter() - start
    outcome.idle_share = (psutil.cpu_times().idle - idle_start) / (elapsed * psutil.cpu_count())
    for mine in per_client:
        outcome.latencies += mine.latencies
        outcome.errors += mine.errors
        outcome.requests += mine.requests
    return elapsed, outcome


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] * 1000


@dataclass
class Phase:
    """One kind of traffic, summed over the interleaved rounds."""

    elapsed: float = 0.0
    worker_cpu: float = 0.0
    postgres_cpu: float = 0.0
    idle: float = 0.0  # idle share × elapsed, summed
    outcome: Outcome | None = None

    def add(self, elapsed: float, outcome: Outcome, worker_cpu: float, postgres_cpu: float):
        self.elapsed += elapsed
        self.worker_cpu += worker_cpu
        self.postgres_cpu += postgres_cpu
        self.idle += outcome.idle_share * elapsed
        if self.outcome is None:
            self.outcome = Outcome([], [])
        self.outcome.latencies += outcome.latencies
        self.outcome.errors += outcome.errors
        self.outcome.requests += outcome.requests

    def per_request_ms(self, seconds: float) -> float:
        return seconds * 1000 / self.outcome.requests


def bench(name: str, url: str, n: int, clients: int, threads: int = 1, blocks: int = 4) -> dict:
    tokens = prepare_database(url)
    port = free_port()
    server = start_gunicorn(url, port, threads)
    try:
        per_block = n // clients // blocks
        # warm-up, not timed: every endpoint a few times on both workers, so that imports,
        # connections, statement caches and prepared statements exist for all three alike
        floor_client = functools.partial(feedback_client, path="/bench/floor")
        warm_args = lambda i: (port, tokens[i % len(tokens)], WARM_UP, 900 + i)  # noqa: E731
        warm_errors = [
            *run_clients(feedback_client, warm_args, 4)[1].errors,
            *run_clients(bare_client, lambda i: (port, WARM_UP), 4)[1].errors,
            *run_clients(floor_client, warm_args, 4)[1].errors,
        ]
        if warm_errors:
            raise RuntimeError(f"warm-up failed: {sorted(set(warm_errors))}")
        phones = [open_form(port, tokens[i % len(tokens)], i) for i in range(clients)]
        floor_phones = [open_form(port, tokens[i % len(tokens)], 500 + i) for i in range(clients)]
        traffic = {
            "feedback": lambda i, out: post_answers(
                port, phones[i], per_block, out, f"/feedback/f/{phones[i].token}"
            ),
            "bare": lambda i, out: bare_client(port, per_block, out),
            "floor": lambda i, out: post_answers(
                port, floor_phones[i], per_block, out, "/bench/floor"
            ),
        }
        phases = {kind: Phase() for kind in traffic}
        before = count_rows(url)
        kinds = list(traffic)
        for block in range(blocks):  # bounded
            for kind in kinds[block % 3 :] + kinds[: block % 3]:
                cpu_start, db_start = worker_cpu_seconds(server), postgres_cpu_seconds()
                elapsed, outcome = run_clients(traffic[kind], lambda i: (i,), clients)
                phases[kind].add(
                    elapsed,
                    outcome,
                    worker_cpu_seconds(server) - cpu_start,
                    postgres_cpu_seconds() - db_start,
                )
        after = count_rows(url)
    finally:
        stop(server)
    fb, bare, floor = phases["feedback"], phases["bare"], phases["floor"]
    submissions = per_block * blocks * clients
    stored = after["responses"] - before["responses"]
    keys = after["distinct_keys"] - before["distinct_keys"]
    result = {
        "database": name,
        "workers": 2,
        "threads": threads,
        "blocks": blocks,
        "submissions": submissions,
        "requests_sent": fb.outcome.requests,
        "stored_responses": stored,
        "distinct_keys": keys,
        "exactly_once": stored == submissions == keys,
        "errors": len(fb.outcome.errors) + len(bare.outcome.errors) + len(floor.outcome.errors),
        "feedback_throughput": submissions / fb.elapsed,
        "feedback_idle_share": fb.idle / fb.elapsed,
        "bare_idle_share": bare.idle / bare.elapsed,
        "feedback_p50_ms": statistics.median(fb.outcome.latencies) * 1000,
        "feedback_p99_ms": pct(fb.outcome.latencies, 0.99),
        "feedback_worker_cpu_ms": fb.per_request_ms(fb.worker_cpu),
        "feedback_postgres_cpu_ms": fb.per_request_ms(fb.postgres_cpu),
        "bare_rows": after["bare"] - before["bare"],
        "bare_throughput": bare.outcome.requests / bare.elapsed,
        "bare_p50_ms": statistics.median(bare.outcome.latencies) * 1000,
        "bare_p99_ms": pct(bare.outcome.latencies, 0.99),
        "bare_worker_cpu_ms": bare.per_request_ms(bare.worker_cpu),
        "bare_postgres_cpu_ms": bare.per_request_ms(bare.postgres_cpu),
        # the same client traffic (resends included) to a CSRF-protected one-row form
        "floor_rows": after["floor"] - before["floor"],
        "floor_throughput": submissions / floor.elapsed,
        "floor_worker_cpu_ms": floor.per_request_ms(floor.worker_cpu),
    }
    result["ratio"] = result["feedback_throughput"] / result["bare_throughput"]
    result["floor_ratio"] = result["floor_throughput"] / result["bare_throughput"]
    result["form_ratio"] = result["feedback_throughput"] / result["floor_throughput"]
    return result


def _db_cpu(result: dict, kind: str) -> str:
    if not result["database"].startswith("PostgreSQL"):
        return ""  # SQLite runs inside the workers: its time is in their CPU already
    return f", PostgreSQL CPU {result[kind + '_postgres_cpu_ms']:.2f} ms/request"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3, help="runs per database (median)")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG))
    parser.add_argument(
        "--threads", type=int, default=1, help="gunicorn threads per worker (1: sync worker)"
    )
    parser.add_argument(
        "--blocks", type=int, default=4, help="interleaved rounds of the three kinds of traffic"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.blocks < 1 or args.n % (args.clients * args.blocks):
        parser.error("--n must be a multiple of --clients × --blocks")
    results = []
    workdir = Path(tempfile.mkdtemp(prefix="rollwise-bench-"))
    try:
        for _ in range(max(1, args.repeat)):  # bounded
            if args.db in ("postgres", "both"):
                results.append(
                    bench(
                        "PostgreSQL", args.pg_url, args.n, args.clients, args.threads, args.blocks
                    )
                )
            if args.db in ("sqlite", "both"):
                url = f"sqlite:///{workdir / 'bench.db'}"
                results.append(
                    bench("SQLite (WAL)", url, args.n, args.clients, args.threads, args.blocks)
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            print(
                f"{r['database']:<13} stored {r['stored_responses']}/{r['submissions']} "
                f"(requests {r['requests_sent']}, exactly once: {r['exactly_once']}, "
                f"errors {r['errors']})\n"
                f"  feedback {r['feedback_throughput']:7.1f}/s  p50 {r['feedback_p50_ms']:6.1f} ms"
                f"  p99 {r['feedback_p99_ms']:6.1f} ms"
                f"  worker CPU {r['feedback_worker_cpu_ms']:.2f} ms/request"
                f"{_db_cpu(r, 'feedback')}, machine idle {r['feedback_idle_share']:.0%}\n"
                f"  bare     {r['bare_throughput']:7.1f}/s  p50 {r['bare_p50_ms']:6.1f} ms"
                f"  p99 {r['bare_p99_ms']:6.1f} ms"
                f"  worker CPU {r['bare_worker_cpu_ms']:.2f} ms/request"
                f"{_db_cpu(r, 'bare')}, machine idle {r['bare_idle_share']:.0%}\n"
                f"  form floor {r['floor_throughput']:5.1f}/s"
                f"  worker CPU {r['floor_worker_cpu_ms']:.2f} ms/request"
                f"  (CSRF-protected form post storing one row: ratio {r['floor_ratio']:.2f})\n"
                f"  ratio to the form floor {r['form_ratio']:.2f} (goal >= 0.7),"
                f" to the bare insert {r['ratio']:.2f}"
            )
        for name in dict.fromkeys(r["database"] for r in results):
            for key, what in (("form_ratio", "to the form floor"), ("ratio", "to the bare insert")):
                ratios = [r[key] for r in results if r["database"] == name]
                print(
                    f"{name:<13} median ratio {what} {statistics.median(ratios):.2f} over "
                    f"{len(ratios)} run(s): {', '.join(f'{x:.2f}' for x in ratios)}"
                )
    ok = all(r["exactly_once"] and r["errors"] == 0 for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
