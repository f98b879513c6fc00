"""Importing the site registry: preview, validate every row, atomic upsert by code."""

from sqlalchemy import func, select

from app.core import tables as tabular
from app.extensions import db
from app.models import AuditEvent, Role, Site, SizeTier
from app.sites.site_import import apply_import, plan_import
from tests.conftest import post_file, xlsx_bytes

GOOD = (
    "门店编码,门店名称,区域,规模,员工数,管理评分,数字化准备度,老年顾客占比,开业年份\n"
    "BJ01,朝阳店,North,大,30,82.5,70,35%,2015\n"
    "BJ02,海淀店,North,small,12,61,55,0.2,2019\n"
)


def import_text(text: str, filename="stores.csv", encoding="utf-8"):
    plan = plan_import(tabular.read_upload(text.encode(encoding), filename=filename))
    if plan.ok:
        apply_import(plan, by=None, filename=filename)
        db.session.commit()
    return plan


def n_sites() -> int:
    return db.session.scalar(select(func.count(Site.id)))


def test_a_chinese_store_list_creates_sites_with_every_attribute(app, rctx):
    plan = import_text(GOOD, encoding="gbk")
    assert plan.created == ["BJ01", "BJ02"]
    site = db.session.scalar(select(Site).where(Site.code == "BJ01"))
    assert (site.name, site.region, site.size_tier) == ("朝阳店", "North", SizeTier.LARGE)
    assert site.staff_count == 30 and site.management_score == 82.5
    assert site.senior_share == 0.35  # "35%"
    assert site.attributes == {"开业年份": 2015}  # unmapped columns become free attributes


def test_every_bad_cell_is_reported_by_row_and_column_and_nothing_is_written(app, rctx):
    bad = (
        "code,name,region,管理评分,senior share,staff\n"
        "A1,One,East,80,0.2,10\n"
        "A2,Two,East,abc,0.2,10\n"  # row 3: not a number
        "A3,Three,,70,35,10\n"  # row 4: new site without region; 35 is not a share
        "A1,Again,East,70,0.1,2.5\n"  # row 5: duplicate code, fractional staff
        "A4,Four,East,170,0.1,-1\n"  # row 6: out of range
    )
    plan = import_text(bad)
    found = {(e.row, e.column) for e in plan.errors}
    assert {
        (3, "管理评分"),
        (4, "region"),
        (4, "senior share"),
        (5, "code"),
        (5, "staff"),
        (6, "管理评分"),
        (6, "staff"),
    } <= found
    message = next(e for e in plan.errors if (e.row, e.column) == (3, "管理评分"))
    assert str(message) == "Row 3, column 管理评分: 'abc' is not a number."
    assert n_sites() == 0


def test_importing_the_same_file_again_changes_nothing(app, rctx):
    import_text(GOOD)
    events = db.session.scalar(select(func.count(AuditEvent.id)))
    plan = import_text(GOOD)
    assert plan.unchanged == ["BJ01", "BJ02"] and not plan.created and not plan.updated
    assert db.session.scalar(select(func.count(AuditEvent.id))) == events


def test_a_corrected_file_updates_values_and_audits_what_changed(app, rctx):
    import_text(GOOD)
    plan = import_text(GOOD.replace("82.5", "84"))
    assert plan.updated == ["BJ01"]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "site.imported"))
    assert event.before == {"management_score": 82.5} and event.after == {"management_score": 84.0}


def test_blank_cells_keep_an_existing_sites_values(app, rctx, make_site):
    make_site(code="BJ01", name="Old", region="North", staff_count=9)
    db.session.commit()
    plan = import_text("code,name,staff\nBJ01,,\n")
    assert plan.unchanged == ["BJ01"]
    assert db.session.scalar(select(Site.staff_count).where(Site.code == "BJ01")) == 9


def test_the_web_import_previews_then_imports_an_excel_file(client, auth):
    auth.login(Role.CHANGE_LEAD)
    data = xlsx_bytes([["Store Code", "Store Name", "Area", "Size"], ["X1", "Xuhui", "East", "M"]])
    upload = post_file(client, "/sites/import", data, "stores.xlsx")
    assert upload.status_code == 302
    preview = client.get(upload.headers["Location"])
    page = preview.get_data(as_text=True)
    assert "1 new sites" in page and "Xuhui" in page
    assert n_sites() == 0  # the preview writes nothing
    done = client.post(upload.headers["Location"], data={})
    assert done.status_code == 302
    assert db.session.scalar(select(Site.name).where(Site.code == "X1")) == "Xuhui"


def test_the_preview_lists_errors_and_offers_no_import_button(client, auth):
    auth.login(Role.CHANGE_LEAD)
    upload = post_file(client, "/sites/import", b"code,name,region\nA,,East\n", "s.csv")
    page = client.get(upload.headers["Location"]).get_data(as_text=True)
    assert 'data-testid="import-errors"' in page and "A new site needs a Name" in page
    assert 'data-testid="confirm-import"' not in page
    # forcing the import anyway still writes nothing
    client.post(upload.headers["Location"], data={})
    assert n_sites() == 0


def test_the_preview_lets_the_user_choose_a_column_the_aliases_missed(client, auth):
    auth.login(Role.CHANGE_LEAD)
    upload = post_file(client, "/sites/import", b"shop,label,zone\nZ1,Zed,West\n", "s.csv")
    url = upload.headers["Location"]
    assert "No column for Site code" in client.get(url).get_data(as_text=True)
    mapping = {"map_code": "shop", "map_name": "label", "map_region": "zone"}
    client.post(url, data=mapping)
    assert db.session.scalar(select(Site.region).where(Site.code == "Z1")) == "West"


def test_an_export_imports_back_unchanged(client, auth, make_site, rctx):
    make_site(code="E1", name="东方店", attributes={"opened": 2019})
    auth.login(Role.ANALYST)
    exported = client.get("/sites/export.csv?active=all")
    assert exported.headers["Content-Type"].startswith("text/csv")
    plan = plan_import(tabular.read_upload(exported.data, filename="sites.csv"))
    assert plan.ok and plan.created == [] and plan.updated == [] and "E1" in plan.unchanged


def test_the_registry_filters_and_sorts(client, auth, make_site):
    make_site(code="FLT-A1", name="Alpha", region="East", digital_readiness=80)
    make_site(code="FLT-B2", name="Beta", region="West", digital_readiness=30)
    make_site(code="FLT-C3", name="Gamma", region="East", digital_readiness=50)
    auth.login(Role.CHANGE_LEAD)
    page = client.get("/sites/?region=East&sort=digital_readiness&direction=desc").get_data(
        as_text=True
    )
    assert page.index("FLT-A1") < page.index("FLT-C3") and "FLT-B2" not in page
    page = client.get("/sites/?readiness=low").get_data(as_text=True)
    assert "FLT-B2" in page and "FLT-A1" not in page
    assert "Gamma" in client.get("/sites/?q=gam").get_data(as_text=True)


def test_the_site_page_shows_pilots_and_data_completeness(client, auth, make_pilot):
    pilot = make_pilot()
    site = pilot.assignments[0].site
    auth.login(Role.ANALYST)
    page = client.get(f"/sites/{site.id}").get_data(as_text=True)
    assert pilot.name in page and "No daily data for this site yet" in page


def test_the_cli_imports_a_file_and_refuses_a_bad_one(runner, tmp_path):
    good = tmp_path / "sites.csv"
    good.write_text(GOOD, encoding="utf-8")
    result = runner.invoke(args=["sites", "import", str(good)])
    assert result.exit_code == 0, result.output
    assert "2 new" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("code,name,region\nB1,,\n", encoding="utf-8")
    result = runner.invoke(args=["sites", "import", str(bad)])
    assert result.exit_code != 0 and "Row 2" in result.output
