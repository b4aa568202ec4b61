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
