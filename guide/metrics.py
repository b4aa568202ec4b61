"""Prometheus metrics of the whole stack (``guide_*``), and the ``/metrics`` route.

Other modules call small functions and never touch prometheus_client directly::

    from guide import metrics
    metrics.count_message("web", "resident")
    with metrics.turn_timer("web"):          # or metrics.observe_turn("web", seconds)
        ...
    metrics.count("handoffs", event="queued")
    metrics.prereview("T001", passed=False, defect_codes=["E_BLUR"])
    metrics.wechat_error(45015, api="message/custom/send")
    metrics.upload("web", len(data))

Queue lengths are not pushed: ``set_queue_source(fn)`` gives a callable returning
``{queue name: redis key}`` and the lengths are read from Redis when Prometheus scrapes
(LLEN / XLEN / ZCARD / SCARD / HLEN by the key's type), so every gateway copy reports the
same shared figure and nothing goes stale.

Processes: each process exposes its own ``/metrics`` and Prometheus scrapes every pod
(Kubernetes: one scrape target per pod via the pod annotations in deploy/k8s).  Under
``uvicorn --workers N`` set ``PROMETHEUS_MULTIPROC_DIR`` to an empty, writable directory
before the workers start: the route then aggregates all workers' files with
prometheus_client's MultiProcessCollector (counters and histograms are summed).  Nothing
here raises into a caller: a bad label or a Redis error is logged and the caller goes on.
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from typing import Callable, Dict, Iterable, Iterator, List, Mapping, Optional

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.4, 0.6, 1.0, 1.5, 2.5, 4.0, 6.0, 10.0, 30.0)
SIZE_BUCKETS = (10_000, 50_000, 200_000, 500_000, 1_000_000, 2_000_000, 5_000_000, 10_000_000, 20_000_000)
MAX_LABEL = 64

MESSAGES = Counter("guide_messages", "Messages through the hub, by channel and kind (resident, bot, agent, system, upload)",
                   ["channel", "kind"])
TURN_SECONDS = Histogram("guide_bot_turn_seconds", "One bot turn (gateway to Rasa and back), by channel", ["channel"],
                         buckets=LATENCY_BUCKETS)
HTTP_SECONDS = Histogram("guide_http_request_seconds", "Gateway HTTP requests by route template, method and status class",
                         ["route", "method", "status"], buckets=LATENCY_BUCKETS)
HANDOFFS = Counter("guide_handoffs", "Handoff transitions (requested, queued, assigned, closed, timeout, …)", ["event"])
PREREVIEWS = Counter("guide_prereviews", "Pre-reviews finished, by service and outcome", ["service", "passed"])
DEFECTS = Counter("guide_prereview_defects", "Defects found by pre-review, by rule code", ["code"])
PREREVIEW_SECONDS = Histogram("guide_prereview_seconds", "Time to pre-review one upload", buckets=LATENCY_BUCKETS)
WECHAT_ERRORS = Counter("guide_wechat_api_errors", "WeChat API calls answered with a non-zero errcode (or failed)",
                        ["errcode", "api"])
FEED_DELAY_SECONDS = Histogram("guide_workbench_feed_delay_seconds",
                               "From a handoff change (its event time) to its write on an agent's live feed, by event type",
                               ["type"], buckets=LATENCY_BUCKETS)
WECHAT_ACK_SECONDS = Histogram("guide_wechat_ack_seconds", "Time to acknowledge one WeChat push", buckets=LATENCY_BUCKETS)
UPLOAD_BYTES = Counter("guide_upload_bytes", "Bytes uploaded by residents, by channel", ["channel"])
UPLOAD_SIZE = Histogram("guide_upload_size_bytes", "Size of one upload", ["channel"], buckets=SIZE_BUCKETS)
RATE_LIMITED = Counter("guide_rate_limited", "Requests refused or slowed by a rate limit, by scope", ["scope"])
RATINGS = Counter("guide_ratings", "好差评 ratings by level and context", ["level", "context"])
ERRORS = Counter("guide_errors", "Handled errors by where they happened (rasa_unreachable, push_failed, …)", ["where"])

_COUNTERS: Dict[str, Counter] = {
    "messages": MESSAGES,
    "handoffs": HANDOFFS,
    "prereviews": PREREVIEWS,
    "prereview_defects": DEFECTS,
    "wechat_api_errors": WECHAT_ERRORS,
    "upload_bytes": UPLOAD_BYTES,
    "rate_limited": RATE_LIMITED,
    "ratings": RATINGS,
    "errors": ERRORS,
}


def _label(value: object) -> str:
    text = "" if value is None else str(value)
    return text[:MAX_LABEL]


def count(name: str, amount: float = 1.0, **labels: object) -> None:
    """Increase the counter ``guide_<name>_total`` (``name`` without prefix/suffix, e.g. ``"handoffs"``).

    Missing labels are recorded as ``""``; an unknown counter or label is logged, never raised.
    """
    counter = _COUNTERS.get(name)
    if counter is None:
        log.error("metrics: unknown counter %r", name)
        return
    names: Iterable[str] = counter._labelnames
    unknown = set(labels) - set(names)
    if unknown:
        log.error("metrics: counter %s has no labels %s", name, sorted(unknown))
        return
    try:
        if names:
            counter.labels(**{k: _label(labels.get(k)) for k in names}).inc(amount)
        else:
            counter.inc(amount)
    except ValueError as exc:  # negative amount
        log.error("metrics: %s: %s", name, exc)


def count_message(channel: str, kind: str) -> None:
    MESSAGES.labels(channel=_label(channel), kind=_label(kind)).inc()


def observe_turn(channel: str, seconds: float) -> None:
    TURN_SECONDS.labels(channel=_label(channel)).observe(max(0.0, seconds))


@contextmanager
def turn_timer(channel: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        observe_turn(channel, time.perf_counter() - started)


def handoff(event: str) -> None:
    HANDOFFS.labels(event=_label(event)).inc()


def prereview(service: str, passed: bool, defect_codes: Iterable[str] = (), seconds: Optional[float] = None) -> None:
    PREREVIEWS.labels(service=_label(service), passed="true" if passed else "false").inc()
    for code in defect_codes:
        DEFECTS.labels(code=_label(code)).inc()
    if seconds is not None:
        PREREVIEW_SECONDS.observe(max(0.0, seconds))


def wechat_error(errcode: object, api: str = "") -> None:
    WECHAT_ERRORS.labels(errcode=_label(errcode), api=_label(api)).inc()


def feed_delay(event_type: str, seconds: float) -> None:
    FEED_DELAY_SECONDS.labels(type=_label(event_type)).observe(max(0.0, seconds))


def wechat_ack(seconds: float) -> None:
    WECHAT_ACK_SECONDS.observe(max(0.0, seconds))


def upload(channel: str, nbytes: int) -> None:
    UPLOAD_BYTES.labels(channel=_label(channel)).inc(max(0, nbytes))
    UPLOAD_SIZE.labels(channel=_label(channel)).observe(max(0, nbytes))


def observe_http(route: str, method: str, status: int, seconds: float) -> None:
    HTTP_SECONDS.labels(route=_label(route), method=_label(method), status=f"{status // 100}xx").observe(max(0.0, seconds))


# ----------------------------------------------------------------- queue lengths, read at scrape time

QueueSource = Callable[[], Mapping[str, str]]
_queue_source: Optional[QueueSource] = None
_LENGTH_BY_TYPE = {"list": "llen", "stream": "xlen", "zset": "zcard", "set": "scard", "hash": "hlen"}


def set_queue_source(source: Optional[QueueSource]) -> None:
    """``source()`` returns ``{queue name: redis key}``; lengths are read at every scrape."""
    global _queue_source
    _queue_source = source


def queue_lengths(client=None) -> Dict[str, int]:  # type: ignore[no-untyped-def]
    """The current length of every queue ``set_queue_source`` names (missing key: 0)."""
    if _queue_source is None:
        return {}
    if client is None:
        from guide.redis import get_redis

        client = get_redis()
    keys = dict(_queue_source())
    if not keys:
        return {}
    pipe = client.pipeline()
    for key in keys.values():
        pipe.type(key)
    types: List[object] = pipe.execute()
    pipe = client.pipeline()
    measured: List[str] = []
    for name, key, kind in zip(keys, keys.values(), types):
        kind = kind.decode() if isinstance(kind, bytes) else str(kind)
        if kind in _LENGTH_BY_TYPE:  # "none" (no such key) and strings count as an empty queue
            pipe.execute_command(_LENGTH_BY_TYPE[kind].upper(), key)
            measured.append(name)
    lengths = dict(zip(measured, pipe.execute())) if measured else {}
    return {name: int(lengths.get(name, 0)) for name in keys}


class QueueCollector(Collector):
    def collect(self):  # type: ignore[no-untyped-def]
        family = GaugeMetricFamily("guide_queue_length", "Length of a Redis-backed queue, read at scrape time", labels=["queue"])
        up = GaugeMetricFamily("guide_redis_up", "1 when the queue lengths could be read from Redis")
        try:
            for name, n in queue_lengths().items():
                family.add_metric([_label(name)], n)
            up.add_metric([], 1)
        except Exception as exc:  # noqa: BLE001 - a scrape must answer even with Redis down
            log.warning("metrics: queue lengths unavailable: %s", exc)
            up.add_metric([], 0)
        yield family
        yield up


_queue_collector = QueueCollector()
REGISTRY.register(_queue_collector)


# ----------------------------------------------------------------- exposition

def registry() -> CollectorRegistry:
    """The registry to expose: this process's, or all uvicorn workers' under PROMETHEUS_MULTIPROC_DIR."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        reg = CollectorRegistry()
        multiprocess.MultiProcessCollector(reg)
        reg.register(_queue_collector)
        return reg
    return REGISTRY


def render() -> bytes:
    return generate_latest(registry())


router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics_route() -> Response:
    return Response(render(), media_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    """Pure ASGI middleware timing HTTP requests by route template (WebSockets pass through untouched).

    ``app.add_middleware(MetricsMiddleware)`` in channels/gateway.py.
    """

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self.app = app

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def _send(message) -> None:  # type: ignore[no-untyped-def]
            if message.get("type") == "http.response.start":
                status["code"] = int(message.get("status", 500))
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            if template != "/metrics":
                observe_http(template, scope.get("method", ""), status["code"], time.perf_counter() - started)


def serve(port: int, addr: str = "0.0.0.0") -> None:
    """A /metrics listener in a background thread for processes without FastAPI (the action server)."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=addr, registry=registry())
