"""命中测试 against a real Rasa server: the editor sees production's routing and the bot's answer, which changes
with a publish and a rollback, without retraining or restarting anything.

Runs on the session's whole stack (tests/conftest.py ``stack``: gateway, Rasa with the test model, action server).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
STAFF_PASSWORD = "demo-pass-2026"  # tests/conftest.py seeds the gateway's demo staff with it
QUESTION = "殡仪馆火化费用多少钱"


@pytest.fixture()
def gateway(stack: dict) -> str:
    """The whole stack's gateway (its hit test calls the stack's Rasa server)."""
    return str(stack["base"])


@pytest.fixture()
def rasa(stack: dict) -> str:
    return str(stack["rasa"])


def hit(page, gateway: str) -> str:  # type: ignore[no-untyped-def]
    page.goto(f"{gateway}/editor/hit-test")
    page.fill("#q", QUESTION)
    page.click("#hit-form button")
    page.wait_for_selector("#answer .bubble, #hit-result .err-msg")
    assert page.locator("#hit-result .err-msg").count() == 0, page.locator("#hit-result").inner_text()
    return str(page.locator("#hit-result").inner_text())


def api(page, method: str, url: str, body: dict | None = None) -> dict:  # type: ignore[no-untyped-def]
    return dict(page.evaluate("([m, u, b]) => api(m, u, b === null ? undefined : b)", [method, url, body]))


def test_hit_test_shows_production_routing_and_the_answer_follows_publish_and_rollback(browser, gateway: str, rasa: str) -> None:  # type: ignore[no-untyped-def]
    contexts = []

    def login(username: str):  # type: ignore[no-untyped-def]
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(ctx)
        page = ctx.new_page()
        page.goto(f"{gateway}/login?next=/editor/hit-test")
        page.fill("#username", username)
        page.fill("#password", STAFF_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{gateway}/editor/hit-test")
        return page

    try:
        ed, rv = login("editor"), login("reviewer")
        shown = hit(ed, gateway)
        assert "决策：直接路由到事项" in shown and "T148 殡葬服务一件事" in ed.locator("#ranking tbody tr").first.inner_text()
        assert ed.locator("#ranking tbody tr").count() == 5
        route = httpx.post(f"{rasa}/model/parse", json={"text": QUESTION}).json()
        assert f"意图：{route['intent']['name']}" in shown
        assert "1000元/具" in shown

        before = api(ed, "GET", "/api/editor/services/T148")
        doc = before["published"]
        doc["fee"]["items"][0]["amount"] = 1200
        saved = api(ed, "PUT", "/api/editor/services/T148/draft", {"document": doc, "reason": "命中测试：调价"})
        api(ed, "POST", f"/api/editor/services/T148/versions/{saved['version']}/submit", {})
        api(rv, "POST", f"/api/editor/services/T148/versions/{saved['version']}/approve", {})
        assert "1200元/具" in hit(ed, gateway)

        api(rv, "POST", "/api/editor/services/T148/rollback", {"version": before["published_version"], "reason": "测试结束"})
        assert "1000元/具" in hit(ed, gateway)
    finally:
        for ctx in contexts:
            ctx.close()
