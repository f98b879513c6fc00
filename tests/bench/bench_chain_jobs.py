"""Benchmark: the long jobs of issue 22 at chain scale, on a database the chain seed built.

    flask demo seed --scale chain [--sites N --days N]     # DATABASE_URL=URL, once
    .venv/bin/python tests/bench/bench_chain_jobs.py --database-url URL [--repeat 3]
        [--only proposal|snapshot] [--pilots 100] [--profile]

(a) **proposal + power**: a new draft pilot (primary metric ``avg_wait_min``, four weeks
before and after a start next Monday) gets a site proposal over every site of the chain
(paired design, ``--pilots`` matched pairs from the worst half, matched on region) and then
power by simulation (2,000 placebo pilots over the metric's whole history): the two jobs the
wizard's sites step runs (``app.pilots.proposal_jobs``, ``app.pilots.power_jobs``), submitted
and run end to end on the synchronous runner, history read from the database included.
Goal: <= 10 s.

(b) **report snapshot** of the chain's biggest running pilot (200 sites, 10 metrics, its
feedback): the snapshot job (``app.reports.jobs``) on the synchronous runner. Goal: <= 10 s.

Prints the median of ``--repeat`` runs (each run also printed, with the parts of (a));
``--profile`` runs each once more under cProfile and prints the top functions. The runs add
a draft pilot (deleted again), jobs and draft reports to the database. Exits with status 1
when a goal is missed.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

GOAL_SECONDS = 10.0
PRIMARY = "avg_wait_min"


@contextmanager
def chain_app(url: str):
    """The app on an existing (seeded) database, jobs on the synchronous runner."""
    from app import create_app
    from app.config import Config

    class ChainConfig(Config):
        SQLALCHEMY_DATABASE_URI = url
        JOB_RUNNER = "sync"
        WTF_CSRF_ENABLED = False

    app = create_app(ChainConfig)
    with app.test_request_context():
        yield app


def _user(role):
    from sqlalchemy import select

    from app.extensions import db
    from app.models import User

    return db.session.scalars(select(User).where(User.role == role).order_by(User.id)).first()


# ---------------------------------------------------------------- (a) proposal + power


def new_draft(lead):
    """A draft pilot ready for the sites step: primary metric and dates (committed)."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import Metric, MetricRole
    from app.pilots import lifecycle as svc

    pilot = svc.create_pilot({"name": "Bench: proposal and power"}, by=lead)
    wait = db.session.scalars(select(Metric).where(Metric.key == PRIMARY)).one()
    svc.set_metrics(pilot, [svc.MetricChoice(wait, MetricRole.PRIMARY)], alpha=0.05,
                    min_effect=1.0, by=lead)  # fmt: skip
    svc.set_dates(pilot, *svc.default_dates())
    db.session.commit()
    return pilot


def proposal_and_power(pilot, lead, n_pilot: int) -> dict[str, float]:
    """Run the proposal job, then the power job for its selection; seconds of each part."""
    from app.models import JobStatus
    from app.pilots import power_jobs, proposal_jobs
    from app.pilots import proposal as pilot_design

    settings = pilot_design.ProposalSettings(n_pilot=n_pilot, match_on=("region",), seed=1)
    t0 = time.perf_counter()
    job = proposal_jobs.submit_proposal(pilot, settings, by=lead, reason=None)
    t1 = time.perf_counter()
    assert job.status is JobStatus.DONE, job.message
    inputs = power_jobs.power_inputs(pilot)
    assert isinstance(inputs, power_jobs.PowerInputs), inputs
    job = power_jobs.submit_power(pilot, inputs, by=lead, step=4)
    t2 = time.perf_counter()
    assert job.status is JobStatus.DONE, job.message
    power = job.result["power"]
    assert power is not None and power["error"] is None, power
    return {"proposal": t1 - t0, "power": t2 - t1, "total": t2 - t0,
            "sites": len(pilot.assignments), "mde": power["mde"]}  # fmt: skip


def bench_proposal(repeat: int, n_pilot: int, profile: bool) -> float:
    from app.extensions import db
    from app.models import Role
    from app.pilots import lifecycle as svc

    lead = _user(Role.ADMIN)
    pilot = new_draft(lead)
    try:
        runs = []
        for number in range(1, repeat + 1):
            parts = proposal_and_power(pilot, lead, n_pilot)
            runs.append(parts["total"])
            print(
                f"  run {number}: proposal {parts['proposal']:.2f} s + power "
                f"{parts['power']:.2f} s = {parts['total']:.2f} s ({parts['sites']} sites "
                f"chosen, MDE {parts['mde']:.3g} min)"
            )
        if profile:
            print_profile(lambda: proposal_and_power(pilot, lead, n_pilot))
    finally:
        db.session.rollback()
        svc.delete_draft(pilot, by=lead)
        db.session.commit()
    return statistics.median(runs)


# ---------------------------------------------------------------- (b) report snapshot


def biggest_running_pilot():
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import Assignment, Pilot, PilotStatus

    sites = func.count(Assignment.id)
    query = (
        select(Pilot, sites)
        .join(Assignment, Assignment.pilot_id == Pilot.id)
        .where(Pilot.status == PilotStatus.RUNNING)
        .group_by(Pilot.id)
        .order_by(sites.desc(), Pilot.id)
    )
    row = db.session.execute(query.limit(1)).first()
    if row is None:
        raise SystemExit("no running pilot: seed the chain first (flask demo seed --scale chain)")
    return row[0], row[1]


def snapshot(pilot, analyst) -> float:
    """A new snapshot of ``pilot`` through the snapshot job; its seconds."""
    from app.extensions import db
    from app.models import JobStatus, ReportStatus
    from app.reports import jobs as report_jobs
    from app.reports import snapshots as service

    t0 = time.perf_counter()
    report = service.start_snapshot(pilot, by=analyst)
    db.session.commit()
    job = report_jobs.submit_snapshot(report, by=analyst)
    seconds = time.perf_counter() - t0
    assert job.status is JobStatus.DONE, job.message
    db.session.refresh(report)
    assert report.status is ReportStatus.DRAFT, report.error
    return seconds


def chain_snapshot_runs(repeat: int, profile: bool = False) -> tuple[list[float], str]:
    """Seconds of ``repeat`` snapshots of the biggest running pilot, and what it is."""
    from app.models import Role

    pilot, n_sites = biggest_running_pilot()
    analyst = _user(Role.ANALYST)
    what = f"{pilot.name}: {n_sites} sites, {len(pilot.metric_links)} metrics"
    runs = [snapshot(pilot, analyst) for _ in range(repeat)]
    if profile:
        print_profile(lambda: snapshot(pilot, analyst))
    return runs, what


def chain_snapshot(url: str, repeat: int) -> tuple[list[float], str]:
    """(b) on the database at ``url`` (for ``bench_did.py --chain-snapshot``)."""
    with chain_app(url):
        return chain_snapshot_runs(repeat)


# ---------------------------------------------------------------- main


def print_profile(fn, top: int = 25) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip()))


def _missed(ok: bool) -> str:
    return "" if ok else " MISSED"


def main(argv: list[str] | None = None) -> int:
    from tests.bench.benchkit import database_parser, finish

    parser = database_parser(__doc__.splitlines()[0], repeat=3)
    parser.add_argument("--only", choices=["proposal", "snapshot"], default=None)
    parser.add_argument("--pilots", type=int, default=100, help="pilot sites (pairs) proposed")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("--database-url is required: a database the chain seed built")
    started, failures = time.perf_counter(), 0
    with chain_app(args.database_url):
        from sqlalchemy import func, select

        from app.extensions import db
        from app.models import Observation, Site

        n_sites = db.session.scalar(select(func.count(Site.id)))
        first, last = db.session.execute(
            select(func.min(Observation.date), func.max(Observation.date))
        ).one()
        print(f"chain: {n_sites:,} sites, observations {first} to {last}")
        if args.only in (None, "proposal"):
            print(f"(a) site proposal ({args.pilots} pairs) + power by simulation, new pilot:")
            median = bench_proposal(args.repeat, args.pilots, args.profile)
            ok = median <= GOAL_SECONDS
            failures += not ok
            print(f"  median {median:.2f} s (goal <= {GOAL_SECONDS:.0f} s){_missed(ok)}")
        if args.only in (None, "snapshot"):
            runs, what = chain_snapshot_runs(args.repeat, args.profile)
            median = statistics.median(runs)
            ok = median <= GOAL_SECONDS
            failures += not ok
            print(f"(b) report snapshot, {what}:")
            print(f"  runs {', '.join(f'{s:.2f}' for s in runs)} s")
            print(f"  median {median:.2f} s (goal <= {GOAL_SECONDS:.0f} s){_missed(ok)}")
    return finish(started, failures)


if __name__ == "__main__":
    sys.exit(main())
