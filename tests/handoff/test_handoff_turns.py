"""Two-phase dedupe of resident turns on the real Redis: a resend while a turn is processed or after it was
answered is dropped; a resend after the processing gateway died (its lease lapsed) is processed again,
without showing or storing the resident's line twice."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from handoff_helpers import online, outbox

from channels import hub, transcript, webchat
from channels.handoff import queues, service


@pytest.fixture()
def short_lease(hand, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TURN_LEASE_S", "0.3")
    from guide.settings import get_settings

    get_settings.cache_clear()
    yield hand
    get_settings.cache_clear()


def test_claim_is_busy_while_processed_done_after_and_taken_again_when_the_lease_lapses(short_lease) -> None:  # type: ignore[no-untyped-def]
    msg = "m-" + uuid.uuid4().hex[:8]
    first = hub.claim_turn("web", msg)
    assert first.status == "new" and first.fresh
    assert hub.claim_turn("web", msg).status == "busy"  # a resend while the first attempt works on it
    hub.note_turn(first, shown="1-1", entry="2-2")
    time.sleep(0.4)  # the first attempt died without a heartbeat
    again = hub.claim_turn("web", msg)
    assert again.status == "retry" and (again.shown, again.entry) == ("1-1", "2-2")  # what the dead attempt did
    hub.note_turn(first, entry="9-9")  # the dead attempt's token no longer writes
    assert short_lease.hget(again.key, "entry") == "2-2"
    hub.finish_turn(again)
    assert hub.claim_turn("web", msg).status == "done"
    assert short_lease.ttl(again.key) > 3000  # remembered for turn_keep_s
    assert hub.claim_turn("web", "").fresh  # no id: nothing to recognise a resend by


def test_the_heartbeat_keeps_a_long_turn_and_an_error_releases_it(short_lease) -> None:  # type: ignore[no-untyped-def]
    msg = "m-" + uuid.uuid4().hex[:8]

    async def long_turn() -> str:
        turn = hub.claim_turn("web", msg)
        async with hub.leased(turn):
            await asyncio.sleep(1.0)  # more than three leases
            return hub.claim_turn("web", msg).status

    assert asyncio.run(long_turn()) == "busy"  # a slow bot answer is not processed twice
    assert hub.claim_turn("web", msg).status == "done"

    failing = "m-" + uuid.uuid4().hex[:8]

    async def broken_turn() -> None:
        async with hub.leased(hub.claim_turn("web", failing)):
            raise RuntimeError("Rasa answered nonsense")

    with pytest.raises(RuntimeError):
        asyncio.run(broken_turn())
    assert hub.claim_turn("web", failing).status == "retry"  # an error (not a crash) may be retried at once


async def test_a_turn_cut_short_by_a_crash_is_processed_on_the_resend(short_lease) -> None:  # type: ignore[no-untyped-def]
    online("a1", status="away")
    sender = "web-" + uuid.uuid4().hex[:12]
    await service.request(sender, "web", "asked")  # queued: the resident's messages go to the person, not to Rasa
    cid, text = "c-" + uuid.uuid4().hex[:8], "补充：孩子是上个月出生的"
    # what a gateway did before it was killed: claimed the turn, showed the line, stored it; no feed event, no "done"
    dead = hub.claim_turn("web", f"{sender}:{cid}")
    hub.note_turn(dead, shown=webchat.post(sender, [{"kind": "me", "text": text, "client_id": cid}])[0])
    hub.note_turn(dead, entry=transcript.append(sender, "resident", text))
    feed_before = short_lease.xlen(queues.FEED)
    assert await webchat.resident_turn(sender, text, cid) == []  # the page resends at once: still being processed
    assert short_lease.xlen(queues.FEED) == feed_before
    time.sleep(0.4)
    assert await webchat.resident_turn(sender, text, cid) == []  # after the lease: processed (queued: no answer now)
    event = short_lease.xrevrange(queues.FEED, count=1)[0][1]
    assert event["type"] == "message" and event["entry"] == dead.entry  # the queue sees the stored line
    assert [m["text"] for m in outbox(sender)].count(text) == 1
    assert [e["text"] for e in transcript.read(sender)].count(text) == 1
    assert queues.conv(sender)["last_resident_at"]
    assert await webchat.resident_turn(sender, text, cid) == []  # and once answered, a resend does nothing
    assert short_lease.xlen(queues.FEED) == feed_before + 1


async def test_an_http_resend_waits_for_a_dead_attempt_and_takes_it_over(short_lease) -> None:  # type: ignore[no-untyped-def]
    online("a1", status="away")
    sender = "web-" + uuid.uuid4().hex[:12]
    await service.request(sender, "web", "asked")
    cid, text = "c-" + uuid.uuid4().hex[:8], "补充：我在外省参保"
    hub.claim_turn("web", f"{sender}:{cid}")  # a gateway copy took the turn and died before doing anything
    started = time.monotonic()
    assert await webchat.resident_turn(sender, text, cid, wait=True) == []  # POST /api/chat resent to another copy
    assert 0.25 <= time.monotonic() - started < 2.5  # it waited for the lease, then processed the message
    assert [e["text"] for e in transcript.read(sender)].count(text) == 1 and [m["text"] for m in outbox(sender)].count(text) == 1
    assert short_lease.xrevrange(queues.FEED, count=1)[0][1]["type"] == "message"

    async def live_turn() -> float:  # a copy that is alive and slow: the resend waits for it and adds nothing
        turn = hub.claim_turn("web", f"{sender}:slow")
        async with hub.leased(turn):
            waiting = asyncio.create_task(webchat.resident_turn(sender, "慢的一条", "slow", wait=True))
            await asyncio.sleep(0.8)
            assert not waiting.done()
        began = time.monotonic()
        assert await waiting == []
        return time.monotonic() - began

    assert await live_turn() < 0.6
    assert "慢的一条" not in [e["text"] for e in transcript.read(sender)]
