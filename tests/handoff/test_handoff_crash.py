"""Kill the gateway mid-conversation: the queued conversation and the resident's messages survive in Redis,
a resent message is not doubled, and every message is shown once after the restart."""

from __future__ import annotations

import os
import signal
import uuid
from collections import Counter

import httpx
import pytest
from handoff_helpers import STAFF_PASSWORD, clear_desk

from channels import transcript
from channels.handoff import queues
from channels.handoff.states import State

pytestmark = pytest.mark.slow


def test_a_killed_gateway_loses_and_doubles_nothing(stack: dict) -> None:
    base = stack["base"]
    gateway = next(p for p in stack["procs"] if p.name == "gateway")
    queues.set_desk_mode("open")
    clear_desk(["agent1"])
    agent = httpx.Client(base_url=base, timeout=20)
    agent.post("/login", data={"username": "agent1", "password": STAFF_PASSWORD})
    agent.headers["X-CSRF-Token"] = agent.get("/api/me").json()["csrf"]
    agent.post("/api/workbench/presence", json={"status": "away"})
    resident = httpx.Client(base_url=base, timeout=30)
    asked = resident.post("/api/chat", json={"text": "转人工", "client_id": "c-" + uuid.uuid4().hex[:8]}).json()["messages"]
    assert any("已为您转接人工客服" in m.get("text", "") for m in asked), asked
    token = uuid.uuid4().hex[:6]
    first, second = f"第一条补充 {token}", f"第二条补充 {token}"
    resident.post("/api/chat", json={"text": first, "client_id": f"m1-{token}"})
    resident.post("/api/chat", json={"text": second, "client_id": f"m2-{token}"})

    os.killpg(gateway.proc.pid, signal.SIGKILL)  # no shutdown hooks, no goodbye
    gateway.proc.wait(10)
    gateway.start()
    gateway.wait_ready()

    again = resident.post("/api/chat", json={"text": second, "client_id": f"m2-{token}"})  # the page resends after the error
    assert again.status_code == 200 and again.json()["messages"] == []
    sender = next(s for s in queues.get_redis().zrange(queues.queue_key("guide"), 0, -1)
                  if any(e["text"] == first for e in transcript.last(s, 20)))
    assert queues.conv(sender)["state"] == State.QUEUED  # still waiting, still in its place

    assert agent.post(f"/api/workbench/conversations/{sender}/claim").status_code == 200  # the session survived too
    entries = agent.get(f"/api/workbench/conversations/{sender}").json()["entries"]
    texts = Counter(e["text"] for e in entries if e["role"] == "resident")
    assert texts[first] == 1 and texts[second] == 1
    assert len({e["id"] for e in entries}) == len(entries)
    assert agent.post(f"/api/workbench/conversations/{sender}/reply", json={"text": f"收到 {token}"}).json()["ok"]
    shown = resident.get("/api/webchat/messages", params={"after": "0-0"}).json()["messages"]
    assert [m["text"] for m in shown].count(f"收到 {token}") == 1 and len({m["id"] for m in shown}) == len(shown)
    agent.post(f"/api/workbench/conversations/{sender}/close", json={"category": "已解答"})
    agent.post("/api/workbench/presence", json={"status": "offline"})
    queues.set_desk_mode("")


def test_a_gateway_killed_mid_turn_answers_the_message_when_it_is_resent(stack: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateway dies after claiming a turn (Rasa is stopped, so the turn hangs inside it): the resend
    after the lease lapsed is answered, and the resident's line is shown and stored once."""
    import threading
    import time

    from channels import webchat
    from guide.settings import get_settings

    monkeypatch.setenv("VAR_DIR", str(stack["var"]))  # the gateway's cookie secret, to know the resident's conversation id
    get_settings.cache_clear()
    base = stack["base"]
    gateway = next(p for p in stack["procs"] if p.name == "gateway")
    rasa = next(p for p in stack["procs"] if p.name == "rasa")
    resident = httpx.Client(base_url=base, timeout=60)
    resident.get("/")
    sender = webchat.resident_from_cookie(resident.cookies.get("guide_resident"))
    assert sender
    token = uuid.uuid4().hex[:6]
    cid, text = f"k-{token}", f"宝宝刚出生要办什么 {token}"

    def send() -> None:
        try:
            resident.post("/api/chat", json={"text": text, "client_id": cid})
        except httpx.HTTPError:
            pass  # the gateway died under this request

    os.killpg(rasa.proc.pid, signal.SIGSTOP)  # Rasa stops answering: the turn waits inside the gateway
    try:
        threading.Thread(target=send, daemon=True).start()
        for _ in range(200):
            if any(e["text"] == text for e in transcript.last(sender, 5)):
                break
            time.sleep(0.05)
        assert any(e["text"] == text for e in transcript.last(sender, 5)), "the gateway never started the turn"
        os.killpg(gateway.proc.pid, signal.SIGKILL)  # mid-turn: claimed, shown, stored, not answered
        gateway.proc.wait(10)
    finally:
        os.killpg(rasa.proc.pid, signal.SIGCONT)
    gateway.env = {**gateway.env, "TURN_LEASE_S": "3"}  # the default lease is 30 s; the rule is the same
    gateway.start()
    gateway.wait_ready()
    time.sleep(3.5)  # no heartbeat since the kill: the lease has lapsed
    answers = resident.post("/api/chat", json={"text": text, "client_id": cid}).json()["messages"]
    assert any("新生儿出生一件事" in m.get("text", "") for m in answers), answers
    shown = resident.get("/api/webchat/messages", params={"after": "0-0"}).json()["messages"]
    assert [(m["kind"], m["text"]) for m in shown].count(("me", text)) == 1
    assert [e["text"] for e in transcript.read(sender)].count(text) == 1
    assert resident.post("/api/chat", json={"text": text, "client_id": cid}).json()["messages"] == []  # answered: once
    get_settings.cache_clear()
