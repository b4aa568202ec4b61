"""Small helpers the handoff tests share."""

from __future__ import annotations

import os
from typing import Dict, List

from channels.audit import trail


def online(username: str, tier: str = "guide", skills: List[str] | None = None, status: str = "online") -> None:
    from channels.handoff import queues

    queues.set_presence(username, status, f"专员{username}", tier, skills or [])


def outbox(sender: str) -> List[Dict]:
    """What the resident's web chat shows (the real web channel's stream)."""
    from channels import webchat

    return webchat.history(sender, "0-0")


def actions(sender: str) -> List[str]:
    """Audit actions for a conversation, oldest first."""
    return [row["action"] for row in reversed(trail(sender))]


def _root_conftest():  # type: ignore[no-untyped-def]
    """tests/conftest.py as a module (its name clashes with this folder's conftest under pytest's import mode)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("guide_root_conftest", Path(__file__).resolve().parent.parent / "conftest.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


STAFF_PASSWORD: str = _root_conftest().STAFF_PASSWORD


def clear_desk(usernames: List[str]) -> None:
    """Empty the shared test desk (db 14) of conversations an interrupted earlier run left behind."""
    import asyncio

    from channels.handoff import queues, service

    r = queues.get_redis()
    for tier in queues.TIERS:
        for sender in r.zrange(queues.queue_key(tier), 0, -1):
            service.transition(sender, "abandon", "test", {"end_reason": "测试开始前清理"})
    for username in usernames:
        for sender in r.smembers(queues.agent_convs_key(username)):
            in_thread(lambda s=sender, u=username: asyncio.run(service.close(s, u, "其他", "测试开始前清理", supervisor=True)))


def in_thread(fn) -> None:  # type: ignore[no-untyped-def]
    """Run ``fn`` in its own thread (Playwright's sync API keeps an event loop busy in the test's thread)."""
    import threading

    errors: List[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)

    t = threading.Thread(target=run)
    t.start()
    t.join(60)
    if errors:
        raise errors[0]


# kept here, not in conftest: with several test folders in one run, "import conftest" is ambiguous
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def reset_clients() -> None:
    from guide import redis as guide_redis
    from guide.settings import get_settings

    get_settings.cache_clear()
    guide_redis.reset_client()
    guide_redis._async_clients.clear()
