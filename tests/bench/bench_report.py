"""How fast a report snapshot is computed and an existing one renders, at the issue's scale.

A pilot of 40 sites (10 pilot, 30 control) x 180 days (90 before and 90 after the start) x 10
metrics (1 primary, 3 guardrails, 6 secondary) = 72,000 observations, and 20,000 customer
feedback responses (a rating and an NPS answer each), in a throwaway SQLite file (or the
database named by ``--database-url``). Budgets (issue 7): a new snapshot <= 5 s, an existing
one renders <= 300 ms.

    .venv/bin/python tests/bench/bench_report.py [--repeat 5] [--database-url URL]

Prints the figures; exits with status 1 when a budget is missed.
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

N_PILOT, N_CONTROL, PRE_DAYS, POST_DAYS, N_METRICS, N_RESPONSES = 10, 30, 90, 90, 10, 20_000
SNAPSHOT_BUDGET, RENDER_BUDGET = 5.0, 0.300


def build(db, rng):
    """The pilot, its sites, metrics, observations and feedback; returns (pilot, analyst)."""
    start = date(2026, 6, 1)
    sites, metrics, analyst = _registry(rng)
    db.session.add_all([*sites, *metrics, analyst])
    pilot = _pilot(start, sites, metrics)
    db.session.add(pilot)
    db.session.flush()
    _observations(db, rng, pilot, sites, metrics)
    _feedback(db, rng, pilot, sites, start)
    db.session.commit()
    return pilot, analyst


def _registry(rng):
    from app.models import Direction, Metric, Role, Site, SizeTier, User

    sites = [
        Site(
            code=f"B{i:03d}",
            name=f"Bench {i}",
            region=["East", "West", "North", "South"][i % 4],
            size_tier=list(SizeTier)[i % 3],
            staff_count=int(rng.integers(8, 40)),
            management_score=float(rng.uniform(50, 90)),
            digital_readiness=float(rng.uniform(30, 90)),
            senior_share=float(rng.uniform(0, 0.4)),
        )
        for i in range(N_PILOT + N_CONTROL)
    ]
    metrics = [
        Metric(
            key=f"m{i}",
            name=f"Metric {i}",
            unit="min",
            better_direction=Direction.DECREASE if i == 0 else Direction.INCREASE,
        )
        for i in range(N_METRICS)
    ]
    analyst = User(email="bench-analyst@example.com", name="Bench Analyst", role=Role.ANALYST)
    analyst.set_password("bench-password-123")
    return sites, metrics, analyst


def _pilot(start, sites, metrics):
    from app.models import Arm, Assignment, MetricRole, Pilot, PilotMetric, PilotStatus

    pilot = Pilot(
        name="Bench pilot",
        status=PilotStatus.RUNNING,
        start_date=start,
        pre_start=start - timedelta(days=PRE_DAYS),
        end_date=start + timedelta(days=POST_DAYS - 1),
        min_effect=1.0,
    )
    for i, metric in enumerate(metrics):
        role = (
            MetricRole.PRIMARY
            if i == 0
            else MetricRole.GUARDRAIL
            if i < 4
            else MetricRole.SECONDARY
        )
        pilot.metric_links.append(
            PilotMetric(
                metric=metric,
                role=role,
                position=i,
                margin=2.0 if role is MetricRole.GUARDRAIL else None,
            )
        )
    for i, site in enumerate(sites):
        arm = Arm.PILOT if i < N_PILOT else Arm.CONTROL
        pilot.assignments.append(Assignment(site=site, arm=arm, stratum=site.region))
    return pilot


def _observations(db, rng, pilot, sites, metrics):
    from app.models import Observation

    rows = []
    for i, site in enumerate(sites):
        for metric in metrics:
            level = rng.normal(20, 3)
            values = level + rng.normal(0, 1.0, PRE_DAYS + POST_DAYS)
            if i < N_PILOT and metric.key == "m0":
                values[PRE_DAYS:] -= 1.5
            for d in range(PRE_DAYS + POST_DAYS):
                rows.append(
                    {
                        "site_id": site.id,
                        "metric_id": metric.id,
                        "date": pilot.pre_start + timedelta(days=d),
                        "value": float(values[d]),
                    }
                )
    db.session.execute(Observation.__table__.insert(), rows)


def _feedback(db, rng, pilot, sites, start):
    from app.models import Audience, FeedbackAnswer, FeedbackForm, FeedbackResponse, QuestionType

    form = FeedbackForm(
        pilot=pilot, audience=Audience.CUSTOMER, title_en="Visit", title_zh="体验", questions=[]
    )
    db.session.add(form)
    db.session.flush()
    responses, answers = [], []
    for rid in range(1, N_RESPONSES + 1):
        site = sites[int(rng.integers(len(sites)))]
        offset = int(rng.integers(-PRE_DAYS, POST_DAYS))
        rating = int(rng.integers(1, 6))
        responses.append(
            {
                "id": rid,
                "form_id": form.id,
                "pilot_id": pilot.id,
                "site_id": site.id,
                "audience": Audience.CUSTOMER,
                "submitted_at": datetime.combine(
                    start + timedelta(days=offset), dtime(12), tzinfo=UTC
                ),
                "segment": ["60+", "30_59", "under_30"][rid % 3],
            }
        )
        answers.append(
            {
                "response_id": rid,
                "question_key": "overall",
                "question_type": QuestionType.RATING,
                "value_num": float(rating),
            }
        )
        answers.append(
            {
                "response_id": rid,
                "question_key": "recommend",
                "question_type": QuestionType.NPS,
                "value_num": float(min(10, rating * 2)),
            }
        )
    db.session.execute(FeedbackResponse.__table__.insert(), responses)
    db.session.execute(FeedbackAnswer.__table__.insert(), answers)


def main() -> int:
    from tests.bench.benchkit import database_parser, fresh_app

    args = database_parser(__doc__, repeat=5).parse_args()

    import numpy as np

    from app.extensions import db
    from app.models import ReportStatus
    from app.reports import snapshots as service

    with fresh_app(args.database_url) as app:
        t0 = time.perf_counter()
        pilot, analyst = build(db, np.random.default_rng(20261124))
        print(
            f"data: {N_PILOT + N_CONTROL} sites x {PRE_DAYS + POST_DAYS} days x {N_METRICS} "
            f"metrics = {(N_PILOT + N_CONTROL) * (PRE_DAYS + POST_DAYS) * N_METRICS:,} "
            f"observations, {N_RESPONSES:,} feedback responses "
            f"(built in {time.perf_counter() - t0:.1f} s)"
        )

        snapshots, cpu = [], []
        report = None
        for _ in range(3):
            report = service.start_snapshot(pilot, by=analyst)
            db.session.commit()
            t0, c0 = time.perf_counter(), time.process_time()
            report = service.compute_report(report.id)
            snapshots.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            assert report.status is ReportStatus.DRAFT, report.error
        print(
            f"new snapshot, first in the process (cold caches): {snapshots[0]:.2f} s wall, "
            f"{cpu[0]:.2f} s CPU"
        )
        timings = report.results["timings"]
        warm, warm_cpu = statistics.median(snapshots[1:]), statistics.median(cpu[1:])
        print(
            f"new snapshot, later ones (10,000 permutations): median {warm:.2f} s wall "
            f"({warm_cpu:.2f} s CPU)  [budget {SNAPSHOT_BUDGET:.0f} s]"
        )
        print("  of which: " + ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()))

        client = app.test_client()
        client.post("/auth/login", data={"email": analyst.email, "password": "bench-password-123"})
        url = f"/reports/{report.id}"
        t0 = time.perf_counter()
        assert client.get(url).status_code == 200  # first view: renders and caches the body
        print(f"existing snapshot page, first view: {1000 * (time.perf_counter() - t0):.0f} ms")
        renders = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            response = client.get(url)
            renders.append(time.perf_counter() - t0)
            assert response.status_code == 200
        print(
            f"existing snapshot page: median {1000 * statistics.median(renders):.0f} ms, "
            f"max {1000 * max(renders):.0f} ms  [budget {1000 * RENDER_BUDGET:.0f} ms]"
        )

        html = response.get_data(as_text=True)
        import re

        names = re.findall(r'data-chart="([^"]+)"', html)
        t0 = time.perf_counter()
        for name in names:
            assert client.get(f"{url}/charts/{name}.svg").status_code == 200
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        for name in names:
            client.get(f"{url}/charts/{name}.svg")
        warm = time.perf_counter() - t0
        print(
            f"{len(names)} charts: first render {cold:.2f} s in total, cached {1000 * warm:.0f} ms"
        )
        for path, label in (
            ("/export.json", "JSON"),
            ("/export-csv.zip", "CSV zip"),
            ("/bundle.zip", "bundle"),
            ("/export.pdf", "PDF"),
        ):
            t0 = time.perf_counter()
            response = client.get(url + path)
            print(f"export {label}: {time.perf_counter() - t0:.2f} s, {len(response.data):,} bytes")
        t0 = time.perf_counter()
        service.is_stale(report)
        full = time.perf_counter() - t0
        t0 = time.perf_counter()
        service.looks_stale(report)
        fast = time.perf_counter() - t0
        print(
            f"staleness: full fingerprint {1000 * full:.0f} ms, "
            f"page's signature {1000 * fast:.0f} ms"
        )
        db.session.remove()
        db.drop_all()
    ok = (
        statistics.median(snapshots[1:]) <= SNAPSHOT_BUDGET
        and statistics.median(renders) <= RENDER_BUDGET
    )
    print("within budget" if ok else "OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
