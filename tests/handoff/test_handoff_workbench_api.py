"""The workbench over real HTTP (the whole stack under uvicorn, db 14): login, CSRF, access rules, live feed, actions."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from typing import Dict, Iterator, List

import httpx
import pytest
from handoff_helpers import STAFF_PASSWORD, clear_desk, outbox

from channels.handoff import queues, service
from channels.handoff.states import State


def login(base: str, username: str) -> httpx.Client:
    c = httpx.Client(base_url=base, timeout=10)
    r = c.post("/login", data={"username": username, "password": STAFF_PASSWORD, "next": "/workbench"})
    assert r.status_code == 303, r.text
    c.headers["X-CSRF-Token"] = c.get("/api/me").json()["csrf"]
    return c


@pytest.fixture()
def desk(stack: dict) -> Iterator[Dict[str, httpx.Client]]:
    import channels.webchat  # noqa: F401 - the web pusher, so this process can tell residents too

    queues.set_desk_mode("open")
    team = {u: login(stack["base"], u) for u in ("agent1", "agent2", "expert1", "supervisor")}
    clear_desk(list(team))  # start from an empty desk even if an earlier run was interrupted
    yield team
    for c in team.values():
        c.post("/api/workbench/presence", json={"status": "offline"})
        c.close()
    queues.set_desk_mode("")


def sid() -> str:
    return "web-" + uuid.uuid4().hex[:12]


def test_pages_need_a_login_and_changes_need_the_csrf_token(stack: dict) -> None:
    gateway = stack["base"]
    r = httpx.get(gateway + "/workbench", headers={"accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert httpx.get(gateway + "/api/workbench/state").status_code == 401
    c = login(gateway, "agent1")
    token = c.headers.pop("X-CSRF-Token")
    assert c.post("/api/workbench/presence", json={"status": "away"}).status_code == 403
    c.headers["X-CSRF-Token"] = token
    assert c.post("/api/workbench/presence", json={"status": "away"}).status_code == 200
    assert "坐席工作台" in c.get("/workbench").text
    assert c.get("/api/workbench/overview").status_code == 403  # supervisors only
    assert c.get("/supervisor").status_code == 403
    editor = httpx.Client(base_url=gateway)
    editor.post("/login", data={"username": "editor", "password": STAFF_PASSWORD})
    assert editor.get("/api/workbench/state").status_code == 403
    c.post("/api/workbench/presence", json={"status": "offline"})


async def _events_until_claim(base: str, cookies: httpx.Cookies, sender: str, started: asyncio.Event) -> List[Dict]:
    """The agent's live feed as the page reads it: events about ``sender`` up to its claim, with arrival times."""
    seen: List[Dict] = []
    async with httpx.AsyncClient(base_url=base, cookies=cookies, timeout=15) as client:
        async with client.stream("GET", "/api/workbench/feed") as stream:
            async for line in stream.aiter_lines():
                if line.startswith("event: hello"):
                    started.set()
                if line.startswith("data:") and sender in line:
                    seen.append({**json.loads(line[5:]), "seen_at": time.time()})
                    if seen[-1]["type"] == "claim":
                        return seen
    return seen


async def test_assignment_reaches_the_agents_screen_live_and_replies_reach_the_resident(stack: dict, desk) -> None:  # type: ignore[no-untyped-def]
    gateway = stack["base"]
    a1 = desk["agent1"]
    assert a1.post("/api/workbench/presence", json={"status": "online"}).json()["ok"]
    sender = sid()
    started = asyncio.Event()
    watcher = asyncio.create_task(_events_until_claim(gateway, a1.cookies, sender, started))
    await asyncio.wait_for(started.wait(), 10)
    asked = time.time()
    shown = await service.request(sender, "web", "asked", service_id="T001")
    events = await asyncio.wait_for(watcher, 10)
    assert [e["type"] for e in events] == ["request", "claim"]  # the queue saw it, then it was assigned
    claim = events[-1]
    assert claim["agent"] == "agent1" and claim["by"] == "dispatch"
    assert claim["seen_at"] - asked < 1.0
    scrape = httpx.get(gateway + "/metrics").text  # the gateway measured the same delivery for operators
    assert re.search(r'guide_workbench_feed_delay_seconds_count\{type="claim"\} [1-9]', scrape), scrape[-2000:]
    # the resident is told either way: in this call's answer, or pushed to their chat when the gateway's own
    # dispatcher tick (another process) won the claim first
    told = [m["text"] for m in shown] + [m.get("text", "") for m in outbox(sender)]
    assert any("王晓敏已接入" in t for t in told), told

    state = a1.get("/api/workbench/state").json()
    assert [c["sender"] for c in state["mine"]] == [sender] and state["me"]["load"] == 1, state["mine"]
    view = a1.get(f"/api/workbench/conversations/{sender}").json()
    assert view["full"] and view["summary"]["service_name"] == "新生儿出生一件事"
    assert any(e["role"] == "system" and "已接入" in e["text"] for e in view["entries"])
    assert desk["agent2"].get(f"/api/workbench/conversations/{sender}").status_code == 404  # not theirs

    r = a1.post(f"/api/workbench/conversations/{sender}/reply", json={"text": "您好，我是王晓敏，请问孩子出生多久了？"})
    assert r.json()["ok"]
    assert outbox(sender)[-1] == {**outbox(sender)[-1], "kind": "agent", "text": "您好，我是王晓敏，请问孩子出生多久了？"}
    assert desk["agent2"].post(f"/api/workbench/conversations/{sender}/reply", json={"text": "插话"}).status_code == 403

    close = a1.post(f"/api/workbench/conversations/{sender}/close", json={"category": "已解答", "summary": "告知了出生医学证明"})
    assert close.json()["state"] == State.CLOSED
    assert outbox(sender)[-1]["kind"] == "rating"


def test_queue_claim_is_exclusive_and_lists_are_masked(desk) -> None:  # type: ignore[no-untyped-def]
    a1, a2 = desk["agent1"], desk["agent2"]
    a1.post("/api/workbench/presence", json={"status": "away"})
    a2.post("/api/workbench/presence", json={"status": "away"})
    sender = sid()
    from channels import transcript

    transcript.append(sender, "resident", "我叫张三，身份证110101199003071234，电话13912345678，想问落户")
    asyncio.run(service.request(sender, "web", "asked"))
    queue = a2.get("/api/workbench/state").json()["queue"]
    row = next(q for q in queue if q["sender"] == sender)
    assert "110101********1234" in row["preview"] and "139****5678" in row["preview"] and "13912345678" not in json.dumps(queue)
    peek = a2.get(f"/api/workbench/conversations/{sender}").json()
    assert not peek["full"] and "13912345678" not in json.dumps(peek, ensure_ascii=False)
    assert a1.post(f"/api/workbench/conversations/{sender}/claim").status_code == 200
    lost = a2.post(f"/api/workbench/conversations/{sender}/claim")  # a2 clicked 接入 a moment too late
    assert lost.status_code == 409 and lost.json()["detail"] == "该会话已被接入或已结束（当前：人工服务中）"
    assert a2.post(f"/api/workbench/conversations/{sid()}/claim").status_code == 404  # no such conversation
    mine = a1.get(f"/api/workbench/conversations/{sender}").json()
    assert mine["full"] and "13912345678" in json.dumps(mine, ensure_ascii=False)
    a1.post(f"/api/workbench/conversations/{sender}/close", json={"category": "其他"})


def test_knowledge_quick_inserts_and_canned_replies(desk) -> None:  # type: ignore[no-untyped-def]
    a1 = desk["agent1"]
    found = a1.get("/api/workbench/knowledge", params={"q": "新生儿出生"}).json()["services"]
    assert found[0]["id"] == "T001"
    guide = a1.get("/api/workbench/knowledge", params={"service_id": "T001"}).json()
    names = [e["name"] for e in guide["elements"]]
    assert "申请材料" in names or any("材料" in n for n in names)
    assert len(guide["faqs"]) >= 3 and guide["url"].endswith("/guide/T001")
    assert "常用语" in a1.get("/workbench").text


def test_wechat_window_and_quota_are_shown(stack: dict, desk) -> None:  # type: ignore[no-untyped-def]
    a1 = desk["agent1"]
    a1.post("/api/workbench/presence", json={"status": "online"})
    sender = "wx-" + uuid.uuid4().hex[:16]
    shown = asyncio.run(service.request(sender, "wechat", "asked"))
    assert queues.conv(sender)["agent"] == "agent1"
    if not any("已接入" in m["text"] for m in shown):
        # the gateway's dispatcher tick won the claim: its 客服 message spends quota; let it land before we set the quota
        deadline = time.time() + 10
        while time.time() < deadline and not any(
                "已接入" in (m.get("text") or {}).get("content", "") for m in httpx.get(stack["wechat_api"] + "/fake/sent", params={"touser": sender[3:]}).json()["sent"]):
            time.sleep(0.1)
    view = a1.get(f"/api/workbench/conversations/{sender}").json()
    assert view["summary"]["wechat"] == {"window": "—", "quota": "—"}
    r = queues.get_redis()
    r.set(f"guide:wechat:window:{sender}", time.time() - 3600)
    r.set(f"guide:wechat:quota:{sender}", 3)
    view = a1.get(f"/api/workbench/conversations/{sender}").json()
    assert view["summary"]["wechat"]["window"].startswith("剩余 46 小时") and view["summary"]["wechat"]["quota"] == "3"
    r.set(f"guide:wechat:window:{sender}", time.time() - 49 * 3600)
    view = a1.get(f"/api/workbench/conversations/{sender}").json()
    assert "已超出48小时会话窗口" in view["summary"]["wechat"]["window"]
    a1.post(f"/api/workbench/conversations/{sender}/close", json={"category": "已解答"})


def test_work_orders_follow_the_hotline_flow_and_the_reply_reaches_the_resident(desk) -> None:  # type: ignore[no-untyped-def]
    a1 = desk["agent1"]
    a1.post("/api/workbench/presence", json={"status": "online"})
    sender = sid()
    asyncio.run(service.request(sender, "web", "asked", service_id="T001"))
    made = a1.post(f"/api/workbench/conversations/{sender}/workorder",
                   json={"content": "居民反映出生医学证明遗失，需补办后落户", "phone": "13800138000"}).json()
    number = made["number"]
    assert number.startswith("GD") and number in outbox(sender)[-1]["text"]
    listed = a1.get("/api/workbench/workorders").json()["orders"]
    row = next(o for o in listed if o["number"] == number)
    assert row["stage"] == "受理" and row["phone"] == "138****8000"
    skip = a1.post(f"/api/workbench/workorders/{number}/advance", json={"note": "无承办单位"})
    assert skip.status_code == 409 and "承办单位" in skip.json()["detail"]
    assert a1.post(f"/api/workbench/workorders/{number}/advance", json={"department": "区卫生健康委"}).json()["order"]["stage"] == "派单"
    assert a1.post(f"/api/workbench/workorders/{number}/advance", json={"note": "已联系医院"}).json()["order"]["stage"] == "办理"
    done = a1.post(f"/api/workbench/workorders/{number}/advance", json={"reply": "可到出生医院补办出生医学证明，之后网上申请落户。"}).json()
    assert done["order"]["stage"] == "答复" and done["delivery"]["ok"]
    assert outbox(sender)[-1]["text"].startswith(f"您的12345工单 {number} 已答复")
    a1.post(f"/api/workbench/conversations/{sender}/close", json={"category": "已转12345工单"})


def test_supervisor_sees_queues_loads_and_takes_over_a_bot_conversation(desk) -> None:  # type: ignore[no-untyped-def]
    sup = desk["supervisor"]
    a1 = desk["agent1"]
    a1.post("/api/workbench/presence", json={"status": "away"})
    from channels import transcript

    queued, bot_only = sid(), sid()
    asyncio.run(service.request(queued, "web", "asked"))
    transcript.append(bot_only, "resident", "灵活就业怎么交社保")
    service.person_serving(bot_only)  # what the hub does on every message: the monitor sees the conversation
    over = sup.get("/api/workbench/overview").json()
    guide = next(t for t in over["tiers"] if t["tier"] == "guide")
    assert guide["length"] >= 1 and guide["longest_wait_s"] >= 0
    assert any(a["username"] == "agent1" and a["status"] == "away" for a in over["agents"])
    live = {c["sender"]: c for c in over["live"]}
    assert live[queued]["state"] == State.QUEUED and live[bot_only]["state"] == State.BOT
    assert sup.post(f"/api/workbench/takeover/{bot_only}").json()["state"] == State.WITH_AGENT
    assert "张华已加入对话" in outbox(bot_only)[-1]["text"]
    assert sup.post("/api/workbench/desk", json={"mode": "closed"}).json()["open"] is False
    assert sup.post("/api/workbench/desk", json={"mode": "open"}).json()["open"] is True
    sup.post(f"/api/workbench/conversations/{bot_only}/close", json={"category": "已解答"})
    a1.post(f"/api/workbench/conversations/{queued}/claim")
    a1.post(f"/api/workbench/conversations/{queued}/close", json={"category": "其他"})


@pytest.fixture()
def stack_db(stack: dict, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """This process reads the gateway's database (its audit trail)."""
    from guide.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", stack["env"]["DATABASE_URL"])
    get_settings.cache_clear()
    yield stack["env"]["DATABASE_URL"]
    get_settings.cache_clear()


def _views(actor: str, action: str) -> int:
    from channels.audit import trail

    return sum(1 for row in trail(limit=2000) if row["actor"] == actor and row["action"] == action)


def test_list_views_are_audited_once_per_page_load_not_per_poll(desk, stack_db) -> None:  # type: ignore[no-untyped-def]
    a1, sup = desk["agent1"], desk["supervisor"]
    calls = [(a1, "agent1", "/api/workbench/state", "workbench.state.view"),
             (a1, "agent1", "/api/workbench/workorders", "workorders.list.view"),
             (sup, "supervisor", "/api/workbench/overview", "supervisor.overview.view"),
             (sup, "supervisor", "/api/workbench/rectifications", "rectifications.list.view")]
    for client, who, path, action in calls:
        before = _views(who, action)
        assert client.get(path, params={"load": "1"}).status_code == 200  # the page loads
        for _ in range(3):
            assert client.get(path).status_code == 200  # … and polls
        assert _views(who, action) == before + 1, action
        client.get(path, params={"load": "1"})  # loaded again (a reload, a second tab)
        assert _views(who, action) == before + 2, action


def test_a_supervisor_writes_to_a_served_resident_only_after_taking_over_with_a_reason(desk, stack_db) -> None:  # type: ignore[no-untyped-def]
    a1, sup = desk["agent1"], desk["supervisor"]
    a1.post("/api/workbench/presence", json={"status": "online"})
    sender = sid()
    asyncio.run(service.request(sender, "web", "asked"))
    assert queues.conv(sender)["agent"] == "agent1"
    cut_in = sup.post(f"/api/workbench/conversations/{sender}/reply", json={"text": "我是值班长"})
    assert cut_in.status_code == 403 and "请先接管" in cut_in.json()["detail"]
    no_reason = sup.post(f"/api/workbench/takeover/{sender}", json={})
    assert no_reason.status_code == 409 and no_reason.json()["detail"] == "接管正在服务中的会话须填写原因"
    assert sup.post(f"/api/workbench/takeover/{sender}", json={"reason": "居民情绪激动，值班长处理"}).json()["state"] == State.WITH_AGENT
    assert queues.conv(sender)["agent"] == "supervisor" and a1.get("/api/workbench/state").json()["mine"] == []
    assert sup.post(f"/api/workbench/conversations/{sender}/reply", json={"text": "您好，我是值班长张华"}).json()["ok"]
    taken = a1.post(f"/api/workbench/conversations/{sender}/reply", json={"text": "插话"})
    assert taken.status_code == 403 and taken.json()["detail"] == "该会话不由您接待"  # not theirs any more
    from channels.audit import trail

    rows = {row["action"]: row for row in trail(sender)}
    assert rows["handoff.supervise"]["actor"] == "supervisor" and "居民情绪激动" in rows["handoff.supervise"]["detail"]
    assert rows["handoff.reply"]["actor"] == "supervisor"
    sup.post(f"/api/workbench/conversations/{sender}/close", json={"category": "已解答"})


async def _feed_lines(base: str, cookies: httpx.Cookies, headers: Dict[str, str], want: str) -> List[str]:
    """The feed's lines up to the first data line naming ``want`` (or its hello, when ``want`` is empty)."""
    lines: List[str] = []
    async with httpx.AsyncClient(base_url=base, cookies=cookies, timeout=10) as client:
        async with client.stream("GET", "/api/workbench/feed", headers=headers) as stream:
            async for line in stream.aiter_lines():
                lines.append(line)
                if (not want and line.startswith("data:")) or (want and line.startswith("data:") and want in line):
                    return lines
    return lines


def test_a_screen_resumes_from_its_last_event_id_and_a_mangled_id_starts_from_now(stack: dict, desk) -> None:  # type: ignore[no-untyped-def]
    a1 = desk["agent1"]
    a1.post("/api/workbench/presence", json={"status": "away"})  # nobody assigns: the request stays a queue event
    before = queues.get_redis().xrevrange(queues.FEED, count=1)[0][0]
    missed = sid()
    asyncio.run(service.request(missed, "web", "asked"))  # happens while the screen is away
    lines = asyncio.run(asyncio.wait_for(_feed_lines(stack["base"], a1.cookies, {"Last-Event-ID": before}, missed), 10))
    event = json.loads(next(x for x in lines if x.startswith("data:") and missed in x)[5:])
    assert event["type"] == "request" and event["state"] == State.QUEUED
    hello = asyncio.run(asyncio.wait_for(_feed_lines(stack["base"], a1.cookies, {"Last-Event-ID": "x'; DROP"}, ""), 10))
    newest = queues.get_redis().xrevrange(queues.FEED, count=1)[0][0]
    assert json.loads(hello[-1][5:])["last"] == newest  # a fresh start at the stream's end, not an error
    ahead = asyncio.run(asyncio.wait_for(_feed_lines(stack["base"], a1.cookies, {"Last-Event-ID": "99999999999999-0"}, ""), 10))
    assert json.loads(ahead[-1][5:])["last"] == newest  # an id from beyond the stream would hide every entry to come
