"""``GET /api/v1/sites`` a page at a time: a chain's thousands of sites never come in one
response, following ``next`` visits every active site once, and bad paging is a 400."""

import pytest

from app.extensions import db


@pytest.fixture
def headers(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def seven_sites(make_site, token):
    """A1 and B2 (from ``token``) and five more; one inactive site that is never listed."""
    for code in ("C3", "D4", "E5", "F6", "G7"):
        make_site(code=code)
    make_site(code="Z9").is_active = False
    db.session.commit()


def test_following_next_lists_every_active_site_once_in_code_order(client, headers, seven_sites):
    seen, pages, url = [], [], "/api/v1/sites?per_page=3"
    while url:
        response = client.get(url, headers=headers)
        assert response.status_code == 200
        body = response.get_json()
        pages.append((body["page"], len(body["sites"]), body["total"]))
        seen += [s["code"] for s in body["sites"]]
        url = body["next"]
        if url:
            assert response.headers["Link"] == f'<{url}>; rel="next"'
        else:
            assert "Link" not in response.headers
    assert seen == ["A1", "B2", "C3", "D4", "E5", "F6", "G7"]
    assert pages == [(1, 3, 7), (2, 3, 7), (3, 1, 7)]


def test_by_default_a_page_holds_500_sites(client, headers, make_site):
    for i in range(501):
        make_site(code=f"S{i:04d}")
    db.session.commit()
    body = client.get("/api/v1/sites", headers=headers).get_json()
    assert (len(body["sites"]), body["per_page"], body["total"]) == (500, 500, 503)
    last = client.get(body["next"], headers=headers).get_json()
    assert [s["code"] for s in last["sites"]] == ["S0498", "S0499", "S0500"]
    assert last["next"] is None


def test_a_page_past_the_end_is_empty(client, headers, seven_sites):
    body = client.get("/api/v1/sites?page=9&per_page=3", headers=headers).get_json()
    assert (body["sites"], body["next"], body["total"]) == ([], None, 7)


@pytest.mark.parametrize(
    "query, field",
    [
        ("per_page=0", "per_page"),
        ("per_page=1001", "per_page"),
        ("per_page=ten", "per_page"),
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=1.5", "page"),
        ("pgae=2", "pgae"),
    ],
)
def test_bad_paging_is_a_400_naming_the_parameter(client, headers, query, field):
    response = client.get(f"/api/v1/sites?{query}", headers=headers)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "bad_request"
    assert set(error["fields"]) == {field}
