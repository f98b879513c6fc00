"""Daily data by file: long or wide form, all errors at once, idempotent upserts with history."""

from datetime import date

from sqlalchemy import func, select

from app.core import tables as tabular
from app.extensions import db
from app.models import ImportBatch, Metric, Observation, ObservationRevision, Role
from app.sites.observation_import import apply_observations, plan_observations
from tests.conftest import post_file

TODAY = date(2026, 11, 24)


def plan(text: str, pilot=None, filename="data.csv", encoding="utf-8"):
    chunks = tabular.iter_upload(text.encode(encoding), filename=filename, chunk_rows=2)
    return plan_observations(chunks, pilot=pilot, today=TODAY)


def run(text: str, pilot=None, by=None):
    result = plan(text, pilot)
    assert result.ok, [str(e) for e in result.errors]
    apply_observations(result, by=by, filename="data.csv")
    db.session.commit()
    return result


def stored() -> dict:
    rows = db.session.execute(
        select(Observation.site_id, Observation.date, Observation.metric_id, Observation.value)
    )
    return {(s, d, m): v for s, d, m, v in rows}


def setup_world(make_site, make_metric):
    a, b = make_site(code="A1"), make_site(code="B2")
    wait = make_metric("wait", name="Average wait", name_zh="平均等待时间")
    orders = make_metric("orders", name="Orders")
    db.session.commit()
    return a, b, wait, orders


LONG = (
    "site,date,metric,value\n"
    "A1,2026-10-01,wait,5.5\n"
    "A1,2026-10-02,wait,6\n"
    'B2,2026-10-01,orders,"1,234"\n'
)


def test_a_long_file_is_imported_and_a_repeat_changes_nothing(app, rctx, make_site, make_metric):
    a, b, wait, orders = setup_world(make_site, make_metric)
    first = run(LONG)
    assert (first.form, first.counts()) == ("long", {"inserted": 3, "updated": 0, "unchanged": 0})
    assert stored()[(b.id, date(2026, 10, 1), orders.id)] == 1234.0
    before = stored()
    again = run(LONG)
    assert again.counts() == {"inserted": 0, "updated": 0, "unchanged": 3}
    assert stored() == before
    assert db.session.scalar(select(func.count(ObservationRevision.id))) == 0


def test_a_corrected_file_updates_values_and_keeps_who_changed_what(
    app, rctx, make_site, make_metric, make_user
):
    a, _, wait, _ = setup_world(make_site, make_metric)
    lead = make_user(Role.CHANGE_LEAD)
    run(LONG)
    corrected = run(LONG.replace("2026-10-02,wait,6", "2026-10-02,wait,6.5"), by=lead)
    assert corrected.counts() == {"inserted": 0, "updated": 1, "unchanged": 2}
    assert stored()[(a.id, date(2026, 10, 2), wait.id)] == 6.5
    revision = db.session.scalar(select(ObservationRevision))
    batch = db.session.get(ImportBatch, revision.batch_id)
    assert (revision.old_value, revision.new_value, batch.user_id) == (6.0, 6.5, lead.id)


def test_a_wide_file_with_chinese_headers_and_metric_names(app, rctx, make_site, make_metric):
    a, b, wait, orders = setup_world(make_site, make_metric)
    wide = "门店编码,日期,平均等待时间,Orders,备注\nA1,2026/10/3,5,100,ok\nB2,20261003,,90,\n"
    result = run(wide)
    assert result.form == "wide" and result.ignored_columns == ["备注"]
    # the blank wait cell of B2 is no observation, not an error
    assert result.counts()["inserted"] == 3
    assert stored()[(a.id, date(2026, 10, 3), wait.id)] == 5.0


def test_every_kind_of_error_is_reported_together_and_nothing_is_written(
    app, rctx, make_site, make_metric, make_pilot
):
    setup_world(make_site, make_metric)
    pilot = make_pilot(start_date=date(2026, 10, 1))  # pre-period from 2026-09-03 to 2026-10-28
    db.session.commit()
    bad = (
        "site,date,metric,value\n"
        "A1,2026-10-01,wait,5\n"  # 2: fine
        "ZZ9,2026-10-01,wait,5\n"  # 3: unknown site
        "A1,2026-10-01,nope,5\n"  # 4: unknown metric
        "A1,01/10/2026,wait,5\n"  # 5: ambiguous date
        "A1,2026-08-01,wait,5\n"  # 6: before the pre-period
        "A1,2026-10-02,wait,abc\n"  # 7: not a number
        "A1,2026-10-01,wait,6\n"  # 8: duplicate of row 2
        "A1,2026-12-01,wait,6\n"  # 9: after the planned end
    )
    result = plan(bad, pilot)
    messages = {(e.row, e.column): e.message for e in result.errors}
    assert messages[(3, "site")] == "Unknown site code 'ZZ9'."
    assert messages[(4, "metric")] == "Unknown metric 'nope'."
    assert "not a date" in messages[(5, "date")]
    assert "before this pilot's pre-period" in messages[(6, "date")]
    assert messages[(7, "value")] == "'abc' is not a number."
    assert "Duplicate of row 2" in messages[(8, "metric")]
    assert "after this pilot's planned end" in messages[(9, "date")]
    assert result.n_errors == 7
    assert stored() == {}


def test_future_dates_are_refused_without_a_pilot(app, rctx, make_site, make_metric):
    setup_world(make_site, make_metric)
    result = plan("site,date,metric,value\nA1,2026-12-24,wait,5\n")
    assert "in the future" in result.errors[0].message


def test_the_pilot_upload_page_previews_and_imports(
    client, auth, make_site, make_metric, make_pilot
):
    a, b, wait, _ = setup_world(make_site, make_metric)
    pilot = make_pilot(sites=[a, b], n_pilot=1, n_control=1, start_date=date(2026, 10, 1))
    auth.login(Role.CHANGE_LEAD)
    upload = post_file(client, f"/pilots/{pilot.id}/data/import", LONG.encode(), "pos.csv")
    url = upload.headers["Location"]
    page = client.get(url).get_data(as_text=True)
    assert "3 new values" in page and stored() == {}
    assert client.post(url, data={}).headers["Location"].endswith(f"/pilots/{pilot.id}")
    assert len(stored()) == 3


def test_the_cli_streams_a_file_in_chunks(runner, make_site, make_metric, tmp_path):
    setup_world(make_site, make_metric)
    path = tmp_path / "obs.csv"
    path.write_text(LONG)
    result = runner.invoke(args=["observations", "import", str(path), "--chunk-rows", "1"])
    assert result.exit_code == 0, result.output
    assert "3 inserted" in result.output
    assert db.session.scalar(select(func.count(Observation.id))) == 3
    assert db.session.scalar(select(func.count(Metric.id))) == 2
