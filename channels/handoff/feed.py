"""The workbench's live feed: one Redis reader per gateway process, fanned out to every open screen.

Every handoff change is an entry of one Redis stream (``queues.FEED``).  Each agent's screen
used to run its own blocking XREAD on it, so with twenty agents signed in every entry crossed
the socket and was parsed twenty times in the gateway, and each screen's read competed for the
event loop with the residents' traffic.  Here one task per process reads the stream and hands
each entry to the subscribers whose filter accepts it; a screen only formats what it shows.

A screen that reconnects with ``Last-Event-ID`` first replays the stream from that id (XRANGE),
then takes the live entries it has not seen: it subscribes before replaying, so an entry is
either in the replay or in its queue, and ids not newer than the last one shown are skipped.
A screen that falls too far behind is dropped (``Lagging``): its browser reconnects with its
last id and catches up from Redis, so nothing is lost and a slow client cannot grow the
gateway's memory.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from typing import Any, AsyncGenerator, Callable, Dict, List, Optional, Set, Tuple

from channels.handoff import queues
from guide.loops import PerLoop
from guide.redis import get_async_redis

log = logging.getLogger(__name__)

Entry = Tuple[str, Dict[str, str]]
Accept = Callable[[Dict[str, str]], bool]

QUEUE_MAX = 2000  # entries a screen may have waiting before it is told to reconnect
READ_COUNT = 1000
BLOCK_MS = 5000
REPLAY_CHUNK = 500


class Lagging(Exception):
    """The subscriber's queue overflowed: it must resume from its last id (the stream still has everything)."""


STREAM_ID = re.compile(r"\d{1,20}-\d{1,20}")


def is_stream_id(text: str) -> bool:
    """A Redis stream id as a screen sends it back in Last-Event-ID ("1700000000000-3")."""
    return bool(STREAM_ID.fullmatch(text or ""))


def id_key(entry_id: str) -> Tuple[int, int]:
    """A stream id as a sortable pair ("1700000000000-3" → (1700000000000, 3))."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def visible(accept: Accept, entry: Entry) -> bool:
    """The screen's filter; an entry it cannot judge (a malformed event) is not shown rather than stopping the feed."""
    try:
        return bool(accept(entry[1]))
    except Exception:  # noqa: BLE001 - one bad entry must not stop every screen's feed
        log.exception("workbench feed: entry %s not shown (filter failed)", entry[0])
        return False


@dataclass(eq=False)
class Subscriber:
    """One open screen: its filter and the entries waiting to be sent to it."""

    accept: Accept
    queue: "asyncio.Queue[Entry]" = field(default_factory=lambda: asyncio.Queue(QUEUE_MAX))
    lagging: bool = False

    def offer(self, entry: Entry) -> None:
        if self.lagging or not visible(self.accept, entry):
            return
        try:
            self.queue.put_nowait(entry)
        except asyncio.QueueFull:
            self.lagging = True


class FeedHub:
    """Reads the feed stream once for this event loop and fans entries out to subscribers."""

    def __init__(self) -> None:
        self.subscribers: Set[Subscriber] = set()
        self._task: Optional[asyncio.Task] = None
        self._wake = asyncio.Event()
        self._positioned = asyncio.Event()  # set once the reader knows the id it reads after
        self.read_calls = 0  # how many XREADs this hub made (the tests compare it with the screens open)

    def subscribe(self, accept: Accept) -> Subscriber:
        sub = Subscriber(accept)
        self.subscribers.add(sub)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="handoff-feed-hub")
        self._wake.set()
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    async def positioned(self, timeout: float = 5.0) -> None:
        """Wait until the reader has fixed where it reads from: every entry after that reaches the
        subscribers, so a replay made after this returns covers everything before it."""
        try:
            await asyncio.wait_for(self._positioned.wait(), timeout)
        except asyncio.TimeoutError:  # Redis unreachable: the replay that follows fails and says so
            pass

    async def _newest(self) -> str:
        newest = await get_async_redis().xrevrange(queues.FEED, count=1)
        return newest[0][0] if newest else "0-0"

    async def _run(self) -> None:
        last = ""
        failures = 0
        while True:
            if not self.subscribers:
                self._wake.clear()
                self._positioned.clear()
                last = ""
                try:  # nobody watching: stop reading, start again from the newest entry when someone subscribes
                    await asyncio.wait_for(self._wake.wait(), 60)
                except asyncio.TimeoutError:
                    self._task = None
                    return
                continue
            try:
                if not last:
                    last = await self._newest()
                    self._positioned.set()
                got = await get_async_redis().xread({queues.FEED: last}, block=BLOCK_MS, count=READ_COUNT)
                self.read_calls += 1
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis down: screens keep their connection, the hub retries
                failures += 1
                if failures == 1:
                    log.warning("workbench feed: reading the stream failed (%s); retrying", exc)
                await asyncio.sleep(min(5.0, 0.2 * failures))
                continue
            for _stream, entries in got or []:
                for entry in entries:
                    last = entry[0]
                    for sub in list(self.subscribers):
                        sub.offer(entry)


_hubs: PerLoop[FeedHub] = PerLoop(FeedHub)


def hub() -> FeedHub:
    """This event loop's hub (the gateway has one loop; tests and CLI runs make their own)."""
    return _hubs.get()


async def newest_id() -> str:
    """The id of the newest feed entry ("0-0" for an empty stream): where a fresh screen starts."""
    return await hub()._newest()


async def resume_point(start: str = "") -> str:
    """Where a screen's feed starts: after ``start`` (its Last-Event-ID) when that is an id within the
    stream, else after the newest entry.  A mangled header starts from now instead of failing, and an
    id beyond the stream's end (another Redis, a hand-made header) would otherwise hide every entry to come."""
    newest = await newest_id()
    if is_stream_id(start) and id_key(start) <= id_key(newest):
        return start
    return newest


async def batches(start: str, accept: Accept, wait_s: float = 10.0) -> AsyncGenerator[List[Entry], None]:
    """Feed entries after ``start`` (from ``resume_point``) that ``accept`` takes, replayed then live, in
    batches; an empty batch every ``wait_s`` seconds without one (the caller's keep-alive and presence beat).

    A batch is everything waiting when the screen gets its turn: under load the event loop comes
    round seldom, and one turn per entry would let a busy screen fall ever further behind.
    Raises ``Lagging`` when the screen fell too far behind and must resume from its last id."""
    h = hub()
    sub = h.subscribe(accept)
    try:
        await h.positioned()
        r = get_async_redis()
        last = start
        while True:  # the replay: everything after ``start`` already in the stream
            chunk: List[Entry] = await r.xrange(queues.FEED, min=f"({last}", max="+", count=REPLAY_CHUNK)
            if chunk:
                last = chunk[-1][0]
                shown = [entry for entry in chunk if visible(accept, entry)]
                if shown:
                    yield shown
            if len(chunk) < REPLAY_CHUNK:
                break
        seen = id_key(last)
        while True:
            if sub.lagging:
                raise Lagging(last)
            if sub.queue.empty():
                try:
                    first = await asyncio.wait_for(sub.queue.get(), wait_s)
                except asyncio.TimeoutError:
                    yield []
                    continue
                waiting = [first]
            else:
                waiting = []
            while not sub.queue.empty():
                waiting.append(sub.queue.get_nowait())
            batch = []
            for entry in waiting:
                key = id_key(entry[0])
                if key > seen:  # not already replayed
                    seen, last = key, entry[0]
                    batch.append(entry)
            if batch:
                yield batch
    finally:
        h.unsubscribe(sub)


def stats() -> Dict[str, Any]:
    """What this loop's hub is doing (for the supervisor's overview and the tests)."""
    h = hub()
    return {"subscribers": len(h.subscribers), "reads": h.read_calls,
            "waiting": sum(s.queue.qsize() for s in h.subscribers)}
