"""Feedback files with a UTF-8 BOM: our downloads carry one, our importer reads one."""

from __future__ import annotations

import io

from app.core.tables import BOM
from app.feedback.import_export import import_responses
from app.models import Role

BOM_BYTES = BOM.encode("utf-8")


def test_the_feedback_importer_reads_a_csv_with_a_bom(app, feedback_pilot):
    code = feedback_pilot.assignments[0].site.code
    body = (
        f"Store,Submitted,Q1 Satisfaction,Ease,Recommend,Comments\n{code},2026-10-02,5,4,9,很好\n"
    )
    source = io.BytesIO(BOM_BYTES + body.encode("utf-8"))
    mapping = {"site_code": "Store", "submitted_at": "Submitted", "overall": "Q1 Satisfaction",
               "ease": "Ease", "recommend": "Recommend", "comment": "Comments"}  # fmt: skip
    with app.test_request_context():
        result = import_responses(feedback_pilot, source, mapping=mapping, filename="bom.csv")
    assert result.inserted == 1


def test_feedback_and_site_downloads_carry_the_bom(client, auth, feedback_pilot):
    auth.login(Role.ANALYST)
    for url in (f"/feedback/pilots/{feedback_pilot.id}/export.csv", "/sites/export.csv"):
        assert client.get(url).data.startswith(BOM_BYTES), url
