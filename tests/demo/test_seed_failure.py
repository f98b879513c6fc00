"""A demo seed that fails part-way leaves an empty database, so that the next `make run`
(``flask demo prepare``, which seeds only an empty database) builds the demo again instead
of keeping half of it for good."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.demo.seed import database_is_empty, emptied_if_it_fails
from app.extensions import db
from app.models import Observation, Report, Site, User


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.slow
def test_a_seed_that_fails_after_a_report_was_committed_leaves_nothing(app, monkeypatch):
    def broken(last_day):
        # by now the rolling-out pilot's report job has committed the demo so far
        assert count(Report) >= 1
        raise RuntimeError("disk full")

    monkeypatch.setattr("app.demo.finished.seed_finished_demo", broken)
    result = app.test_cli_runner().invoke(args=["demo", "seed"])
    assert result.exit_code != 0
    assert isinstance(result.exception, RuntimeError)
    db.session.rollback()
    assert database_is_empty()
    assert (count(Report), count(User), count(Observation)) == (0, 0, 0)


def test_a_database_that_had_data_is_left_alone_when_a_seed_fails(app, make_site):
    make_site(code="KEEP")
    db.session.commit()
    with pytest.raises(RuntimeError), emptied_if_it_fails():
        make_site(code="HALF")
        db.session.commit()
        raise RuntimeError("stopped")
    assert sorted(db.session.scalars(select(Site.code))) == ["HALF", "KEEP"]
