from datetime import date, timedelta

from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    Adjustment,
    Arm,
    Assignment,
    FeedbackAnswer,
    FeedbackResponse,
    Metric,
    Observation,
    Pilot,
    Role,
    Site,
    User,
)


def test_demo_seed_builds_the_qr_ordering_pilot(runner):
    result = runner.invoke(args=["demo", "seed"])
    assert result.exit_code == 0, result.output
    assert "lead@demo.rollwise" in result.output and "demo-rollwise" in result.output
    assert db.session.scalar(select(func.count(Site.id))) == 60
    pilot = db.session.scalar(select(Pilot).where(Pilot.name == "QR-code self-ordering"))
    arms = [
        a.arm for a in db.session.scalars(select(Assignment).where(Assignment.pilot_id == pilot.id))
    ]
    assert arms.count(Arm.PILOT) == 10 and arms.count(Arm.CONTROL) == 30
    days = db.session.scalar(
        select(func.count(func.distinct(Observation.date))).where(
            Observation.date >= pilot.pre_start, Observation.date <= pilot.end_date
        )
    )
    assert days == 56
    second = db.session.scalar(select(Pilot).where(Pilot.name != pilot.name))
    assert second.decision is not None and second.decision.value == "roll_out"
    # the demo lives in today: 28 pilot days up to yesterday, six weeks planned
    from app.demo.seed import default_last_day

    assert pilot.start_date == default_last_day() - timedelta(days=27)
    assert pilot.end_date == pilot.start_date + timedelta(days=41)
    adjustment = db.session.scalar(select(Adjustment).where(Adjustment.pilot_id == pilot.id))
    assert adjustment.effective_date == pilot.start_date + timedelta(days=7)
    roles = {u.role for u in db.session.scalars(select(User))}
    assert roles == set(Role)
    staff = db.session.scalar(select(User).where(User.role == Role.STAFF))
    assert staff.site_id in {s.id for s in pilot.sites_in(Arm.PILOT)}
    # the demo's metrics carry their plausible bounds (a wait is never negative)
    wait = db.session.scalar(select(Metric).where(Metric.key == "avg_wait_min"))
    assert (wait.min_value, wait.max_value) == (0.0, 1440.0)


def test_demo_seed_refuses_a_full_database(runner):
    runner.invoke(args=["demo", "seed"])
    again = runner.invoke(args=["demo", "seed"])
    assert again.exit_code != 0 and "already has data" in again.output
    quiet = runner.invoke(args=["demo", "seed", "--if-empty"])
    assert quiet.exit_code == 0 and "nothing to do" in quiet.output


def test_demo_seed_is_deterministic():
    """Two fresh SQLite databases seeded with the same seed hold the same numbers."""
    from app import create_app
    from app.config import TestConfig

    class SqliteConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = "sqlite://"

    sums = []
    for _ in range(2):
        app = create_app(SqliteConfig)
        with app.app_context():
            db.create_all()
            assert app.test_cli_runner().invoke(args=["demo", "seed"]).exit_code == 0
            sums.append(
                (
                    db.session.scalar(select(func.sum(Observation.value))),
                    db.session.scalar(select(func.count(FeedbackResponse.id))),
                )
            )
            db.session.remove()
            db.engine.dispose()
    assert sums[0] == sums[1]


def test_demo_seniors_dip_in_week_one_and_recover(runner):
    """The story the demo tells: senior satisfaction at pilot sites ~65% then ~89%."""
    runner.invoke(args=["demo", "seed"])
    pilot = db.session.scalar(select(Pilot).where(Pilot.name == "QR-code self-ordering"))
    pilot_ids = [s.id for s in pilot.sites_in(Arm.PILOT)]

    def share(lo: date, hi: date) -> float:
        rows = (
            db.session.execute(
                select(FeedbackAnswer.value_num)
                .join(FeedbackResponse)
                .where(
                    FeedbackResponse.site_id.in_(pilot_ids),
                    FeedbackResponse.segment == "60+",
                    FeedbackAnswer.question_key == "overall",
                    func.date(FeedbackResponse.submitted_at) >= lo,
                    func.date(FeedbackResponse.submitted_at) <= hi,
                )
            )
            .scalars()
            .all()
        )
        return sum(v >= 4 for v in rows) / len(rows)

    start = pilot.start_date
    week_one = share(start, start + timedelta(days=6))
    later = share(start + timedelta(days=7), start + timedelta(days=27))
    assert 0.5 < week_one < 0.78 < later


def create_user(runner, email: str, name: str, role: str, password: str, site: str | None = None):
    """Run ``flask users create`` with these options (``--site`` only when given)."""
    options = ["--email", email, "--name", name, "--role", role]
    if site is not None:
        options += ["--site", site]
    return runner.invoke(args=["users", "create", *options, "--password", password])


def test_users_create_command(runner, make_site):
    site = make_site(code="X01")
    db.session.commit()
    result = create_user(runner, "s@example.com", "S", "staff", "long-enough-pw", site="X01")
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "s@example.com"))
    assert user.site_id == site.id and user.check_password("long-enough-pw")


def test_users_create_command_explains_bad_input(runner):
    short = create_user(runner, "a@example.com", "A", "analyst", "short")
    assert short.exit_code != 0 and "at least 10" in short.output
    staff = create_user(runner, "b@example.com", "B", "staff", "long-enough-pw")
    assert staff.exit_code != 0 and "bound to a site" in staff.output
    site = create_user(runner, "c@example.com", "C", "staff", "long-enough-pw", site="NOPE")
    assert site.exit_code != 0 and "no site with code NOPE" in site.output


def test_demo_prepare_migrates_seeds_once_and_prints_the_logins_once(tmp_path):
    """What `make run` calls: from an empty file to a seeded demo, then nothing to do."""
    from app import create_app
    from app.config import TestConfig

    class FileConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp_path / 'demo.db'}"

    app = create_app(FileConfig)
    with app.app_context():
        first = app.test_cli_runner().invoke(args=["demo", "prepare"])
        assert first.exit_code == 0, first.output
        assert "60 sites" in first.output
        assert first.output.count("lead@demo.rollwise") == 1
        second = app.test_cli_runner().invoke(args=["demo", "prepare"])
        assert second.exit_code == 0, second.output
        assert "nothing to do" in second.output
        assert second.output.count("lead@demo.rollwise") == 1
        assert db.session.scalar(select(func.count(Site.id))) == 60
        db.session.remove()
        db.engine.dispose()
