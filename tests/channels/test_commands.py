"""Exact control phrases ("转人工") are handled by the gateway before NLU, with the service the bot was discussing."""

from __future__ import annotations

import json

import httpx
import pytest

from channels import commands, ui_text


@pytest.mark.parametrize("text", ["转人工", "转人工！", " 人工客服 ", "找客服。", "/ask_human", "我要转人工", "人工"])
def test_whole_message_requests_for_a_person_are_recognised(text: str) -> None:
    assert commands.asks_for_person(text)


@pytest.mark.parametrize("text", ["转人工问一下户口怎么迁", "人工智能是什么", "客服电话是多少", "", "宝宝刚出生要办什么"])
def test_questions_that_mention_a_person_still_go_to_the_bot(text: str) -> None:
    assert not commands.asks_for_person(text)


def test_current_service_reads_the_latest_service_slot_and_respects_a_restart() -> None:
    from guide.redis import get_redis

    r = get_redis()
    key = commands.TRACKER_KEY.format(sender="web-cmd-test")

    def slot(value: str) -> dict:
        return {"event": "slot", "name": "service", "value": value}

    try:
        r.set(key, json.dumps({"events": [slot("T001"), {"event": "user", "text": "x"}, slot("T007")]}))
        assert commands.current_service("web-cmd-test") == "T007"
        r.set(key, json.dumps({"events": [slot("T001"), {"event": "restart"}]}))
        assert commands.current_service("web-cmd-test") == ""
        r.set(key, "{not json")
        assert commands.current_service("web-cmd-test") == ""
        assert commands.current_service("web-cmd-nobody") == ""
    finally:
        r.delete(key)


def test_a_resident_asking_for_a_person_reaches_the_handoff_with_the_bots_service(stack: dict) -> None:
    """Through the real stack: the bot settles on 新生儿出生一件事, then "转人工" is handled by the gateway."""
    from itsdangerous import URLSafeSerializer

    from channels.handoff import queues

    with httpx.Client(base_url=stack["base"], timeout=60) as c:
        first = c.post("/api/chat", json={"text": "宝宝刚出生要办什么"}).json()["messages"]
        assert any("新生儿出生一件事" in m["text"] for m in first)
        asked = c.post("/api/chat", json={"text": "转人工！"}).json()["messages"]
        secret = (stack["var"] / "secret_key").read_text().strip()  # the stack's own signing key
        sender = URLSafeSerializer(secret, salt="webchat-resident").loads(c.cookies.get("guide_resident"))
    assert sender
    assert asked[0]["text"] == ui_text.HANDOFF_ASKED and len(asked) >= 2  # then the queue or message offer
    conv = queues.conv(sender)
    assert conv["state"] in ("queued", "with_agent", "message") and conv["service"] == "T001"
    tracker = httpx.get(f"{stack['rasa']}/conversations/{sender}/tracker").json()
    said = [e.get("text") for e in tracker["events"] if e.get("event") == "user"]
    assert said == ["宝宝刚出生要办什么"]  # the bot never saw "转人工": no NLU round trip was needed
