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
