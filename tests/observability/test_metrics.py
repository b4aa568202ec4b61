"""Prometheus metrics: the helpers count what they say, queue lengths come from Redis at scrape time."""

from __future__ import annotations

import os

import pytest
from fastapi import FastAPI, WebSocket
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from guide import metrics

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_counters_and_histograms_move() -> None:
    before = value("guide_messages_total", channel="web", kind="resident")
    metrics.count_message("web", "resident")
    metrics.count("messages", channel="web", kind="resident")
    assert value("guide_messages_total", channel="web", kind="resident") == before + 2

    n = value("guide_bot_turn_seconds_count", channel="wechat")
    with metrics.turn_timer("wechat"):
        pass
    metrics.observe_turn("wechat", 0.2)
    assert value("guide_bot_turn_seconds_count", channel="wechat") == n + 2
    assert value("guide_bot_turn_seconds_bucket", channel="wechat", le="0.25") >= n + 2

    metrics.prereview("T001", passed=False, defect_codes=["E_BLUR", "E_EXPIRED"], seconds=0.8)
    assert value("guide_prereviews_total", service="T001", passed="false") >= 1
    assert value("guide_prereview_defects_total", code="E_EXPIRED") >= 1
    metrics.wechat_error(45015, api="message/custom/send")
    assert value("guide_wechat_api_errors_total", errcode="45015", api="message/custom/send") >= 1
    metrics.upload("web", 1500)
    assert value("guide_upload_bytes_total", channel="web") >= 1500
    metrics.handoff("queued")
    assert value("guide_handoffs_total", event="queued") >= 1


def test_bad_calls_are_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    metrics.count("no_such_counter")
    metrics.count("handoffs", colour="red")
    metrics.count("errors", amount=-1, where="x")
    assert "unknown counter" in caplog.text and "has no labels" in caplog.text


def test_queue_lengths_are_read_from_redis_at_scrape_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    prefix = "guide:test-metrics:"
    client.delete(*[prefix + k for k in ("list", "zset", "stream")])
    client.rpush(prefix + "list", "a", "b", "c")
    client.zadd(prefix + "zset", {"x": 1, "y": 2})
    client.xadd(prefix + "stream", {"k": "v"})
    keys = {"waiting": prefix + "list", "scheduled": prefix + "zset", "events": prefix + "stream", "missing": prefix + "none"}
    metrics.set_queue_source(lambda: keys)
    try:
        assert metrics.queue_lengths(client) == {"waiting": 3, "scheduled": 2, "events": 1, "missing": 0}
        app = FastAPI()
        app.include_router(metrics.router)
        monkeypatch.setenv("REDIS_URL", REDIS_URL)
        from guide.redis import reset_client
        from guide.settings import get_settings

        get_settings.cache_clear()
        reset_client()
        text = TestClient(app).get("/metrics").text
        assert 'guide_queue_length{queue="waiting"} 3.0' in text
        assert 'guide_queue_length{queue="missing"} 0.0' in text
        assert "guide_redis_up 1.0" in text
        client.rpush(prefix + "list", "d")
        assert 'guide_queue_length{queue="waiting"} 4.0' in TestClient(app).get("/metrics").text
    finally:
        metrics.set_queue_source(None)
        monkeypatch.undo()  # the shared client must not keep pointing at this test's database
        from guide.redis import reset_client
        from guide.settings import get_settings

        get_settings.cache_clear()
        reset_client()
        client.delete(*[prefix + k for k in ("list", "zset", "stream")])


def test_scrape_answers_when_redis_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    from guide.redis import reset_client
    from guide.settings import get_settings

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:9/0")  # nothing listens on the discard port
    get_settings.cache_clear()
    reset_client()
    metrics.set_queue_source(lambda: {"waiting": "k"})
    try:
        families = {f.name: f for f in metrics.QueueCollector().collect()}
        assert families["guide_redis_up"].samples[0].value == 0
        assert families["guide_queue_length"].samples == []
    finally:
        metrics.set_queue_source(None)
        monkeypatch.undo()
        get_settings.cache_clear()
        reset_client()


def test_middleware_times_requests_by_route_template_and_passes_websockets() -> None:
    app = FastAPI()
    app.add_middleware(metrics.MetricsMiddleware)

    @app.get("/guide/{service_id}")
    def page(service_id: str) -> dict:
        return {"id": service_id}

    @app.websocket("/ws/echo")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text(await ws.receive_text())
        await ws.close()

    client = TestClient(app)
    before = value("guide_http_request_seconds_count", route="/guide/{service_id}", method="GET", status="2xx")
    assert client.get("/guide/T001").json() == {"id": "T001"}
    assert client.get("/guide/T002").status_code == 200
    assert value("guide_http_request_seconds_count", route="/guide/{service_id}", method="GET", status="2xx") == before + 2
    with client.websocket_connect("/ws/echo") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "hi"
