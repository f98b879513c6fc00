"""Feedback routes: the public QR form is open to everyone; the rest by role."""

from app.extensions import db
from app.models import Audience, FormLink
from tests.access.rules import ALL_SEEING, EDITORS, EVERYONE, get, import_rules, post

STAFF = frozenset({"staff"})


def setup(world):
    from app.feedback import questionnaires as svc
    from app.feedback import responses

    svc.ensure_forms(world.pilot)
    links = svc.ensure_links(world.pilot)
    world.link = next(
        lk for lk in links if lk.site_id == world.site.id and lk.audience is Audience.CUSTOMER
    )
    world.spare_link = FormLink(
        pilot_id=world.pilot.id, site_id=world.site.id, audience=Audience.STAFF
    )
    db.session.add(world.spare_link)
    form = svc.current_form(world.pilot.id, Audience.CUSTOMER)
    answers, _ = responses.clean_answers(
        form, {"overall": "2", "ease": "3", "recommend": "5", "comment": "排队太久了"}
    )
    world.response = responses.submit_response(
        form, world.site.id, answers, idempotency_key="access-matrix-response-1"
    ).response
    world.answer = next(a for a in world.response.answers if a.value_text)
    db.session.flush()


RULES = {
    "feedback.public_form": [
        get(lambda w: f"/feedback/f/{w.link.token}", EVERYONE),
        post(lambda w: f"/feedback/f/{w.link.token}", EVERYONE, data=lambda w: {"q_overall": "4"}),
    ],
    "feedback.thanks": get(lambda w: f"/feedback/f/{w.link.token}/thanks", EVERYONE),
    "feedback.staff_feed": get(lambda w: "/feedback/staff", STAFF),
    "feedback.staff_answer": get(lambda w: f"/feedback/staff/answer/{w.pilot.id}", STAFF),
    "feedback.manage": get(lambda w: f"/feedback/pilots/{w.pilot.id}", EDITORS),
    "feedback.setup": post(lambda w: f"/feedback/pilots/{w.pilot.id}/setup", EDITORS),
    "feedback.edit_form": get(lambda w: f"/feedback/pilots/{w.pilot.id}/forms/customer", EDITORS),
    "feedback.revoke_link": post(lambda w: f"/feedback/links/{w.spare_link.id}/revoke", EDITORS),
    "feedback.qr_code": get(lambda w: f"/feedback/links/{w.link.id}/qr.svg", EDITORS),
    "feedback.sheet": get(
        lambda w: f"/feedback/pilots/{w.pilot.id}/sites/{w.site.id}/sheet", EDITORS
    ),
    "feedback.pilot_overview": get(lambda w: f"/feedback/pilots/{w.pilot.id}/overview", ALL_SEEING),
    "feedback.comments": get(lambda w: f"/feedback/pilots/{w.pilot.id}/comments", ALL_SEEING),
    "feedback.tag_comment": post(
        lambda w: f"/feedback/answers/{w.answer.id}/tags", ALL_SEEING, data=lambda w: {"tag": "x"}
    ),
    "feedback.flag_response": post(
        lambda w: f"/feedback/responses/{w.response.id}/flag", ALL_SEEING
    ),
    "feedback.export": get(lambda w: f"/feedback/pilots/{w.pilot.id}/export.csv", ALL_SEEING),
    **import_rules(
        "feedback.import_responses",
        "feedback.import_preview",
        lambda w: f"/feedback/pilots/{w.pilot.id}/import",
    ),
}
