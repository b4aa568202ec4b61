"""Knowledge gaps and the dashboard over the HTTP API (in-process app, the session's database and Redis)."""

from __future__ import annotations

import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from channels.auth import create_user
from channels.auth import router as auth_router
from channels.editor import editor_router
from guide import analytics

app = FastAPI()  # the editor's routes and sign-in only, as the gateway mounts them
app.include_router(auth_router)
app.include_router(editor_router)


@pytest.fixture()
def client() -> TestClient:
    name = f"ed{uuid.uuid4().hex[:8]}"
    create_user(name, "correct-horse", ["editor"], "测试编辑")
    c = TestClient(app)
    c.post("/login", data={"username": name, "password": "correct-horse"})
    c.headers["X-CSRF-Token"] = c.get("/api/me").json()["csrf"]
    return c


def test_gaps_group_similar_questions_and_skip_covered_or_happy_ones(client: TestClient) -> None:
    tag = uuid.uuid4().hex[:4]
    analytics.record("fallback", text=f"家里的狗狗要办狗证怎么弄{tag}")
    analytics.record("out_of_scope", text=f"狗狗办狗证怎么弄{tag}")
    analytics.record("handoff", text=f"家里的狗狗办狗证去哪里{tag}")
    analytics.record("rating", text=f"回答很清楚谢谢{tag}", score=5)
    analytics.record("rating", text=f"排队两个小时也没办成{tag}", score=1)
    analytics.record("fallback", text="殡仪馆接遗体")  # already an alias of T148
    groups = client.get("/api/editor/gaps", params={"days": 1}).json()["groups"]
    texts = [g["text"] for g in groups]
    dog = next(g for g in groups if tag in g["text"] and "狗" in g["text"])
    assert dog["count"] == 3 and set(dog["kinds"]) == {"未能理解", "超出范围", "转人工"}
    assert any(f"排队两个小时也没办成{tag}" == t for t in texts)
    assert not any("回答很清楚" in t for t in texts) and "殡仪馆接遗体" not in texts
    assert "家里的狗狗" in client.get("/editor/gaps", params={"days": 1}).text


def test_adopting_a_gap_makes_a_draft_that_goes_through_review(client: TestClient) -> None:
    refused = client.post("/api/editor/gaps/adopt", json={"service_id": "T150", "text": "老人走了户口怎么销掉", "as": "faq", "answer": "去派出所"})
    assert refused.status_code == 422 and refused.json()["problems"][0]["label"].startswith("常见问题")
    made = client.post("/api/editor/gaps/adopt", json={"service_id": "T150", "text": "老人走了户口销掉", "as": "alias"}).json()
    state = client.get("/api/editor/services/T150").json()
    assert state["open"]["version"] == made["version"] and state["open"]["state"] == "draft"
    assert state["open"]["document"]["aliases"][-1] == "老人走了户口销掉"
    assert "老人走了户口销掉" not in state["published"]["aliases"]


def test_dashboard_counts_rates_and_svg_charts(client: TestClient) -> None:
    before = client.get("/api/editor/dashboard", params={"days": 1}).json()
    analytics.record("routed", service_id="T148", text="殡仪馆接遗体")
    analytics.record("routed", service_id="T148", text="预约火化")
    analytics.record("fallback", text="今天天气怎么样")
    analytics.record("handoff", text="转人工")
    analytics.record("prereview_defect", service_id="T001", code="ID_EXPIRED")
    after = client.get("/api/editor/dashboard", params={"days": 1}).json()
    assert after["questions"] == before["questions"] + 3
    assert dict(after["defects"]).get("ID_EXPIRED", 0) == dict(before["defects"]).get("ID_EXPIRED", 0) + 1
    assert 0 < after["fallback_rate"] <= 1 and 0 < after["handoff_rate"] <= 1
    page = client.get("/editor/dashboard").text
    assert page.count("<svg") >= 2 and "被问最多的事项" in page and "殡葬服务一件事" in page and "ID_EXPIRED" in page
    assert "cdn" not in page.lower() and "https://" not in page
