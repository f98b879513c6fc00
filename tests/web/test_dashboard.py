from app.extensions import db
from app.models import PilotStatus, Role


def test_dashboard_lists_pilots_with_site_counts(client, auth, make_pilot):
    make_pilot(n_pilot=3, n_control=5, name="QR ordering")
    make_pilot(n_pilot=1, n_control=1, name="One window desk", status=PilotStatus.DRAFT)
    auth.login(Role.ANALYST)
    html = client.get("/").get_data(as_text=True)
    assert "QR ordering" in html and "One window desk" in html
    row = html.split("QR ordering")[1].split("</tr>")[0]
    assert ">3<" in row and ">5<" in row


def test_staff_see_only_pilots_of_their_site(client, auth, make_pilot, make_site):
    site = make_site()
    make_pilot(sites=[site], name="Mine")
    make_pilot(name="Not mine")
    db.session.commit()
    auth.login(Role.STAFF, site=site)
    html = client.get("/").get_data(as_text=True)
    assert "Mine" in html and "Not mine" not in html


def test_dashboard_counts_days_only_within_the_planned_dates(app, make_pilot, make_user):
    from datetime import date

    from app.pilots.overview import pilot_overview

    make_pilot(start_date=date(2026, 10, 1))  # planned end 2026-10-28
    viewer = make_user(Role.ANALYST)
    [during] = pilot_overview(viewer, today=date(2026, 10, 5))
    [after] = pilot_overview(viewer, today=date(2026, 11, 24))
    assert during.day_number == 5  # 1 Oct is day 1
    assert after.day_number is None
