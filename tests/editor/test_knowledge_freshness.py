"""Pub/sub is fire-and-forget: a process that missed an announcement still catches up (on resubscribe and on a
periodic version check), and the publishing process loads a new version once, not twice.  Real Redis and a real
SQLite/PostgreSQL store; the listener's connection is really killed on the Redis server."""

from __future__ import annotations

import copy
import threading
import time
import uuid
from pathlib import Path
from typing import Callable

import redis

from actions.answers import element_answer
from guide.settings import Settings
from knowledge.base import KnowledgeHolder
from knowledge.editing import Editor, default_on_publish
from knowledge.events import ChangeListener, Freshness, channel_for, db_version


def _holder(db_url: str, data: Path) -> KnowledgeHolder:
    h = KnowledgeHolder(Settings(database_url=db_url, data_dir=data))  # type: ignore[call-arg]
    h.get()
    return h


def _publish_fee(editor: Editor, amount: int) -> None:
    doc = copy.deepcopy(editor.published("T148"))
    doc["fee"]["items"][0]["amount"] = amount
    out = editor.save_draft("T148", doc, "editor", f"调价 {amount}")
    editor.submit("T148", out.version, "editor")
    editor.approve("T148", out.version, "reviewer")


def _fee(h: KnowledgeHolder) -> str:
    kb = h.get()
    return element_answer(kb.services["T148"], kb, "ask_fee")


def _until(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def _listener(fresh: Freshness, client: redis.Redis, every: float = 3600.0) -> ChangeListener:
    before = client.pubsub_numsub(channel_for(client))[0][1]  # other listeners on this database may be running
    listener = ChangeListener(lambda _ids: fresh.refresh(), client=client, refresh=fresh.refresh, every=every)
    listener.start()
    assert _until(lambda: client.pubsub_numsub(channel_for(client))[0][1] > before and listener.subscriptions >= 1, 5)
    # the check on subscribing has run (it may reload once: these holders were loaded right after the import)
    assert _until(lambda: fresh._loaded[0] is not None, 5)
    return listener


def _named_client() -> redis.Redis:
    from guide.redis import get_redis

    base = get_redis().connection_pool.connection_kwargs
    return redis.Redis(host=base.get("host", "127.0.0.1"), port=base.get("port", 6379), db=base.get("db", 0),
                       password=base.get("password"), decode_responses=True, client_name=f"kbtest-{uuid.uuid4().hex[:8]}")


def test_a_listener_that_missed_a_publish_reloads_when_it_resubscribes(db_url: str, few_data: Path) -> None:
    other = _holder(db_url, few_data)
    fresh = Freshness(other)
    client = _named_client()
    listener = _listener(fresh, client)
    try:
        assert "1000元" in _fee(other)
        silent = Editor(other.store, few_data, on_publish=lambda ids: None)  # the announcement is lost
        _publish_fee(silent, 1300)
        time.sleep(1.5)
        assert "1000元" in _fee(other)  # nothing heard, nothing reloaded yet
        name = client.client_getname()
        mine = [c for c in client.client_list() if c.get("name") == name and "subscribe" in c.get("cmd", "")]
        assert mine, "the listener's pub/sub connection is on the server"
        for c in mine:  # drop only this test's subscription, as a Redis restart or a network blip would
            client.client_kill_filter(_id=c["id"])
        assert _until(lambda: listener.subscriptions >= 2, 10)
        assert _until(lambda: "1300元" in _fee(other), 5)
    finally:
        listener.stop()
        client.close()


def test_the_periodic_version_check_catches_a_missed_publish(db_url: str, few_data: Path) -> None:
    other = _holder(db_url, few_data)
    fresh = Freshness(other)
    client = _named_client()
    listener = _listener(fresh, client, every=1.0)
    try:
        start = fresh.reloads
        silent = Editor(other.store, few_data, on_publish=lambda ids: None)
        _publish_fee(silent, 1400)
        assert _until(lambda: "1400元" in _fee(other), 6)
        assert fresh.reloads == start + 1
        kb = other.get()
        time.sleep(2.5)  # further checks find the same version: no reload
        assert other.get() is kb and fresh.reloads == start + 1
    finally:
        listener.stop()
        client.close()


def test_the_publishing_process_loads_its_change_once(db_url: str, few_data: Path) -> None:
    from knowledge.events import freshness

    me = _holder(db_url, few_data)
    fresh = freshness(me)
    heard = threading.Event()

    def on_change(_ids: list) -> None:
        fresh.refresh()
        heard.set()

    client = _named_client()
    before = client.pubsub_numsub(channel_for(client))[0][1]
    listener = ChangeListener(on_change, client=client, refresh=fresh.refresh, every=3600.0)
    listener.start()
    try:
        assert _until(lambda: client.pubsub_numsub(channel_for(client))[0][1] > before and fresh._loaded[0] is not None, 5)
        start = fresh.reloads
        editor = Editor(me.store, few_data, on_publish=default_on_publish(me.store, me))
        _publish_fee(editor, 1500)
        assert "1500元" in _fee(me)  # reloaded synchronously: the editor sees the change at once
        kb = me.get()
        assert heard.wait(5)  # this process's own announcement arrived …
        assert me.get() is kb and fresh.reloads == start + 1  # … and did not load the same version again
        assert db_version(me.store)[0] == fresh._loaded[1]
    finally:
        listener.stop()
        client.close()
