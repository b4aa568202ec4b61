"""A publish on Redis reaches every listening process, which reloads; the real Redis on loopback."""

from __future__ import annotations

import threading

import redis

from knowledge.events import ChangeListener, channel_for


def test_announcement_reaches_a_listener(redis_client: redis.Redis) -> None:
    heard: list = []
    done = threading.Event()

    def on_change(ids: list) -> None:
        heard.append(ids)
        done.set()

    before = redis_client.pubsub_numsub(channel_for(redis_client))[0][1]  # other listeners on this database may be running
    listener = ChangeListener(on_change, client=redis_client)
    listener.start()
    try:
        for _ in range(50):  # wait until subscribed
            if redis_client.pubsub_numsub(channel_for(redis_client))[0][1] > before:
                break
            threading.Event().wait(0.05)
        redis_client.publish(channel_for(redis_client), '{"services": ["T001"]}')
        assert done.wait(5)
        assert heard == [["T001"]]
    finally:
        listener.stop()


def test_a_broken_message_does_not_kill_the_listener(redis_client: redis.Redis) -> None:
    calls: list = []
    second = threading.Event()

    def on_change(ids: list) -> None:
        calls.append(ids)
        if len(calls) == 2:
            second.set()

    before = redis_client.pubsub_numsub(channel_for(redis_client))[0][1]  # other listeners on this database may be running
    listener = ChangeListener(on_change, client=redis_client)
    listener.start()
    try:
        for _ in range(50):
            if redis_client.pubsub_numsub(channel_for(redis_client))[0][1] > before:
                break
            threading.Event().wait(0.05)
        redis_client.publish(channel_for(redis_client), "not json")
        redis_client.publish(channel_for(redis_client), '{"services": ["T002"]}')
        assert second.wait(5)
        assert calls == [[], ["T002"]]
    finally:
        listener.stop()


def test_a_process_that_forks_beside_a_listener_has_no_thread_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A listener's own stop flag must not shadow ``Thread._stop``: after a fork Python calls ``_stop()`` on every
    other thread (Rasa's workers and the benchmarks fork beside one)."""
    import subprocess
    import sys

    script = (
        "import os, time\n"
        "from knowledge.events import ChangeListener\n"
        "listener = ChangeListener(lambda ids: None)\n"
        "listener.start(); time.sleep(0.2)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "print('forked')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "forked" in done.stdout
    assert "not callable" not in done.stderr, done.stderr[-500:]
