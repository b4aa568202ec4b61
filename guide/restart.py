"""Restart-on-crash for the supervisor's processes.

``guide serve`` today stops the whole stack when one process dies.  ``Restarter`` watches
``guide.supervisor.Process`` objects instead and starts a crashed one again (a kill -9, an
out-of-memory kill, a segfault in a native library), waits for its health check, and
gives up on a process that crashes more than ``max_restarts`` times in ``window``
seconds (a real bug, not a blip: then ``failed`` is set and the caller stops everything).

Leftovers are cleaned first: every process runs in its own session, so the process group
is killed before the restart and no orphaned child keeps the port.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

log = logging.getLogger(__name__)


@dataclass
class RestartEvent:
    name: str
    exit_code: Optional[int]
    died_at: float
    ready_at: Optional[float] = None
    error: str = ""

    @property
    def downtime(self) -> Optional[float]:
        return None if self.ready_at is None else self.ready_at - self.died_at


@dataclass
class Restarter:
    procs: Sequence  # guide.supervisor.Process (anything with name, proc, start(), wait_ready())
    max_restarts: int = 5
    window: float = 300.0
    poll: float = 0.2
    on_event: Callable[[str], None] = field(default=lambda text: log.warning("%s", text))
    events: List[RestartEvent] = field(default_factory=list)
    failed: Optional[str] = None

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._busy: Dict[str, bool] = {}

    def start(self) -> Restarter:
        self._thread = threading.Thread(target=self._watch, name="guide-restarter", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def restarting(self) -> bool:
        return any(self._busy.values())

    def _recent(self, name: str) -> int:
        now = time.time()
        return sum(1 for e in self.events if e.name == name and now - e.died_at < self.window)

    def _watch(self) -> None:
        while not self._stop.is_set():
            for p in self.procs:
                if self._busy.get(p.name) or p.proc is None or p.proc.poll() is None:
                    continue
                event = RestartEvent(p.name, p.proc.returncode, time.time())
                if self._recent(p.name) >= self.max_restarts:
                    self.failed = f"{p.name} crashed {self.max_restarts + 1} times in {self.window:.0f} s"
                    self.on_event(self.failed)
                    return
                self.events.append(event)
                self._busy[p.name] = True
                threading.Thread(target=self._restart, args=(p, event), daemon=True).start()
            self._stop.wait(self.poll)

    def _restart(self, p, event: RestartEvent) -> None:  # type: ignore[no-untyped-def]
        try:
            self.on_event(f"{p.name} exited with {event.exit_code}; restarting")
            try:  # children of the dead process (same session) must not keep its port
                os.killpg(p.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            p.start()
            p.wait_ready()
            event.ready_at = time.time()
            self.on_event(f"{p.name} ready again after {event.downtime:.1f} s")
        except Exception as exc:  # noqa: BLE001 - reported; the watcher tries again on the next exit
            event.error = str(exc)
            self.on_event(f"{p.name} restart failed: {exc}")
        finally:
            self._busy[p.name] = False
