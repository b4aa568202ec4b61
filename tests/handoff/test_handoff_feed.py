"""The workbench feed hub: one stream reader per process, replay then live, nothing lost or repeated."""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from typing import Dict, List

import pytest

from channels.handoff import feed, queues


def _publish(n: int, start: int = 0, agent: str = "a1") -> None:
    for i in range(start, start + n):
        queues.publish({"type": "message", "sender": f"web-s{i}", "agent": agent, "entry": str(i)})


async def _collect(start: str, accept, want: int, timeout: float = 5.0) -> List[Dict[str, str]]:  # type: ignore[no-untyped-def]
    got: List[Dict[str, str]] = []

    async def run() -> None:
        async with aclosing(feed.batches(start, accept, wait_s=0.2)) as stream:
            async for batch in stream:
                for entry in batch:
                    got.append(entry[1])
                if len(got) >= want:
                    return

    await asyncio.wait_for(run(), timeout)
    return got


def test_replay_then_live_in_order_without_repeats(hand) -> None:  # type: ignore[no-untyped-def]
    _publish(3)
    start = "0-0"

    async def scenario() -> List[Dict[str, str]]:
        task = asyncio.create_task(_collect(start, lambda f: True, 8))
        await asyncio.sleep(0.3)  # the replay has run; these arrive live through the hub
        await asyncio.to_thread(_publish, 5, 3)
        return await task

    got = asyncio.run(scenario())
    assert [e["entry"] for e in got] == [str(i) for i in range(8)]


def test_one_reader_serves_many_screens_each_with_its_filter(hand) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> tuple:
        start = await feed.newest_id()
        screens = [asyncio.create_task(_collect(start, lambda f, a=f"a{i}": f.get("agent") == a, 3)) for i in range(10)]
        await asyncio.sleep(0.3)
        reads_before = feed.stats()["reads"]
        assert feed.stats()["subscribers"] == 10
        for i in range(10):
            await asyncio.to_thread(_publish, 3, 100 * i, f"a{i}")
        results = await asyncio.gather(*screens)
        return results, feed.stats()["reads"] - reads_before

    results, reads = asyncio.run(scenario())
    for i, got in enumerate(results):
        assert [e["agent"] for e in got] == [f"a{i}"] * 3
        assert [e["entry"] for e in got] == [str(100 * i + k) for k in range(3)]
    # thirty entries reached ten screens with one reader: far fewer reads than screens x entries
    assert 1 <= reads <= 30


def test_a_screen_that_falls_behind_is_told_to_resume_and_loses_nothing(hand, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(feed, "QUEUE_MAX", 5)

    async def scenario() -> tuple:
        start = await feed.newest_id()
        stream = feed.batches(start, lambda f: True, wait_s=0.2)
        assert await stream.__anext__() == []  # subscribed, nothing yet; now the screen stops reading
        await asyncio.to_thread(_publish, 20)
        await asyncio.sleep(0.5)  # the hub offers 20 entries to a queue that holds 5
        with pytest.raises(feed.Lagging) as lag:
            await stream.__anext__()
        resumed = await _collect(str(lag.value), lambda f: True, 20)  # the browser's reconnect with Last-Event-ID
        return str(lag.value), start, resumed, feed.stats()["subscribers"]

    resume_id, start, resumed, subscribers = asyncio.run(scenario())
    assert resume_id == start
    assert [e["entry"] for e in resumed] == [str(i) for i in range(20)]
    assert subscribers == 0  # the dropped screen and the finished one are gone from the hub


def test_id_order() -> None:
    assert feed.id_key("1700000000000-12") > feed.id_key("1700000000000-3")
    assert feed.id_key("1700000000001-0") > feed.id_key("1700000000000-99")


def test_an_entry_the_filter_cannot_judge_is_skipped_and_the_feed_goes_on(hand) -> None:  # type: ignore[no-untyped-def]
    def accept(fields: Dict[str, str]) -> bool:
        if fields["entry"] == "1":
            raise KeyError("malformed")
        return True

    async def scenario() -> List[Dict[str, str]]:
        start = await feed.newest_id()
        task = asyncio.create_task(_collect(start, accept, 2))
        await asyncio.sleep(0.3)
        await asyncio.to_thread(_publish, 3)
        return await task

    assert [e["entry"] for e in asyncio.run(scenario())] == ["0", "2"]


def test_a_resume_id_beyond_the_stream_starts_from_its_end(hand) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> List[Dict[str, str]]:
        task = asyncio.create_task(_collect(await feed.resume_point("99999999999999-0"), lambda f: True, 2))
        await asyncio.sleep(0.3)
        await asyncio.to_thread(_publish, 2)
        return await task

    assert [e["entry"] for e in asyncio.run(scenario())] == ["0", "1"]
