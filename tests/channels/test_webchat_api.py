"""The web chat API answers bad input politely in Chinese and never reaches Rasa with it."""

from fastapi.testclient import TestClient

from bot.guard import EMPTY_REPLY, NOISE_REPLY
from channels import ui_text
from channels.gateway import app

client = TestClient(app)


def test_empty_and_emoji_messages_get_a_friendly_reply() -> None:
    assert client.post("/api/chat", json={"text": ""}).json()["messages"][0]["text"] == EMPTY_REPLY
    assert client.post("/api/chat", json={"text": "😀😀😀"}).json()["messages"][0]["text"] == NOISE_REPLY


def test_malformed_request_gets_a_chinese_answer() -> None:
    r = client.post("/api/chat", content=b"\x89PNG\x00\x00", headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 422) and r.json()["messages"][0]["text"] == ui_text.BAD_REQUEST
    r = client.post("/api/chat", json={"text": ["not", "a", "string"]})
    assert r.status_code == 422 and r.json()["messages"][0]["text"] == ui_text.BAD_REQUEST


def test_rasa_down_is_explained_not_crashed(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RASA_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    from guide.settings import get_settings

    get_settings.cache_clear()
    try:
        r = client.post("/api/chat", json={"text": "宝宝刚出生要办什么"})
        assert r.status_code == 200 and r.json()["messages"][0]["text"] == ui_text.BOT_UNAVAILABLE
    finally:
        monkeypatch.delenv("RASA_URL")
        get_settings.cache_clear()


def test_any_after_id_is_answered_not_a_server_error() -> None:
    """Found by the fuzzer: "1-" and "²" passed the id check and Redis refused them (a 500)."""
    for after in ("1-", "1", "1-2", "x", "-1", "1--2", "", "9" * 60, "²", "1-²"):
        assert client.get("/api/webchat/messages", params={"after": after}).status_code == 200


def test_a_rating_counts_once_per_episode_and_the_endpoint_is_rate_limited(gateway: str) -> None:
    """Over real HTTP (uvicorn): a page clicking 非常不满意 again and again opens one rectification, not one per click."""
    import httpx

    from channels import ratings, webchat

    page = httpx.Client(base_url=gateway, timeout=20)
    page.get("/")
    sender = webchat.resident_from_cookie(page.cookies.get(webchat.COOKIE))
    assert sender
    ratings.expect(sender, agent="agent2", agent_name="李明", service_id="T138", episode="1")  # an agent just closed
    first = page.post("/api/webchat/rating", json={"level": 1, "comment": "没解决", "context": "agent"})
    assert first.status_code == 200 and first.json()["ok"] and first.json()["rectification"]
    again = page.post("/api/webchat/rating", json={"level": 1, "comment": "再点一次", "context": "agent"})
    assert again.status_code == 200 and again.json() == {**again.json(), "ok": False, "duplicate": True, "rectification": None}
    assert "您已评价过本次人工服务（非常不满意）" in again.json()["text"]
    shown = page.get("/api/webchat/messages", params={"after": "0-0"}).json()["messages"]
    assert shown[-1]["kind"] == "system" and shown[-1]["text"] == again.json()["text"]  # the page shows the polite refusal
    replies = [page.post("/api/webchat/rating", json={"level": 5, "context": "bot"}) for _ in range(45)]
    codes = [r.status_code for r in replies]
    assert set(codes) == {200, 429} and codes.count(200) <= 40  # 45 posts fall in at most two 10-second windows of 20
    assert next(r for r in replies if r.status_code == 429).json() == {"ok": False, "text": ui_text.CHAT_TOO_FAST}
    accepted = [r.json() for r in replies if r.status_code == 200]
    assert sum(1 for r in accepted if r["ok"]) == 1  # one bot rating stored; the rest refused as the same episode
    bad = page.post("/api/webchat/rating", json={"level": 9})
    assert bad.status_code == 422 and bad.json()["messages"][0]["text"] == ui_text.BAD_REQUEST
    assert bad.json()["fields"] == ["body.level"]  # and says which field, for whoever wrote the request
