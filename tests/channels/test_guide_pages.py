"""Guide pages: every element, a flow chart from the data, a QR code that decodes to the page, a friendly 404."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from channels.gateway import app
from channels.guide_pages import PageCache, render_service
from knowledge.base import current
from knowledge.elements import ELEMENTS
from knowledge.flowchart import flowchart_svg, levels


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(app)


def test_every_service_page_has_all_elements_and_a_flow_chart(client: TestClient) -> None:
    kb = current()
    for svc in kb.ordered():
        r = client.get(f"/guide/{svc.id}")
        assert r.status_code == 200
        for name in ELEMENTS:
            assert f">{name}</dt>" in r.text, (svc.id, name)
        assert "<svg" in r.text and f"{svc.name}办理流程图" in r.text


def test_flow_chart_rows_follow_the_after_order() -> None:
    svc = current().service("T001")
    rows = [[i.name for i in row] for row in levels(svc.single_items)]
    assert "出生医学证明签发" in rows[0] and "出生户口登记" in rows[1] and "社会保障卡申领" in rows[2]
    svg = flowchart_svg(svc)
    assert svg.count("<rect") == len(svc.process) + len(svc.single_items)


def test_unknown_service_gets_a_friendly_404_with_search(client: TestClient) -> None:
    r = client.get("/guide/T999")
    assert r.status_code == 404 and "没有找到这个事项" in r.text and 'role="search"' in r.text


def test_index_groups_by_audience_and_searches(client: TestClient) -> None:
    r = client.get("/guide")
    assert "个人事项" in r.text and "企业事项" in r.text
    assert "新生儿出生一件事" in client.get("/guide", params={"q": "孩子刚出生上户口"}).text


def test_cache_is_dropped_when_the_knowledge_base_changes() -> None:
    kb = current()
    cache = PageCache()
    first = cache.get(kb, "T001", lambda: render_service(kb, "T001"))
    assert cache.get(kb, "T001", lambda: "never rendered") == first
    changed = kb.__class__(kb.profile, kb.materials, dict(kb.services), kb.base_url)
    assert cache.get(changed, "T001", lambda: "re-rendered") == "re-rendered"


@pytest.mark.browser
def test_phone_page_scenario_switch_flow_chart_and_qr(browser, gateway: str) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{gateway}/guide/T001")
    row = page.locator("#materials tbody tr", has_text="外省市户籍一方的居民户口簿")
    assert row.is_visible()
    page.get_by_label("父母双方均为本市户籍").check()
    assert row.is_hidden()
    page.get_by_label("父母一方为外省市户籍").check()
    assert row.is_visible()
    flow = page.locator(".flow svg")
    flow.scroll_into_view_if_needed()
    assert flow.is_visible() and flow.bounding_box()["width"] <= 390
    png = page.locator("#qr svg").screenshot()
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    img = cv2.copyMakeBorder(img, 20, 20, 20, 20, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(img)
    assert text == f"{gateway}/guide/T001"
    page.goto(f"{gateway}/guide/NOPE")
    assert "没有找到这个事项" in page.content()
    page.close()
