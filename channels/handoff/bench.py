"""Handoff load test: simulated residents and agents against the running stack on 127.0.0.1.

Residents use the web chat as the page does (a cookie from GET /, then the WebSocket
/ws/chat); they ask for a person with an HTTP call (POST /api/chat "转人工" — the gateway recognises
the exact phrase and calls the handoff service without waiting for NLU; the page's fallback entry,
so the request has a clear start and end), wait
for a person, ask three questions one after another over the socket, rate, pause, and ask again.  Agents sign
in to the workbench, go online, follow the live feed (SSE), read each new resident turn
from the transcript, answer it, and close after the third answer.

Every message carries a unique text, so at the end the run counts, in both directions,
how many were sent, shown and shown more than once.  "handoff → agent's screen" is the
time from the start of the resident's request for a person (the HTTP call) to the moment the
assigned agent's live feed delivered the claim to that agent's screen, for handoffs an agent
had room for at once; handoffs that had to queue are reported apart (their figure includes the
wait for a free agent).  "assignment → agent's screen" covers every handoff, queued or not: from
the moment the gateway assigned it (the ``at`` of the claim event) to its arrival on the agent's
screen.  Both clocks are this machine's: residents run in a child process (so 200 sockets do not
slow the agents' clock) and send their request times back at the end.

    from channels.handoff.bench import run
    run(duration_s=300, residents=200, agents=20)   # make bench: every agent kept busy
    run(duration_s=120, residents=200, agents=20, pause=ROOMY_PAUSE_S)  # make bench: room at the desk
    run(duration_s=30, residents=40, agents=8)      # smoke run
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import time
import uuid
from collections import Counter, defaultdict
from typing import Any, Dict, List, Optional, Tuple

import httpx

QUESTIONS = 3
PAUSE_S = (1.0, 4.0)  # after a rating, ask again this soon: 200 residents keep all 20 agents busy
ROOMY_PAUSE_S = (20.0, 40.0)  # … or this late: about a fifth of the desk's places in use, requests find a free agent


def _pct(values: List[float], p: float) -> Optional[float]:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))], 4)


class Book:
    """What every simulated party saw, for the final count."""

    def __init__(self) -> None:
        self.to_agent_sent: Counter = Counter()
        self.to_agent_seen: Counter = Counter()
        self.to_resident_sent: Counter = Counter()
        self.to_resident_seen: Counter = Counter()
        self.asks: List[List[Any]] = []  # [sender, when the HTTP request for a person started, assigned at once]
        self.claims_seen: List[List[Any]] = []  # [sender, when the assigned agent's feed delivered the claim]
        self.client_to_screen: List[float] = []
        self.assigned_to_screen: List[float] = []
        self.to_assignment: List[float] = []
        self.handoffs = 0
        self.closed = 0
        self.errors: Counter = Counter()
        self.last_entry: Dict[str, str] = {}
        self.samples: List[str] = []
        self.run_id = secrets.token_hex(3)  # per conversation: the agents' read position in its transcript


async def _staff_accounts(n: int, password: str) -> List[str]:
    from channels.auth import AuthError, create_user, set_password

    names = [f"bench-agent-{i:02d}" for i in range(1, n + 1)]
    for name in names:
        try:
            create_user(name, password, ["agent"], f"压测坐席{name[-2:]}", "guide")
        except AuthError:
            set_password(name, password)
    return names


async def _agent(base: str, username: str, password: str, book: Book, stop: asyncio.Event, ready: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        r = await client.post("/login", data={"username": username, "password": password, "next": "/workbench"})
        if r.status_code != 303:
            book.errors["agent_login"] += 1
            ready.set()
            return
        client.headers["X-CSRF-Token"] = (await client.get("/api/me")).json()["csrf"]
        last_entry = book.last_entry
        answered: Dict[str, int] = defaultdict(int)
        locks: Dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

        async def serve(sender: str) -> None:
            async with locks[sender]:
                try:
                    got = await client.get(f"/api/workbench/conversations/{sender}", params={"after": last_entry.get(sender, "0")})
                except httpx.HTTPError:
                    book.errors["agent_read"] += 1
                    return
                if got.status_code != 200:
                    return
                for e in got.json()["entries"]:
                    last_entry[sender] = e["id"]
                    if e["role"] != "resident" or not e["text"].startswith(f"BQ|{book.run_id}."):
                        continue
                    book.to_agent_seen[e["text"]] += 1
                    answered[sender] += 1
                    text = f"BA|{e['text'][3:]}|答复"
                    book.to_resident_sent[text] += 1
                    rep = await client.post(f"/api/workbench/conversations/{sender}/reply", json={"text": text})
                    if rep.status_code != 200 or not rep.json().get("ok"):
                        book.errors["agent_reply"] += 1
                    if answered[sender] >= QUESTIONS:
                        answered[sender] = 0
                        c = await client.post(f"/api/workbench/conversations/{sender}/close", json={"category": "已解答"})
                        if c.status_code == 200:
                            book.closed += 1
                        else:
                            book.errors["agent_close"] += 1

        async with client.stream("GET", "/api/workbench/feed", timeout=None) as feed:
            started = False
            async for line in feed.aiter_lines():
                if line.startswith("event: hello") and not started:
                    started = True
                    await client.post("/api/workbench/presence", json={"status": "online"})
                    ready.set()
                if stop.is_set():
                    break
                if not line.startswith("data:"):
                    continue
                ev = json.loads(line[5:])
                sender = ev.get("sender", "")
                now = time.time()
                if ev.get("agent") != username:
                    continue
                if ev.get("type") == "claim":
                    book.claims_seen.append([sender, now])  # on the assigned agent's screen now
                    if ev.get("at"):  # when the gateway assigned it (queued or not): the system's own delivery time
                        book.assigned_to_screen.append(now - float(ev["at"]))
                    answered[sender] = 0
                    asyncio.get_running_loop().create_task(serve(sender))
                elif ev.get("type") == "message" and ev.get("entry"):
                    asyncio.get_running_loop().create_task(serve(sender))
        await client.post("/api/workbench/presence", json={"status": "offline"})


async def _resident(base: str, n: int, book: Book, deadline: float, stop: asyncio.Event,
                    pause: Tuple[float, float] = PAUSE_S) -> None:
    import websockets.client as websockets

    http = httpx.AsyncClient(base_url=base, timeout=30)
    await http.get("/")
    cookie = http.cookies.get("guide_resident") or ""
    conv_sender = await _sender_of(base, cookie)
    if conv_sender:
        from guide.redis import get_redis

        get_redis().sadd(RESIDENTS, conv_sender)
    ws_url = base.replace("http://", "ws://").replace("https://", "wss://") + "/ws/chat"
    inbox: asyncio.Queue = asyncio.Queue()
    seen_ids: set = set()
    async with websockets.connect(ws_url, extra_headers=[("Cookie", f"guide_resident={cookie}")], max_size=2**20) as ws:

        async def reader() -> None:
            async for raw in ws:
                m = json.loads(raw)
                if m.get("id") and m["id"] in seen_ids:
                    continue  # the page would drop a replayed id too; counting below is by text
                if m.get("id"):
                    seen_ids.add(m["id"])
                if m.get("kind") == "agent" and m.get("text", "").startswith("BA|"):
                    book.to_resident_seen[m["text"]] += 1
                await inbox.put(m)

        task = asyncio.create_task(reader())

        async def send(text: str) -> None:
            await ws.send(json.dumps({"type": "message", "text": text, "client_id": uuid.uuid4().hex[:16]}))

        async def wait_for(pred, timeout: float) -> Optional[Dict[str, Any]]:  # type: ignore[no-untyped-def]
            end = time.time() + timeout
            while time.time() < end:
                try:
                    m = await asyncio.wait_for(inbox.get(), max(0.05, end - time.time()))
                except asyncio.TimeoutError:
                    return None
                if pred(m):
                    return m
            return None

        episode = 0
        try:
            await asyncio.sleep(random.uniform(0, pause[1]))
            while time.time() < deadline and not stop.is_set():
                episode += 1
                # a fresh key per episode so screen latency is measured per handoff
                token = f"{book.run_id}.r{n}e{episode}"
                book.handoffs += 1
                asked = time.time()
                try:  # the request for a person: its start is where "handoff → agent's screen" is measured from
                    reply = await http.post("/api/chat", json={"text": "转人工", "client_id": uuid.uuid4().hex[:16]})
                    answer = reply.json().get("messages") or []
                except (httpx.HTTPError, ValueError):
                    answer = []
                state = _handoff_state(answer)
                if not state:  # not in the answer: what the resident's screen shows next says it
                    got = await wait_for(lambda m: (m.get("status") or {}).get("state") in ("queued", "with_agent", "message"), 20)
                    if got is None:
                        book.errors["no_handoff_reply"] += 1
                        book.samples.append(conv_sender)
                        continue
                    state = got["status"]["state"]
                book.client_to_screen.append(time.time() - asked)  # the resident sees "已为您转接…"
                book.asks.append([conv_sender, asked, state == "with_agent"])
                if state == "message":
                    book.errors["offered_message_instead"] += 1
                    await send("取消")
                    await asyncio.sleep(2)
                    continue
                if state != "with_agent":
                    got = await wait_for(lambda m: (m.get("status") or {}).get("state") == "with_agent", max(1, deadline - time.time()))
                    if got is None:
                        await send("取消排队")
                        break
                book.to_assignment.append(time.time() - asked)
                for q in range(1, QUESTIONS + 1):
                    text = f"BQ|{token}-q{q}|请问第{q}个问题"
                    book.to_agent_sent[text] += 1
                    await send(text)
                    answer = f"BA|{token}-q{q}|请问第{q}个问题|答复"
                    if await wait_for(lambda m, a=answer: m.get("text") == a, 30) is None:
                        book.errors["answer_late"] += 1
                await wait_for(lambda m: m.get("kind") == "rating", 30)
                await asyncio.sleep(random.uniform(*pause))
        finally:
            task.cancel()
            await http.aclose()


def _handoff_state(answer: List[Dict[str, Any]]) -> str:
    """What the answer to "转人工" says: "with_agent" (a person was assigned at once), "queued", "message", or ""."""
    states = [(m.get("status") or {}).get("state") for m in answer]
    if "message" in states:
        return "message"
    if "with_agent" in states:
        return "with_agent"
    if "queued" in states:
        return "queued"
    # another gateway copy's dispatcher assigned it while this answer was written: "已为您转接…" without a place
    if any("已为您转接" in (m.get("text") or "") for m in answer):
        return "with_agent"
    return ""


async def _sender_of(base: str, cookie: str) -> str:
    """The conversation id behind a resident cookie (the bench runs beside the gateway and shares its secret)."""
    from itsdangerous import URLSafeSerializer

    from guide.settings import secret_key

    try:
        return str(URLSafeSerializer(secret_key(), salt="webchat-resident").loads(cookie))
    except Exception:  # noqa: BLE001 - another secret: latency is then measured without the sender map
        return ""


RESIDENTS = "guide:bench:residents"  # conversations the bench's residents used (so a later run can tidy them)


async def _tidy(names: List[str]) -> None:
    """Conversations an interrupted earlier run left queued or with bench agents are ended first."""
    import channels.webchat  # noqa: F401 - the web pusher, so closing a leftover tells its resident
    from channels.handoff import queues, service

    r = queues.get_redis()
    ours = r.smembers(RESIDENTS)
    for tier in queues.TIERS:  # the queue first: closing below would otherwise hand these to bench agents
        for sender in r.zrange(queues.queue_key(tier), 0, -1):
            if sender in ours:
                try:
                    service.transition(sender, "abandon", "bench", {"end_reason": "压测开始前清理"})
                except ValueError:
                    pass
    for name in names:
        for sender in r.smembers(queues.agent_convs_key(name)):
            try:
                await service.close(sender, name, "其他", "压测开始前清理", supervisor=True)
            except (PermissionError, ValueError):
                r.srem(queues.agent_convs_key(name), sender)
    r.delete(RESIDENTS)


def _residents_main(base: str, residents: int, duration_s: float, run_id: str, go, out,  # type: ignore[no-untyped-def]
                    pause: Tuple[float, float] = PAUSE_S) -> None:
    """The residents' process: its own event loop and CPU, so the agents' clock is not slowed by 200 sockets."""

    async def main() -> Dict[str, Any]:
        book = Book()
        book.run_id = run_id
        stop = asyncio.Event()
        go.wait(120)
        deadline = time.time() + duration_s
        tasks = [asyncio.create_task(_resident(base, i, book, deadline, stop, pause)) for i in range(residents)]
        done, pending = await asyncio.wait(tasks, timeout=duration_s + 60)
        for t in pending:
            t.cancel()
        for t in done:
            if t.exception() is not None:
                book.errors[f"resident_{type(t.exception()).__name__}"] += 1
        return {"to_agent_sent": dict(book.to_agent_sent), "to_resident_seen": dict(book.to_resident_seen),
                "handoffs": book.handoffs, "errors": dict(book.errors), "samples": book.samples[:5],
                "click_to_reply": book.client_to_screen, "click_to_assignment": book.to_assignment, "asks": book.asks}

    out.put(asyncio.run(main()))


async def _run(duration_s: float, residents: int, agents: int, base: str, run_id: str, go, out, child) -> Dict[str, Any]:  # type: ignore[no-untyped-def]
    from channels.handoff import queues

    password = secrets.token_urlsafe(12)
    names = await _staff_accounts(agents, password)
    await _tidy(names)
    async with httpx.AsyncClient(base_url=base, timeout=180) as warmup:  # first turn loads models and the knowledge base
        await warmup.post("/api/chat", json={"text": "你好"})
    queues.set_desk_mode("open")
    book = Book()
    book.run_id = run_id
    stop = asyncio.Event()
    readies = [asyncio.Event() for _ in names]
    agent_tasks = [asyncio.create_task(_agent(base, n, password, book, stop, ev)) for n, ev in zip(names, readies)]
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in readies)), 60)
    started = time.time()
    go.set()
    loop = asyncio.get_running_loop()
    seen = await loop.run_in_executor(None, out.get, True, duration_s + 180)
    child.join(10)
    await asyncio.sleep(2)  # last answers in flight
    stop.set()
    for t in agent_tasks:
        t.cancel()
    await asyncio.gather(*agent_tasks, return_exceptions=True)
    for n in names:
        queues.set_presence(n, "offline", n, "guide", [])
    queues.set_desk_mode("")
    book.to_agent_sent.update(seen["to_agent_sent"])
    book.to_resident_seen.update(seen["to_resident_seen"])
    book.errors.update(seen["errors"])
    lost_to_agent = sum(1 for k in book.to_agent_sent if book.to_agent_seen[k] == 0)
    lost_to_resident = sum(1 for k in book.to_resident_sent if book.to_resident_seen[k] == 0)
    dup_to_agent = sum(1 for k, v in book.to_agent_seen.items() if v > 1)
    dup_to_resident = sum(1 for k, v in book.to_resident_seen.items() if v > 1)
    direct, queued = _screen_latencies(seen["asks"], book.claims_seen)
    return {
        "duration_s": round(time.time() - started, 1), "residents": residents, "agents": agents,
        "handoffs": seen["handoffs"], "closed": book.closed,
        "resident_to_agent": {"sent": sum(book.to_agent_sent.values()), "lost": lost_to_agent, "duplicated": dup_to_agent},
        "agent_to_resident": {"sent": sum(book.to_resident_sent.values()), "lost": lost_to_resident, "duplicated": dup_to_resident},
        "handoff_to_agent_screen_s": {"p50": _pct(direct, 50), "p95": _pct(direct, 95), "max": _pct(direct, 100), "n": len(direct)},
        "queued_handoff_to_agent_screen_s": {"p50": _pct(queued, 50), "p95": _pct(queued, 95), "max": _pct(queued, 100),
                                             "n": len(queued)},
        "assignment_to_agent_screen_s": {"p50": _pct(book.assigned_to_screen, 50), "p95": _pct(book.assigned_to_screen, 95),
                                         "max": _pct(book.assigned_to_screen, 100), "n": len(book.assigned_to_screen)},
        "resident_click_to_reply_s": {"p50": _pct(seen["click_to_reply"], 50), "p95": _pct(seen["click_to_reply"], 95)},
        "resident_click_to_assignment_s": {"p50": _pct(seen["click_to_assignment"], 50),
                                           "p95": _pct(seen["click_to_assignment"], 95)},
        "errors": dict(book.errors), "samples": seen["samples"],
    }


def _screen_latencies(asks: List[List[Any]], claims: List[List[Any]]) -> tuple:
    """Pair each claim an agent's screen received with the request for a person it answered (the same
    resident's latest request before it); returns (seconds for handoffs assigned at once, for queued ones)."""
    by_sender: Dict[str, List[List[Any]]] = defaultdict(list)
    for sender, at, at_once in sorted(asks, key=lambda a: a[1]):
        by_sender[sender].append([at, at_once, False])
    direct: List[float] = []
    queued: List[float] = []
    for sender, seen_at in sorted(claims, key=lambda c: c[1]):
        open_asks = [a for a in by_sender.get(sender, []) if a[0] <= seen_at and not a[2]]
        if not open_asks:
            continue  # a claim after a requeue, or of a conversation from before the run
        ask = open_asks[-1]
        ask[2] = True
        (direct if ask[1] else queued).append(seen_at - ask[0])
    return direct, queued


def run(duration_s: float = 300, residents: int = 200, agents: int = 20, base_url: str = "",
        pause: Tuple[float, float] = PAUSE_S) -> Dict[str, Any]:
    """Drive the running stack and return the figures (see the module docstring).

    ``pause``: seconds a resident waits after a rating before asking again.  The default keeps every
    agent busy (the queue never empties); ``ROOMY_PAUSE_S`` leaves the desk room, so most requests
    find a free agent and "handoff → agent's screen" is measured on hundreds of them."""
    import multiprocessing

    from guide.settings import get_settings

    base = (base_url or get_settings().base_url).rstrip("/")
    run_id = secrets.token_hex(3)
    ctx = multiprocessing.get_context("fork")  # forked before any event loop exists in this process
    go, out = ctx.Event(), ctx.Queue()
    child = ctx.Process(target=_residents_main, args=(base, residents, duration_s, run_id, go, out, pause), daemon=True)
    child.start()
    try:
        return asyncio.run(_run(duration_s, residents, agents, base, run_id, go, out, child))
    finally:
        if child.is_alive():
            child.terminate()


if __name__ == "__main__":
    import sys

    args = [float(a) for a in sys.argv[1:4]]
    print(json.dumps(run(args[0] if args else 30, int(args[1]) if len(args) > 1 else 40, int(args[2]) if len(args) > 2 else 8),
                     ensure_ascii=False, indent=2))
