"""One object per running event loop: pooled clients, semaphores, background helpers.

An asyncio client or lock belongs to the loop that made it.  The gateway has one loop, but tests,
CLI runs and ``asyncio.run`` make their own, so each such object is kept per loop.  They are held
weakly by the loop object itself: keyed by ``id(loop)`` a later loop can be given the id (and so
the client) of one already collected.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Callable, Generic, Optional, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    """``get()`` returns this loop's object, made by ``make`` on first use."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._by_loop: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T]" = weakref.WeakKeyDictionary()

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        got = self._by_loop.get(loop)
        if got is None:
            got = self._by_loop[loop] = self._make()
        return got

    def peek(self) -> Optional[T]:
        """This loop's object if one was made, without making it."""
        return self._by_loop.get(asyncio.get_running_loop())

    def clear(self) -> None:
        """Forget every loop's object (tests switch Redis databases and settings)."""
        self._by_loop.clear()
