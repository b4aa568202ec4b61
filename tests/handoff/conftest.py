"""Handoff tests run on the real test Redis (db 15, flushed per test) and a throw-away database."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from handoff_helpers import REDIS_TEST_URL, reset_clients  # noqa: E402


@pytest.fixture()
def hand(redis_client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:  # type: ignore[no-untyped-def]
    """The handoff service wired to db 15 and a fresh SQLite file; the web pusher registered; the desk open."""
    monkeypatch.setenv("REDIS_URL", REDIS_TEST_URL)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'handoff.db'}")
    reset_clients()
    import channels.webchat  # noqa: F401 - registers the real "web" pusher (the resident's outbox stream)
    from channels.handoff import queues

    queues.set_desk_mode("open")
    from channels.audit import trail
    from guide.analytics import counts, days_ago

    trail(limit=1), counts(days_ago(1))  # the gateway creates these tables at start; so does the fixture
    yield redis_client
    reset_clients()
