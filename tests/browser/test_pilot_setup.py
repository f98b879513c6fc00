"""A change lead imports sites from a file, runs the design wizard and starts a pilot."""

import pytest

from tests.browser.conftest import login

pytestmark = pytest.mark.browser

NEW_SITES = (
    "门店编码,门店名称,区域,规模,员工数,管理评分,数字化准备度,老年顾客占比\n"
    "N901,新店一号,East,大,30,75,80,20%\n"
    "N902,新店二号,East,中,22,66,62,0.25\n"
    "N903,新店三号,North,小,12,58,40,0.4\n"
).encode("gbk")  # the encoding older Chinese Excel writes


def test_change_lead_imports_sites_designs_and_starts_a_pilot(page, live_server):
    login(page, live_server, "lead@demo.rollwise")
    page.wait_for_url(f"{live_server}/")

    # 1. import the new stores from a CSV file: preview first, then import
    page.goto(f"{live_server}/sites/")
    page.get_by_role("link", name="Import sites").click()
    page.set_input_files(
        "input[name=file]",
        files=[{"name": "new-stores.csv", "mimeType": "text/csv", "buffer": NEW_SITES}],
    )
    page.get_by_role("button", name="Upload and preview").click()
    assert "3 new sites" in page.get_by_test_id("import-summary").inner_text()
    assert "新店二号" in page.get_by_test_id("file-head").inner_text()
    page.get_by_test_id("confirm-import").click()
    assert "Sites imported: 3 new" in page.locator(".alert-success").inner_text()
    page.fill("input[name=q]", "N90")
    page.get_by_role("button", name="Filter").click()
    assert page.get_by_test_id("site-table").locator("tbody tr").count() == 3

    # 2. the wizard: describe, metrics, dates
    page.goto(f"{live_server}/")
    page.get_by_role("link", name="New pilot").click()
    page.fill("input[name=name]", "Table-side payment")
    page.fill("textarea[name=hypothesis]", "Paying at the table cuts the wait by 1 minute.")
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_label("Average wait", exact=True).select_option("primary")
    page.get_by_label("Average ticket", exact=True).select_option("guardrail")
    page.get_by_label("Margin of Average ticket").fill("3")
    page.get_by_label("Minimum effect of Average wait").fill("1")
    page.get_by_role("button", name="Save and continue").click()
    page.fill("input[name=pre_start]", "2026-10-26")
    page.fill("input[name=start_date]", "2026-11-23")
    page.fill("input[name=end_date]", "2026-12-20")
    page.get_by_role("button", name="Save and continue").click()

    # 3. sites: propose matched pairs, see a balanced table, swap one site
    page.fill("input[name=n_pilot]", "6")
    page.get_by_role("button", name="Propose sites").click()
    pilot_rows = page.get_by_test_id("pilot-sites").locator("tbody tr")
    assert pilot_rows.count() == 6
    assert page.get_by_test_id("control-sites").locator("tbody tr").count() == 6
    assert page.locator("input[name=n_pilot]").input_value() == "6"
    table = page.get_by_test_id("balance-table")
    assert table.is_visible() and "Average wait before the start" in table.inner_text()
    before = page.get_by_test_id("balance-smd").all_inner_texts()
    assert max(float(x) for x in before) <= 0.25
    assert "Smallest effect detected" in page.get_by_test_id("power").inner_text()
    first_control = page.get_by_test_id("control-sites").locator("tbody tr").first
    code = first_control.locator("a").first.inner_text()
    first_control.get_by_role("button", name="Swap").click()
    assert code in page.get_by_test_id("pilot-sites").inner_text()
    assert page.get_by_test_id("balance-smd").all_inner_texts() != before

    # 4. review and start: the design is frozen
    page.get_by_role("link", name="Continue to review").click()
    assert page.get_by_test_id("blocker").count() == 0
    page.get_by_role("button", name="Start the pilot and freeze its design").click()
    assert page.get_by_test_id("pilot-status").inner_text() == "Running"
    assert page.get_by_test_id("completeness-grid").is_visible()
    assert page.get_by_test_id("chart-avg_wait_min").locator("svg").is_visible()
    page.get_by_role("link", name="Audit log").click()
    audit = page.get_by_test_id("audit-table").inner_text()
    assert "Pilot started" in audit and "pilot.started" not in audit  # words, not codes
