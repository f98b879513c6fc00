"""The bulk path of observation imports (staging table, one upsert) against a plain model.

Runs on SQLite, and on PostgreSQL when the suite does (``TEST_DATABASE_URL``).
"""

from __future__ import annotations

import gc
import random
import weakref
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from app.core import tables as tabular
from app.core.errors import ImportFailed
from app.extensions import db
from app.models import ImportBatch, Observation, ObservationRevision
from app.sites.observation_bulk import bulk_write
from app.sites.observation_import import apply_observations, plan_observations

TODAY = date(2026, 11, 24)
FIRST = date(2026, 9, 1)


def world(make_site, make_metric, n_sites=30, n_metrics=4):
    sites = [make_site(code=f"B{i:03d}") for i in range(n_sites)]
    metrics = [make_metric(f"bulk_{m}") for m in range(n_metrics)]
    db.session.commit()
    return sites, metrics


def csv_text(rows, header="site,date,metric,value,denominator") -> str:
    lines = [header]
    for site, day, metric, value, den in rows:
        lines.append(f"{site},{day.isoformat()},{metric},{value!r},{'' if den is None else den}")
    return "\n".join(lines) + "\n"


def import_text(body: str, chunk_rows=500):
    chunks = tabular.iter_upload(body.encode(), filename="bulk.csv", chunk_rows=chunk_rows)
    plan = plan_observations(chunks, today=TODAY)
    assert plan.ok, [str(e) for e in plan.errors[:5]]
    batch = apply_observations(plan, filename="bulk.csv")
    db.session.commit()
    return plan, batch


def table() -> dict:
    rows = db.session.execute(
        select(
            Observation.site_id,
            Observation.metric_id,
            Observation.date,
            Observation.value,
            Observation.denominator,
        )
    )
    return {(s, m, d): (v, den) for s, m, d, v, den in rows}


def revisions() -> list[tuple]:
    rows = db.session.execute(
        select(
            Observation.site_id,
            Observation.metric_id,
            Observation.date,
            ObservationRevision.old_value,
            ObservationRevision.new_value,
        ).join(Observation, Observation.id == ObservationRevision.observation_id)
    )
    return sorted(tuple(r) for r in rows)


def model_import(stored: dict, rows) -> tuple[dict, dict, list]:
    """What an import of ``rows`` should do to ``stored``, computed one row at a time."""
    after = dict(stored)
    counts = {"inserted": 0, "updated": 0, "unchanged": 0}
    revised = []
    for key, (value, den) in rows.items():
        if key not in after:
            after[key] = (value, den)
            counts["inserted"] += 1
            continue
        old_value, old_den = after[key]
        new_den = old_den if den is None else den
        if abs(old_value - value) > 1e-9 or (den is not None and old_den != den):
            after[key] = (value, new_den)
            counts["updated"] += 1
            revised.append((*key, old_value, value))
        else:
            counts["unchanged"] += 1
    return after, counts, sorted(revised)


def random_rows(rng, sites, metrics, n, base=None):
    """``n`` distinct (site, metric, day) rows; with ``base``, a mix of its keys (some with
    new values) and new keys."""
    rows = {}
    keys = list(base or [])
    rng.shuffle(keys)
    while len(rows) < n:
        if keys and rng.random() < 0.7:
            key = keys.pop()
            value, den = base[key]
            roll = rng.random()
            if roll < 0.3:
                value = round(value + rng.choice([-2.5, 1, 0.25]), 2)
            elif roll < 0.4:
                den = None if den is None else den + 1
        else:
            site, metric = rng.choice(sites), rng.choice(metrics)
            key = (site.id, metric.id, FIRST + timedelta(days=rng.randrange(60)))
            if key in rows or (base and key in base):
                continue
            value = round(rng.uniform(0, 100), 2)
            den = rng.choice([None, float(rng.randrange(1, 500))])
        rows[key] = (value, den)
    return rows


def as_file(rows, sites, metrics, rng):
    code = {s.id: s.code for s in sites}
    key_of = {m.id: m.key for m in metrics}
    items = list(rows.items())
    rng.shuffle(items)
    return csv_text([(code[s], d, key_of[m], v, den) for (s, m, d), (v, den) in items])


def test_the_bulk_path_matches_a_row_by_row_model_on_a_few_thousand_rows(
    app, rctx, make_site, make_metric
):
    rng = random.Random(22)
    sites, metrics = world(make_site, make_metric)
    first = random_rows(rng, sites, metrics, 2_500)
    plan, batch = import_text(as_file(first, sites, metrics, rng))
    expected, counts, revised = model_import({}, first)
    assert (batch.rows_inserted, batch.rows_updated, batch.rows_unchanged) == tuple(counts.values())
    assert plan.counts() == counts == {"inserted": 2_500, "updated": 0, "unchanged": 0}
    assert table() == expected

    second = random_rows(rng, sites, metrics, 3_000, base=first)
    body = as_file(second, sites, metrics, rng)
    chunks = tabular.iter_upload(body.encode(), filename="bulk.csv", chunk_rows=700)
    preview = plan_observations(chunks, today=TODAY)
    expected, counts, revised = model_import(expected, second)
    assert counts["inserted"] and counts["updated"] and counts["unchanged"]  # all three kinds
    assert preview.counts() == counts  # what the preview says, before writing
    batch = apply_observations(preview, filename="bulk.csv")
    db.session.commit()
    assert (batch.rows_inserted, batch.rows_updated, batch.rows_unchanged) == tuple(counts.values())
    assert table() == expected
    assert revisions() == revised
    batch_ids = db.session.scalars(select(ObservationRevision.batch_id).distinct()).all()
    assert batch_ids == [batch.id]


def test_bulk_write_gives_the_same_contents_and_counts_from_an_iterator_of_ids(
    app, rctx, make_site, make_metric
):
    rng = random.Random(7)
    sites, metrics = world(make_site, make_metric)
    first = random_rows(rng, sites, metrics, 2_000)
    connection = db.session.connection()
    counts = bulk_write(connection, ((*k, *v) for k, v in first.items()), batch=300)
    db.session.commit()
    assert counts.to_dict() == {"inserted": 2_000, "updated": 0, "unchanged": 0}
    second = random_rows(rng, sites, metrics, 2_500, base=first)
    expected, model_counts, revised = model_import(first, second)
    batch = ImportBatch(kind="seed")
    db.session.add(batch)
    db.session.flush()
    rows = ((*k, *v) if v[1] is not None else (*k, v[0]) for k, v in second.items())
    counts = bulk_write(db.session.connection(), rows, batch_id=batch.id, batch=400)
    db.session.commit()
    assert counts.to_dict() == model_counts
    assert table() == expected
    assert revisions() == revised


def test_bulk_write_refuses_repeated_keys_and_unknown_ids(app, rctx, make_site, make_metric):
    sites, metrics = world(make_site, make_metric, n_sites=2, n_metrics=1)
    day = FIRST
    rows = [(sites[0].id, metrics[0].id, day, 1.0), (sites[1].id, metrics[0].id, day, 2.0)]
    with pytest.raises(ValueError, match="row 3 \\(same as row 1\\)"):
        bulk_write(db.session.connection(), [*rows, (sites[0].id, metrics[0].id, day, 3.0)])
    db.session.rollback()
    assert db.session.scalar(select(func.count(Observation.id))) == 0
    with pytest.raises(IntegrityError):
        bulk_write(db.session.connection(), [*rows, (sites[1].id + 999, metrics[0].id, day, 3.0)])
    db.session.rollback()
    assert db.session.scalar(select(func.count(Observation.id))) == 0


def test_an_invalid_row_in_the_middle_of_a_big_file_writes_nothing_and_names_row_and_column(
    app, rctx, make_site, make_metric
):
    rng = random.Random(3)
    sites, metrics = world(make_site, make_metric)
    rows = random_rows(rng, sites, metrics, 5_000)
    lines = as_file(rows, sites, metrics, rng).splitlines()
    site, day, metric, _value, den = lines[2_600].split(",")
    lines[2_600] = ",".join([site, day, metric, "12,5x", den])  # file row 2601
    body = "\n".join(lines).replace("12,5x", '"12,5x"') + "\n"
    chunks = tabular.iter_upload(body.encode(), filename="big.csv", chunk_rows=1_000)
    plan = plan_observations(chunks, today=TODAY)
    assert not plan.ok
    assert [(e.row, e.column) for e in plan.errors] == [(2_601, "value")]
    assert "12,5x" in plan.errors[0].message
    with pytest.raises(ImportFailed):
        apply_observations(plan, filename="big.csv")
    db.session.rollback()
    assert db.session.scalar(select(func.count(Observation.id))) == 0
    assert db.session.scalar(select(func.count(ImportBatch.id))) == 0


def test_duplicates_in_different_chunks_name_both_rows(app, rctx, make_site, make_metric):
    sites, metrics = world(make_site, make_metric, n_sites=3, n_metrics=2)
    rows = [
        (s.code, FIRST + timedelta(days=d), m.key, 1.0, None)
        for d in range(10)
        for s in sites
        for m in metrics
    ]
    rows.append(rows[3])  # file row 5 again, as row 62
    chunks = tabular.iter_upload(csv_text(rows).encode(), filename="d.csv", chunk_rows=7)
    plan = plan_observations(chunks, today=TODAY)
    assert [(e.row, e.column) for e in plan.errors] == [(62, "metric")]
    assert "row 5" in plan.errors[0].message


def test_a_byte_order_mark_before_the_header_is_accepted(app, rctx, make_site, make_metric):
    sites, metrics = world(make_site, make_metric, n_sites=1, n_metrics=1)
    body = "\ufeff" + csv_text([(sites[0].code, FIRST, metrics[0].key, 4.5, None)])
    chunks = tabular.iter_upload(body.encode("utf-8"), filename="bom.csv")
    plan = plan_observations(chunks, today=TODAY)
    assert plan.ok and plan.mapping["site"] == "site"
    apply_observations(plan, filename="bom.csv")
    db.session.commit()
    assert table() == {(sites[0].id, metrics[0].id, FIRST): (4.5, None)}


def test_the_plan_holds_no_chunk_once_it_is_staged(app, rctx, make_site, make_metric):
    """Memory is bounded by a chunk: none is kept once the next has been read."""
    sites, metrics = world(make_site, make_metric, n_sites=5, n_metrics=2)
    rows = [
        (s.code, FIRST + timedelta(days=d), m.key, float(d), None)
        for d in range(40)
        for s in sites
        for m in metrics
    ]
    source = tabular.iter_upload(csv_text(rows).encode(), filename="lazy.csv", chunk_rows=50)
    earlier: list[weakref.ref] = []
    alive_when_read = []

    def watched():
        for chunk in source:
            gc.collect()
            alive_when_read.append(sum(ref() is not None for ref in earlier))
            earlier.append(weakref.ref(chunk))
            yield chunk

    plan = plan_observations(watched(), today=TODAY)
    assert plan.ok and plan.n_rows == 400 and len(alive_when_read) == 8
    # at most the chunk in hand (the loop's own variable) while the next is read
    assert max(alive_when_read) <= 1
    assert plan.counts() == {"inserted": 400, "updated": 0, "unchanged": 0}


def test_the_csv_reader_reads_a_chunk_without_reading_the_file(app, rctx, tmp_path):
    path = tmp_path / "big.csv"
    with path.open("w") as out:
        out.write("site,date,metric,value\n")
        for i in range(100_000):
            out.write(f"S{i % 100:03d},2026-10-01,m{i},1.5\n")
    with path.open("rb") as stream:
        chunks = tabular.iter_upload(stream, filename="big.csv", chunk_rows=1_000)
        first = next(chunks)
        assert len(first) == 1_000
        assert stream.tell() < path.stat().st_size / 4
        chunks.close()


def test_no_staging_table_is_left_behind_by_a_failed_plan(app, rctx, make_site, make_metric):
    sites, metrics = world(make_site, make_metric, n_sites=1, n_metrics=1)
    body = csv_text(
        [(sites[0].code, FIRST, metrics[0].key, 1.0, None), ("ZZZ", FIRST, "x", 1, None)]
    )
    plan = plan_observations(tabular.iter_upload(body.encode(), filename="x.csv"), today=TODAY)
    assert not plan.ok and plan.stage is None
    if db.engine.dialect.name == "sqlite":
        left = db.session.execute(
            text("SELECT name FROM sqlite_temp_master WHERE name LIKE 'observation_stage%'")
        ).all()
        assert left == []


def test_a_big_write_leaves_fresh_planner_statistics_on_postgresql(
    app, rctx, make_site, make_metric, monkeypatch
):
    """PostgreSQL's planner picks an index for the pages' queries from the table's
    statistics: after a bulk load they must describe the table as it now is."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("planner statistics: PostgreSQL")
    from app.sites import observation_bulk

    monkeypatch.setattr(observation_bulk, "ANALYZE_AFTER_ROWS", 1_000)
    rng = random.Random(11)
    sites, metrics = world(make_site, make_metric)

    def estimated_rows() -> float:
        return db.session.scalar(
            text("SELECT reltuples FROM pg_class WHERE relname = 'observations'")
        )

    def stored() -> int:
        return db.session.scalar(select(func.count()).select_from(Observation))

    small = random_rows(rng, sites, metrics, 500)
    bulk_write(db.session.connection(), ((*k, *v) for k, v in small.items()))
    assert estimated_rows() != stored()  # below the threshold: left to autovacuum
    big = random_rows(rng, sites, metrics, 3_000, base=small)
    fresh = {k: v for k, v in big.items() if k not in small}
    counts = bulk_write(db.session.connection(), ((*k, *v) for k, v in fresh.items()))
    assert counts.inserted >= 1_000
    assert estimated_rows() == stored() == 500 + counts.inserted
