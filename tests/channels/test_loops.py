"""Per-loop objects: each event loop gets its own, made once, and a collected loop's object goes with it."""

from __future__ import annotations

import asyncio
import gc
from typing import List

from guide.loops import PerLoop


def test_one_object_per_loop_made_once_and_dropped_with_the_loop() -> None:
    made: List[object] = []
    per_loop: PerLoop[object] = PerLoop(lambda: made.append(object()) or made[-1])

    async def twice() -> tuple:
        assert per_loop.peek() is None  # peek never makes one
        return per_loop.get(), per_loop.get()

    first = asyncio.run(twice())
    second = asyncio.run(twice())
    assert first[0] is first[1] and second[0] is second[1]  # one per loop
    assert first[0] is not second[0] and len(made) == 2  # a new loop never inherits an old loop's object
    gc.collect()
    assert len(per_loop._by_loop) == 0  # both loops are gone, and their objects with them
