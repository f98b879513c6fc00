"""Import from another survey tool (atomic, row/column errors) and export to CSV/Excel."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from app.core.errors import ImportFailed
from app.core.imports import parse_mapping
from app.extensions import db
from app.feedback import questionnaires as svc
from app.feedback.import_export import import_responses
from app.models import Audience, FeedbackAnswer, FeedbackResponse, ResponseChannel, Role
from tests.conftest import xlsx_bytes
from tests.feedback.conftest import response_count


def _csv(pilot, rows):
    codes = [a.site.code for a in pilot.assignments]
    header = "Store,Submitted,Q1 Satisfaction,Ease,Recommend,Comments,Age,RespID\n"
    body = "".join(
        ",".join(str(v).format(s0=codes[0], s1=codes[1]) for v in r) + "\n" for r in rows
    )
    return io.BytesIO((header + body).encode("utf-8"))


MAPPING = {"site_code": "Store", "submitted_at": "Submitted", "overall": "Q1 Satisfaction",
           "ease": "Ease", "recommend": "Recommend", "comment": "Comments", "age_band": "Age",
           "response_id": "RespID"}  # fmt: skip


def test_a_mapped_csv_is_imported_with_masking(app, feedback_pilot):
    rows = [
        ["{s0}", "2026-10-02 12:30", 5, 4, 9, "很好 电话13812345678", "60+", "A1"],
        ["{s1}", "2026/10/03", 2, 3, 4, "too slow", "", "A2"],
    ]
    with app.test_request_context():
        result = import_responses(
            feedback_pilot, _csv(feedback_pilot, rows), mapping=MAPPING, filename="x.csv"
        )
    db.session.commit()
    assert (result.inserted, result.duplicates) == (2, 0)
    first = db.session.scalar(select(FeedbackResponse).order_by(FeedbackResponse.id))
    assert first.channel is ResponseChannel.IMPORT
    assert first.segment == "60+"
    # 12:30 in Shanghai is 04:30 UTC
    assert first.submitted_at.replace(tzinfo=UTC) == datetime(2026, 10, 2, 4, 30, tzinfo=UTC)
    text = db.session.scalar(
        select(FeedbackAnswer.value_text).where(FeedbackAnswer.value_text.like("很好%"))
    )
    assert text == "很好 电话[phone]"
    # importing the same rows again adds nothing
    with app.test_request_context():
        again = import_responses(
            feedback_pilot, _csv(feedback_pilot, rows), mapping=MAPPING, filename="x.csv"
        )
    assert (again.inserted, again.duplicates) == (0, 2)
    assert response_count() == 2


def test_any_bad_row_imports_nothing_and_every_problem_is_listed(app, feedback_pilot):
    rows = [
        ["{s0}", "2026-10-02 12:30", 5, 4, 9, "ok", "", "B1"],
        ["NOPE", "2026-10-02", 7, 4, 9, "", "", "B2"],
        ["{s1}", "yesterday", 4, "", 9, "", "", "B3"],
        ["{s1}", "2026-10-02", 4, 4, 9, "", "", "B1"],
    ]
    with app.test_request_context(), pytest.raises(ImportFailed) as failed:
        import_responses(
            feedback_pilot, _csv(feedback_pilot, rows), mapping=MAPPING, filename="x.csv"
        )
    found = {(e.row, e.column) for e in failed.value.errors}
    assert (3, "Store") in found  # unknown site, row 3 of the file
    assert (3, "Q1 Satisfaction") in found  # a rating of 7
    assert (4, "Submitted") in found
    assert (4, "Ease") in found  # required answer missing
    assert (5, "RespID") in found  # the same response id twice
    db.session.rollback()
    assert response_count() == 0


def test_columns_are_found_by_question_text_without_a_mapping(app, feedback_pilot):
    code = feedback_pilot.assignments[0].site.code
    header = ",".join(
        [
            "门店编码",
            "总体来说，您今天满意吗？",
            "新的点餐方式使用起来方便吗？",
            "您有多大可能向朋友推荐我们？",
        ]
    )
    body = f"{header}\n{code},5,4,10\n"
    with app.test_request_context():
        result = import_responses(feedback_pilot, io.BytesIO(body.encode()), filename="y.csv")
    assert result.inserted == 1


def upload(client, pilot, body, name, audience="customer"):
    """Post a file to the upload page; answers the redirect to its preview."""
    return client.post(
        f"/feedback/pilots/{pilot.id}/import",
        data={"audience": audience, "file": (io.BytesIO(body), name)},
        content_type="multipart/form-data",
        headers={"Accept-Language": "en"},
    )


def test_excel_upload_through_the_page(client, auth, feedback_pilot):
    auth.login(Role.CHANGE_LEAD)
    rows = [
        ["site_code", "overall", "ease", "recommend"],
        [feedback_pilot.assignments[0].site.code, 4, 4, 8],
    ]
    response = upload(client, feedback_pilot, xlsx_bytes(rows), "answers.xlsx")
    assert response.status_code == 302
    preview = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "1 rows checked: 1 new responses, 0 already there." in preview
    assert response_count() == 0  # the preview writes nothing
    done = client.post(response.headers["Location"], data={})
    assert done.status_code == 302
    assert done.headers["Location"].endswith(f"/feedback/pilots/{feedback_pilot.id}")
    assert response_count() == 1


def test_the_page_lists_row_errors(client, auth, feedback_pilot):
    auth.login(Role.CHANGE_LEAD)
    body = b"site_code,overall,ease,recommend\nNOPE,9,4,8\n"
    url = upload(client, feedback_pilot, body, "bad.csv").headers["Location"]
    text = client.get(url, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'data-testid="import-errors"' in text and "NOPE" in text
    assert 'data-testid="confirm-import"' not in text
    # forcing the import anyway writes nothing
    response = client.post(url, data={}, headers={"Accept-Language": "en"})
    assert response.status_code == 422
    assert "Nothing can be imported" in response.get_data(as_text=True)
    assert response_count() == 0


def test_a_garbage_upload_is_a_message_not_a_crash(client, auth, feedback_pilot):
    auth.login(Role.CHANGE_LEAD)
    url = upload(client, feedback_pilot, b"\x00\xff\x00PK garbage", "x.xlsx").headers["Location"]
    preview = client.get(url)
    assert preview.status_code == 200
    assert 'data-testid="import-errors"' in preview.get_data(as_text=True)
    assert client.post(url, data={}).status_code == 422
    assert response_count() == 0


def test_the_preview_lets_the_user_choose_columns_the_aliases_missed(client, auth, feedback_pilot):
    auth.login(Role.CHANGE_LEAD)
    code = feedback_pilot.assignments[0].site.code
    body = f"Shop,Q1,Q2,Q3\n{code},5,4,9\n".encode()
    url = upload(client, feedback_pilot, body, "other-tool.csv").headers["Location"]
    page = client.get(url, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "No column for Site code" in page and 'name="map_overall"' in page
    choice = {"map_site_code": "Shop", "map_overall": "Q1", "map_ease": "Q2", "map_recommend": "Q3"}
    again = client.get(f"{url}&{urlencode(choice)}").get_data(as_text=True)
    assert 'data-testid="confirm-import"' in again and "1 new responses" in again
    assert client.post(url, data=choice).status_code == 302
    stored = db.session.scalar(
        select(FeedbackAnswer.value_num).where(FeedbackAnswer.question_key == "recommend")
    )
    assert stored == 9


def test_the_chosen_form_travels_through_the_preview(client, auth, feedback_pilot):
    auth.login(Role.CHANGE_LEAD)
    code = feedback_pilot.assignments[0].site.code
    staff_form = svc.current_form(feedback_pilot.id, Audience.STAFF)
    answers = {q["key"]: "4" for q in staff_form.questions if q["type"] == "rating"}
    body = "site_code," + ",".join(answers) + f"\n{code}," + ",".join(answers.values()) + "\n"
    url = upload(client, feedback_pilot, body.encode(), "staff.csv", audience="staff")
    assert "audience=staff" in url.headers["Location"]
    assert client.post(url.headers["Location"], data={}).status_code == 302
    stored = db.session.scalar(select(FeedbackResponse))
    assert stored.audience is Audience.STAFF


def test_an_unknown_form_choice_re_renders_the_page(client, auth, feedback_pilot):
    auth.login(Role.CHANGE_LEAD)
    response = client.post(
        f"/feedback/pilots/{feedback_pilot.id}/import",
        data={"audience": "visitors", "file": (io.BytesIO(b"site_code\n"), "x.csv")},
        content_type="multipart/form-data",
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 422
    assert "Not a valid choice" in response.get_data(as_text=True)


def test_mapping_text_is_parsed():
    assert parse_mapping("overall = Q1\n# comment\nsite_code: 门店") == {
        "overall": "Q1",
        "site_code": "门店",
    }


def test_export_csv_and_excel(client, auth, feedback_pilot, add_response):
    site = feedback_pilot.assignments[0].site
    when = datetime(2026, 10, 2, 4, tzinfo=UTC)
    ratings = {"overall": 5, "ease": 4, "recommend": 9}
    add_response(feedback_pilot, site, when, **ratings, comment="排队太久 a@b.com", age_band="60+")
    db.session.commit()
    auth.login(Role.ANALYST)
    csv = client.get(f"/feedback/pilots/{feedback_pilot.id}/export.csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    text = csv.get_data().decode("utf-8-sig")
    header, row = text.splitlines()[:2]
    # headed in the reader's words: fixed columns by their labels, questions by their wording
    assert header.startswith("Response ID,Date and time (local),Date,Site code")
    form = svc.form_versions(feedback_pilot.id, Audience.CUSTOMER)[0]
    wording = {q["key"]: q["label_en"] for q in form.questions}
    assert wording["overall"] in header and wording["comment"] in header
    assert header.endswith("Themes") and "overall" not in header.split(",")
    assert "2026-10-02 12:00" in row and "排队太久 [email]" in row and "waiting" in row
    xlsx = client.get(f"/feedback/pilots/{feedback_pilot.id}/export.xlsx")
    book = load_workbook(io.BytesIO(xlsx.get_data()))
    values = list(book.active.values)
    assert values[0][0] == "Response ID" and values[1][3] == site.code
    assert book.active.title == "Data"


def test_cli_import_reports_errors_and_imports(runner, feedback_pilot, tmp_path):
    code = feedback_pilot.assignments[0].site.code
    good = tmp_path / "good.csv"
    good.write_text(f"Store,Q1\n{code},5\n", encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text("Store,Q1\nNOPE,5\n", encoding="utf-8")
    args = ["feedback", "import", "--pilot", str(feedback_pilot.id), "--map", "site_code=Store",
            "--map", "overall=Q1"]  # fmt: skip
    failed = runner.invoke(args=[*args[:2], str(bad), *args[2:]])
    assert failed.exit_code != 0 and "NOPE" in failed.output
    # the customer form also requires ease and recommend
    assert "nothing imported" in failed.output
