"""The action server process: rasa_sdk's own server, started once the knowledge base is loaded.

``python -m actions.server --actions actions --port 5055`` takes rasa_sdk's arguments.
rasa_sdk answers ``/health`` as soon as it listens, so without this the first resident's
turn would pay for loading the knowledge base and its search index (seconds); here that
happens before the port opens, and "healthy" means ready to answer.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)


def warm() -> float:
    """Load the knowledge base and its search index; returns the seconds it took (0 when it failed)."""
    started = time.perf_counter()
    try:
        from knowledge.base import current

        current().index.search("宝宝刚出生要办什么")
    except Exception as exc:  # noqa: BLE001 - the database is not reachable yet: the first turn loads it
        log.warning("knowledge base not loaded before the action server started: %s", exc)
        return 0.0
    return time.perf_counter() - started


def main() -> None:
    from rasa_sdk.__main__ import main as run_rasa_sdk

    seconds = warm()
    log.info("knowledge base loaded for the action server in %.1f s", seconds)
    run_rasa_sdk()


if __name__ == "__main__":
    main()
