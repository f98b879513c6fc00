"""Links, QR codes (PNG and SVG), the printable A4 sheet, revoking from the page."""

from __future__ import annotations

import io

from PIL import Image

from app.extensions import db
from app.feedback import questionnaires as svc
from app.models import Audience, FormLink, Role
from tests.feedback.conftest import link_for


def test_every_site_and_audience_gets_one_unguessable_link(feedback_pilot):
    links = svc.pilot_links(feedback_pilot.id)
    assert len(links) == 4 * 2
    assert len({lk.token for lk in links}) == 8
    assert all(len(lk.token) >= 22 for lk in links)  # 128 random bits
    assert len(svc.ensure_links(feedback_pilot)) == 8  # idempotent


def test_qr_codes_as_png_and_svg(client, auth, feedback_pilot):
    link = link_for(feedback_pilot, feedback_pilot.assignments[0].site)
    auth.login(Role.CHANGE_LEAD)
    png = client.get(f"/feedback/links/{link.id}/qr.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    image = Image.open(io.BytesIO(png.get_data()))
    assert image.size[0] == image.size[1] >= 200
    svg = client.get(f"/feedback/links/{link.id}/qr.svg?download=1")
    assert svg.mimetype == "image/svg+xml" and b"<svg" in svg.get_data()
    assert "attachment" in svg.headers["Content-Disposition"]
    assert client.get(f"/feedback/links/{link.id}/qr.gif").status_code == 404


def test_the_printable_sheet_has_the_code_the_site_and_a_bilingual_invitation(
    client, auth, feedback_pilot
):
    site = feedback_pilot.assignments[0].site
    link = link_for(feedback_pilot, site)
    auth.login(Role.CHANGE_LEAD)
    page = client.get(f"/feedback/pilots/{feedback_pilot.id}/sites/{site.id}/sheet")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<svg" in text and site.name in text
    assert "扫码告诉我们您的感受" in text and "Scan to tell us how we did" in text
    assert f"/feedback/f/{link.token}" in text
    assert "@page { size: A4" in text
    pdf = client.get(f"/feedback/pilots/{feedback_pilot.id}/sites/{site.id}/sheet?format=pdf")
    assert pdf.mimetype == "application/pdf" and pdf.get_data()[:5] == b"%PDF-"


def test_revoking_from_the_page_replaces_the_link(client, auth, feedback_pilot):
    site = feedback_pilot.assignments[0].site
    link = link_for(feedback_pilot, site)
    old_token = link.token
    auth.login(Role.CHANGE_LEAD)
    response = client.post(f"/feedback/links/{link.id}/revoke")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(FormLink, link.id).revoked_at is not None
    new = link_for(feedback_pilot, site)
    assert new.token != old_token
    assert client.get(f"/feedback/f/{old_token}").status_code == 404
    assert client.get(f"/feedback/links/{link.id}/qr.png").status_code == 404


def test_the_setup_button_creates_forms_and_links(client, auth, make_pilot):
    pilot = make_pilot(n_pilot=1, n_control=1)
    db.session.commit()
    auth.login(Role.CHANGE_LEAD)
    page = client.get(f"/feedback/pilots/{pilot.id}", headers={"Accept-Language": "en"})
    assert "No links yet" in page.get_data(as_text=True)
    client.post(f"/feedback/pilots/{pilot.id}/setup")
    assert len(svc.pilot_links(pilot.id)) == 4
    assert svc.current_form(pilot.id, Audience.STAFF) is not None


def test_analysts_tag_comments_and_flag_them_for_the_retro(
    client, auth, feedback_pilot, add_response
):
    from datetime import UTC, datetime

    site = feedback_pilot.assignments[0].site
    response = add_response(
        feedback_pilot,
        site,
        datetime(2026, 10, 2, 4, tzinfo=UTC),
        overall=4,
        ease=4,
        recommend=9,
        comment="菜单很清楚",
    )
    db.session.commit()
    answer = next(a for a in response.answers if a.value_text)
    auth.login(Role.ANALYST)
    client.post(f"/feedback/answers/{answer.id}/tags", data={"tag": "  menu layout "})
    client.post(f"/feedback/responses/{response.id}/flag", data={"flagged": "1"})
    db.session.expire_all()
    tags = {(t.tag, t.is_automatic) for t in answer.tags}
    assert ("menu layout", False) in tags
    assert response.is_flagged_negative
    page = client.get(f"/feedback/pilots/{feedback_pilot.id}/comments?tag=menu+layout")
    assert "菜单很清楚" in page.get_data(as_text=True)
    client.post(f"/feedback/answers/{answer.id}/tags", data={"tag": "menu layout", "remove": "1"})
    db.session.expire_all()
    assert "menu layout" not in {t.tag for t in answer.tags}
