"""The editor in Debian's chromium against the real gateway: edit a fee, review, publish, rollback, bad imports.

The gateway is shared with other tests: everything here happens on T148 and T150, and T148 is rolled back.
"""

from __future__ import annotations

import io
import re
import time

import httpx
import pytest
from openpyxl import load_workbook

STAFF_PASSWORD = "demo-pass-2026"  # tests/conftest.py seeds the gateway's demo staff with it

pytestmark = pytest.mark.browser


def login(browser, gateway: str, username: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{gateway}/editor")
    assert "/login" in page.url  # unauthenticated pages send people to the login page
    page.fill("#username", username)
    page.fill("#password", STAFF_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{gateway}/editor")
    return context, page


def wait_for_text(url: str, text: str, seconds: float = 5.0) -> float:
    started = time.time()
    while time.time() - started < seconds:
        if text in httpx.get(url, timeout=5).text:
            return time.time() - started
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not on {url} after {seconds} s")


def open_editor(page, gateway: str, sid: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{gateway}/editor/services/{sid}")
    page.wait_for_selector("#editor[data-ready='1']")


def service_state(page, gateway: str, sid: str) -> dict:  # type: ignore[no-untyped-def]
    return page.context.request.get(f"{gateway}/api/editor/services/{sid}").json()


def test_editor_changes_a_fee_reviewer_publishes_answer_changes_then_rollback(browser, gateway: str) -> None:  # type: ignore[no-untyped-def]
    guide = f"{gateway}/guide/T148"
    assert "1000元/具" in httpx.get(guide).text
    ed_ctx, ed = login(browser, gateway, "editor")
    rv_ctx, rv = login(browser, gateway, "reviewer")
    try:
        # the list filters by domain and finds the service
        ed.select_option("select[name=domain]", "死亡殡葬")
        ed.wait_for_selector("#services a:has-text('殡葬服务一件事')")
        before = service_state(ed, gateway, "T148")
        open_editor(ed, gateway, "T148")
        amount = ed.locator("[data-path='fee.items.0.amount']")
        assert amount.input_value() == "1000"
        # the catalogue's fields are read-only, and the page says why and what to do instead
        assert ed.locator("#f-name").get_attribute("readonly") is not None
        assert "事项目录" in ed.locator("#f-name-why").inner_text()
        assert ed.locator("#f-lead_department").is_disabled() and "联系管理员" in ed.locator("#f-lead_department-why").inner_text()
        assert ed.locator("#f-name").get_attribute("aria-describedby") == "f-name-why"

        # inline validation: a fee of "abc" is named on the field, and saving changes nothing
        amount.fill("abc")
        ed.wait_for_selector(".err-msg[data-for='fee.items.0.amount']:has-text('须为数字')")
        assert "invalid" in (amount.get_attribute("class") or "")
        ed.click("#save")
        ed.wait_for_selector("#flash.error:has-text('未保存')")
        after_bad = service_state(ed, gateway, "T148")
        assert after_bad["open"] is None and after_bad["versions"] == before["versions"]

        # a real edit: validated, previewed as the resident will see it, saved and submitted
        amount.fill("1200")
        ed.wait_for_selector("#status-line:has-text('校验通过')")
        assert ed.locator(".err-msg").count() == 0
        ed.fill("#reason", "2026年殡葬基本服务收费调整")
        ed.click("#preview-btn")
        ed.wait_for_selector("#wechat .bubble:has-text('1200元/具')")
        previews = ed.locator("#wechat h3").all_inner_texts()  # every FAQ and every scenario's material list
        assert any(t.startswith("常见问题：") for t in previews) and any(t.startswith("选择情形") for t in previews)
        assert "1200元/具" in ed.frame_locator("#page-frame").locator("body").inner_text()
        ed.click("#save")
        ed.wait_for_selector("#flash.ok:has-text('草稿')")
        ed.click("#submit")
        ed.wait_for_selector("#flash.ok:has-text('已提交审核')")
        assert "1000元/具" in httpx.get(guide).text  # nothing is live before review

        # the reviewer (not the author) publishes from the review queue
        rv.goto(f"{gateway}/editor/review")
        rv.click("#queue a:has-text('版')")
        assert rv.locator("#diff tr", has_text="金额").inner_text().split("\t")[1:] == ["1000", "1200"]
        with rv.expect_navigation():  # the page reloads itself after publishing; a goto racing it is aborted
            rv.click("#approve")
            rv.wait_for_selector("#flash.ok:has-text('已发布')")

        # the running gateway answers with the new fee without a restart (Redis pub/sub + reload)
        assert wait_for_text(guide, "1200元/具") < 5
        assert "1000元/具" not in httpx.get(guide).text

        # the author cannot approve their own change; history shows it; rollback restores the old fee
        rv.goto(f"{gateway}/editor/services/T148/history")
        log = rv.locator("#log").inner_text()
        assert "审核通过并发布" in log and "提交审核" in log and "保存草稿" in log
        rv.once("dialog", lambda d: d.accept())
        rv.locator(f"#versions tr[data-version='{before['published_version']}'] button.rollback").click()
        rv.wait_for_selector("#flash.ok:has-text('已回滚')")
        wait_for_text(guide, "1000元/具")
        assert service_state(rv, gateway, "T148")["published"] == before["published"]
    finally:
        ed_ctx.close()
        rv_ctx.close()


def test_an_author_cannot_publish_and_a_bad_excel_import_changes_nothing(browser, gateway: str) -> None:  # type: ignore[no-untyped-def]
    ctx, page = login(browser, gateway, "reviewer")
    try:
        before = service_state(page, gateway, "T150")
        data = page.context.request.get(f"{gateway}/api/editor/export.xlsx?ids=T150").body()
        wb = load_workbook(io.BytesIO(data))
        ws = wb["事项"]
        col = [c.value for c in ws[1]].index("到现场次数") + 1
        ws.cell(row=2, column=col, value="abc")
        buf = io.BytesIO()
        wb.save(buf)
        page.goto(f"{gateway}/editor/import")
        page.set_input_files("#file", files=[{"name": "T150.xlsx", "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "buffer": buf.getvalue()}])
        page.click("#import-form button[type=submit]")
        page.wait_for_selector("#flash.error:has-text('没有做任何修改')")
        problems = page.locator("#result").inner_text()
        assert re.search(r"工作表「事项」第2行 [A-Z]+列（到现场次数）：须为数字，而不是“abc”", problems)
        assert service_state(page, gateway, "T150") == before

        # the same workbook with a real change becomes a change awaiting review; its author cannot publish it
        ws.cell(row=2, column=col, value=before["published"]["visits"] + 1)
        buf = io.BytesIO()
        wb.save(buf)
        page.set_input_files("#file", files=[{"name": "T150.xlsx", "mimeType": "application/octet-stream", "buffer": buf.getvalue()}])
        page.click("#import-form button[type=submit]")
        page.wait_for_selector("#flash.ok:has-text('已提交审核')")
        page.click("#result a")
        assert page.locator("#review-actions").inner_text().startswith("这是您参与编写的修改")
        assert page.locator("#approve").count() == 0
        forged = page.evaluate("""async () => (await fetch(location.pathname.replace('/editor/', '/api/editor/') + '/approve',
            {method: 'POST', headers: {'X-CSRF-Token': CSRF}})).status""")
        assert forged == 409
        page.click("#withdraw")
        page.wait_for_url(f"{gateway}/editor/services/T150")
        page.wait_for_selector("#editor[data-ready='1']")
        # leave the shared gateway as found: the withdrawn change is rejected by another reviewer
        state = service_state(page, gateway, "T150")
        version = state["open"]["version"]
        page.click("#submit")
        page.wait_for_selector("#flash.ok:has-text('已提交审核')")
        admin_ctx, admin = login(browser, gateway, "admin")
        try:
            admin.goto(f"{gateway}/editor/services/T150/versions/{version}")
            admin.fill("#reject-reason", "仅用于导入测试")
            admin.click("#reject")
            admin.wait_for_selector("#flash.ok:has-text('已退回')")
        finally:
            admin_ctx.close()
        after = service_state(page, gateway, "T150")
        assert after["open"] is None and after["published"] == before["published"]
    finally:
        ctx.close()


def test_hit_test_says_clearly_when_the_bot_is_not_running(browser, gateway: str) -> None:  # type: ignore[no-untyped-def]
    from guide.settings import get_settings

    try:
        httpx.get(f"{get_settings().rasa_base}/status", timeout=1)
        pytest.skip("a Rasa server is running: tests/editor/test_editor_hit_test.py covers the answer")
    except httpx.HTTPError:
        pass
    ctx, page = login(browser, gateway, "editor")
    try:
        page.goto(f"{gateway}/editor/hit-test")
        page.fill("#q", "殡仪馆火化费用多少钱")
        page.click("#hit-form button")
        page.wait_for_selector("#hit-result .err-msg:has-text('无法连接 Rasa 服务')")
    finally:
        ctx.close()
