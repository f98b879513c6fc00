"""How long the daily retro brief takes on the demo's 40-site pilot (10 pilot + 30 control).

Seeds the demo into a throwaway database (a temporary SQLite file, or the database named by
``--database-url``), then times :func:`app.retros.brief.daily_brief` for every retro
day of the pilot, and the query count of one brief.

    .venv/bin/python tests/bench/bench_retro_brief.py [--repeat 3] [--database-url URL]
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> None:
    from tests.bench.benchkit import database_parser, fresh_app

    args = database_parser(__doc__, repeat=3).parse_args()

    from sqlalchemy import event, select

    from app.demo.seed import seed
    from app.extensions import db
    from app.models import Pilot
    from app.retros.brief import daily_brief

    with fresh_app(args.database_url) as app:
        url = app.config["SQLALCHEMY_DATABASE_URI"]
        seed()
        db.session.commit()
        pilot = db.session.scalars(select(Pilot).order_by(Pilot.id)).first()  # the running one
        days = [
            pilot.start_date + timedelta(days=i)
            for i in range((pilot.end_date - pilot.start_date).days + 2)
        ]
        statements = []
        event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(1))
        db.session.expire_all()
        daily_brief(pilot, days[10])
        n_queries = len(statements)
        timings = []
        for _ in range(args.repeat):
            for day in days:
                db.session.expire_all()
                began = time.perf_counter()
                brief = daily_brief(pilot, day)
                timings.append(time.perf_counter() - began)
                assert brief.n_sites == 40
        db.session.remove()
        db.drop_all()
    timings.sort()
    print(f"database: {url.split(':')[0]}; pilot with 40 sites; {len(timings)} briefs")
    print(f"queries per brief: {n_queries}")
    print(
        f"median {1000 * statistics.median(timings):.1f} ms, "
        f"p95 {1000 * timings[int(0.95 * (len(timings) - 1))]:.1f} ms, "
        f"max {1000 * timings[-1]:.1f} ms"
    )


if __name__ == "__main__":
    main()
