"""Load benchmark: plain Rasa against our full stack, side by side in one run.

    .venv/bin/python -m bench.load [--quick]        (``make bench`` calls ``run_all``)

Simulated residents (asyncio + httpx) follow realistic conversations: a service question,
follow-ups (materials, time, fee, place), a pre-review upload and a rating.

* **plain Rasa**: a minimal bot (``bench/plain_rasa``: our NLU pipeline and NLU data, fixed
  responses, no custom actions) behind Rasa's REST webhook, with the same Redis tracker and
  lock stores.  Its "upload" is the ``/upload_received`` intent and its rating a "非常满意" turn.
* **ours**: the gateway (POST /api/chat, POST /api/webchat/upload with a real photo,
  POST /api/webchat/rating) → Rasa → action server → knowledge base, pre-review, Redis.

Levels 1, 20 and 100 residents are *closed loop* (each resident sends its next message
when the answer arrives): messages per second there is the capacity of the system.  A
last level has 100 residents who read and type (2–6 s between messages), the load a
real desk sees: its p95 is the latency target (≤ 1 s).  Uploads and their failures are
counted apart (the endpoint may be under construction); per-kind latencies are reported.

Also measured: cold start of our stack (spawn → /readyz), memory of every process,
WeChat acknowledgement latency (signed XML pushes to /wechat), pre-review images per
second.  One JSON line per run is appended to ``bench/history.jsonl``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import httpx

from bench.stack import Stack, free_port, machine_redis, rss_by_process
from guide.settings import ROOT, get_settings

HISTORY = Path(__file__).resolve().parent / "history.jsonl"
UPLOAD, RATING = "<upload>", "<rating>"
CONVERSATIONS: List[List[str]] = [
    ["宝宝刚出生要办什么", "要带什么材料", "多久能办好", "收费吗", "帮我预审材料", UPLOAD, RATING],
    ["公司不干了怎么注销", "需要什么材料", "在哪里办", "能网上办吗", "我要预审", UPLOAD, RATING],
    ["身份证丢了怎么补办", "要什么材料", "多久能拿到", "要钱吗", "材料预审", UPLOAD, RATING],
    ["退休手续怎么办", "需要带哪些材料", "什么时候可以办", "上传材料", UPLOAD, RATING],
    ["开饭馆要办哪些证", "要准备什么", "多长时间能办好", "在哪儿办", "帮我看看材料齐不齐", UPLOAD, RATING],
]
CAPACITY_LEVELS = (1, 20, 100)
REALISTIC_RESIDENTS = 100
ROUNDS = 3  # alternating rounds per level and system
THINK = (2.0, 6.0)
REDIS_DB_OURS, REDIS_DB_PLAIN, REDIS_DB_OURS_SCALED = 11, 9, 10
DEPLOYED_RASA_WORKERS = 2  # this machine's cores: how we run our stack here (RASA_WORKERS)


def percentile(values: List[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1)))))
    return ordered[k]


def upload_image() -> bytes:
    """A real photographed ID card (the pre-review corpus), reduced to a phone upload's typical size."""
    import random as _random

    from prereview import corpus

    rng = _random.Random(7)
    img = corpus.id_front(corpus.make_person(rng))
    img = corpus.photograph(img)
    img.thumbnail((1000, 1000))
    return corpus.jpg(img, quality=85)


# ----------------------------------------------------------------- targets

class Target:
    name = ""

    async def open(self, resident: int, conv: int) -> None: ...

    async def close(self) -> None: ...

    async def step(self, text: str) -> Tuple[str, bool, str]:
        """Send one step; returns (kind, ok, error)."""
        raise NotImplementedError


class PlainRasa(Target):
    name = "plain_rasa"

    def __init__(self, base: str, client: httpx.AsyncClient) -> None:
        self.base, self.client, self.sender = base, client, ""

    async def open(self, resident: int, conv: int) -> None:
        self.sender = f"bench-{resident}-{conv}-{random.getrandbits(32):x}"

    async def step(self, text: str) -> Tuple[str, bool, str]:
        kind = "upload" if text == UPLOAD else "rating" if text == RATING else "text"
        message = {UPLOAD: '/upload_received{"upload": "bench.jpg"}', RATING: "非常满意"}.get(text, text)
        r = await self.client.post(f"{self.base}/webhooks/rest/webhook", json={"sender": self.sender, "message": message})
        ok = r.status_code == 200 and bool(r.json())
        return kind, ok, "" if ok else f"http {r.status_code}"


class Ours(Target):
    name = "ours"

    def __init__(self, base: str, image: bytes, transport: httpx.AsyncHTTPTransport) -> None:
        self.base, self.image, self.transport = base, image, transport
        self.client: Optional[httpx.AsyncClient] = None

    async def open(self, resident: int, conv: int) -> None:
        # a new conversation is a new resident cookie; the connection pool is the level's (a client of its own
        # would build an SSL context per conversation: ~6 ms of the load generator's CPU per message, taken
        # from the machine both systems share)
        self.client = httpx.AsyncClient(base_url=self.base, timeout=60, transport=self.transport, trust_env=False)

    async def close(self) -> None:
        self.client = None  # not aclose(): that would close the shared transport

    async def step(self, text: str) -> Tuple[str, bool, str]:
        from channels import ui_text

        assert self.client is not None
        if text == UPLOAD:
            r = await self.client.post("/api/webchat/upload", files={"file": ("id-front.jpg", self.image, "image/jpeg")})
            ok = r.status_code == 200 and r.json().get("ok") is True
            return "upload", ok, "" if ok else f"http {r.status_code} {r.text[:80]}"
        if text == RATING:
            r = await self.client.post("/api/webchat/rating", json={"level": 5})
            return "rating", r.status_code == 200, "" if r.status_code == 200 else f"http {r.status_code}"
        r = await self.client.post("/api/chat", json={"text": text})
        if r.status_code != 200:
            return "text", False, f"http {r.status_code}"
        texts = [m.get("text") for m in r.json().get("messages", [])]
        if ui_text.BOT_UNAVAILABLE in texts:
            return "text", False, "bot_unavailable"
        if ui_text.CHAT_TOO_FAST in texts:
            return "text", False, "rate_limited"
        return "text", bool(texts), "" if texts else "empty"


# ----------------------------------------------------------------- one level

@dataclass
class Level:
    residents: int
    seconds: float
    think: Tuple[float, float] = (0.0, 0.0)
    samples: List[Tuple[str, float, bool, str]] = field(default_factory=list)
    wall: float = 0.0

    def summary(self) -> Dict[str, Any]:
        ok = [s for s in self.samples if s[2]]
        lat = [s[1] * 1000 for s in ok]
        out: Dict[str, Any] = {
            "residents": self.residents, "think_s": list(self.think), "seconds": round(self.wall, 1),
            "messages": len(self.samples), "ok": len(ok), "errors": len(self.samples) - len(ok),
            "msgs_per_s": round(len(ok) / self.wall, 2) if self.wall else 0.0,
            "p50_ms": round(percentile(lat, 50), 1), "p95_ms": round(percentile(lat, 95), 1), "p99_ms": round(percentile(lat, 99), 1),
            "by_kind": {},
        }
        for kind in ("text", "upload", "rating"):
            ks = [s for s in self.samples if s[0] == kind]
            kl = [s[1] * 1000 for s in ks if s[2]]
            errors: Dict[str, int] = {}
            for s in ks:
                if not s[2]:
                    errors[s[3][:40]] = errors.get(s[3][:40], 0) + 1
            out["by_kind"][kind] = {"n": len(ks), "ok": len(kl), "p50_ms": round(percentile(kl, 50), 1),
                                    "p95_ms": round(percentile(kl, 95), 1), "errors": errors}
        return out


async def _resident(make, idx: int, level: Level, deadline: float) -> None:  # type: ignore[no-untyped-def]
    target: Target = make()
    rng = random.Random(idx)
    conv = 0
    try:
        await asyncio.sleep(rng.uniform(0, min(2.0, level.seconds / 5)))  # residents do not all arrive at once
        while time.time() < deadline:
            script = CONVERSATIONS[(idx + conv) % len(CONVERSATIONS)]
            await target.open(idx, conv)
            for text in script:
                if time.time() >= deadline:
                    break
                started = time.perf_counter()
                try:
                    kind, ok, err = await target.step(text)
                except (httpx.HTTPError, ValueError) as exc:
                    kind, ok, err = ("upload" if text == UPLOAD else "rating" if text == RATING else "text"), False, type(exc).__name__
                level.samples.append((kind, time.perf_counter() - started, ok, err))
                if level.think[1] > 0:
                    await asyncio.sleep(rng.uniform(*level.think))
            conv += 1
    finally:
        await target.close()


async def run_level(make, residents: int, seconds: float, think: Tuple[float, float] = (0.0, 0.0),  # type: ignore[no-untyped-def]
                    level: Optional[Level] = None) -> Dict[str, Any]:
    """Run ``residents`` for ``seconds``; with ``level`` given, add to its samples (one round of several)."""
    level = level or Level(residents, seconds, think)
    started = time.time()
    deadline = started + seconds
    await asyncio.gather(*(_resident(make, i, level, deadline) for i in range(residents)))
    level.wall += time.time() - started
    return level.summary()


def run_side_by_side(makes: Dict[str, Any], residents: int, seconds: float, think: Tuple[float, float],
                     rounds: int) -> Dict[str, Dict[str, Any]]:
    """Both systems in alternating rounds (A B A B …), ``seconds`` each in all: slow drifts of a shared,
    noisy machine fall on both sides instead of on whichever ran second."""
    levels = {name: Level(residents, seconds, think) for name in makes}
    for _ in range(rounds):
        for name, make in makes.items():
            make.reset()
            asyncio.run(run_level(make, residents, seconds / rounds, think, level=levels[name]))
    return {name: level.summary() for name, level in levels.items()}


def _print_level(out, label: str, s: Dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    up = s["by_kind"]["upload"]
    out(f"    {label:<26} {s['msgs_per_s']:>7.1f} 条/秒  p50 {s['p50_ms']:>7.0f} ms  p95 {s['p95_ms']:>7.0f} ms  "
        f"p99 {s['p99_ms']:>7.0f} ms  错误 {s['errors']}（上传 {up['n'] - up['ok']}/{up['n']}）")


# ----------------------------------------------------------------- the two systems

@contextlib.contextmanager
def plain_rasa_up(out=print) -> Iterator[Tuple[Callable[[], Target], Dict[str, Any], List[Any]]]:  # type: ignore[no-untyped-def]
    """Plain Rasa running: yields (target factory, result dict, processes)."""
    from bench import plain_rasa as plain
    from guide.supervisor import Process, redis_env

    t = time.time()
    model = plain.build(test=True)
    out(f"  plain Rasa 模型 {model.name}（构建/缓存 {time.time() - t:.0f} 秒）")
    url = machine_redis(REDIS_DB_PLAIN)
    if url is None:
        raise RuntimeError("plain Rasa needs the machine's Redis on 127.0.0.1:6379")
    import redis

    redis.Redis.from_url(url).flushdb()
    endpoints = plain.OUT / "endpoints.yml"
    # our tracker and lock stores (Redis), no action endpoint
    endpoints.write_text("tracker_store:" + (ROOT / "endpoints.yml").read_text().split("tracker_store:", 1)[1])
    port = free_port()
    log_dir = ROOT / "var" / "bench" / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **redis_env(url), "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = Process("plain-rasa", [str(Path(sys.executable).parent / "rasa"), "run", "--enable-api", "--model", str(model),
                                  "--port", str(port), "--interface", "127.0.0.1", "--endpoints", str(endpoints),
                                  "--credentials", str(ROOT / "credentials.yml")],
                   f"http://127.0.0.1:{port}/status", env, log_dir, 300,
                   get_settings().worker_nice)  # the same priority as our Rasa: the load generator is treated alike
    base = f"http://127.0.0.1:{port}"
    result: Dict[str, Any] = {"model": model.name}
    try:
        t = time.time()
        proc.start()
        proc.wait_ready()
        result["cold_start_s"] = round(time.time() - t, 1)
        for i in range(3):  # first turns load lazily (jieba, the knowledge base behind our router component)
            httpx.post(f"{base}/webhooks/rest/webhook", json={"sender": f"warm-{i}", "message": CONVERSATIONS[i][0]}, timeout=180)
        out(f"  plain Rasa 就绪 {result['cold_start_s']} 秒")
        client_holder: Dict[str, httpx.AsyncClient] = {}

        def make() -> Target:  # one shared client per level (asyncio.run makes a new loop for every level)
            if "c" not in client_holder:
                client_holder["c"] = httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=200))
            return PlainRasa(base, client_holder["c"])

        make.reset = client_holder.clear  # type: ignore[attr-defined]
        yield make, result, [proc]
    finally:
        proc.stop()
        redis.Redis.from_url(url).flushdb()


def wechat_ack(front: str, token: str, n: int = 30, concurrency: int = 5) -> Dict[str, Any]:
    """Signed plain-mode text pushes to /wechat: time until WeChat would get its answer (passive reply or success)."""

    def signed() -> str:
        ts, nonce = str(int(time.time())), str(random.getrandbits(40))
        sig = hashlib.sha1("".join(sorted([token, ts, nonce])).encode()).hexdigest()
        return f"/wechat?signature={sig}&timestamp={ts}&nonce={nonce}"

    def body(i: int) -> str:
        text = CONVERSATIONS[i % len(CONVERSATIONS)][i // len(CONVERSATIONS) % 4]
        return (f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[o_bench_{i // 4}]]></FromUserName>"
                f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
                f"<Content><![CDATA[{text}]]></Content><MsgId>{10**15 + i}</MsgId></xml>")

    async def go() -> Tuple[List[float], List[str], int]:
        lat: List[float] = []
        errors: List[str] = []
        passive = 0
        sem = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(base_url=front, timeout=10) as c:
            async def one(i: int) -> None:
                nonlocal passive
                async with sem:
                    t = time.perf_counter()
                    r = await c.post(signed(), content=body(i).encode(), headers={"Content-Type": "text/xml"})
                    ms = (time.perf_counter() - t) * 1000
                    if r.status_code != 200:
                        errors.append(f"http {r.status_code}")
                        return
                    lat.append(ms)
                    passive += r.text.strip() not in ("success", "")
            await asyncio.gather(*(one(i) for i in range(n)))
        return lat, errors, passive

    lat, errors, passive = asyncio.run(go())
    return {"n": n, "concurrency": concurrency, "ok": len(lat), "errors": errors[:5], "passive_replies": passive,
            "p50_ms": round(percentile(lat, 50), 1), "p95_ms": round(percentile(lat, 95), 1), "max_ms": round(max(lat or [0]), 1)}


def prereview_rate(images: int) -> Dict[str, Any]:
    """Pre-review of distinct photographed ID cards in this process (no reading cache hits): images per second."""
    import random as _random

    from prereview import corpus, engine

    rng = _random.Random(11)
    files = [(f"id-{i}.jpg", corpus.jpg(corpus.photograph(corpus.id_front(corpus.make_person(rng))))) for i in range(images + 1)]
    engine.review("T001", files[:1], cache=engine.MemoryCache())  # OCR models load once
    t = time.perf_counter()
    for f in files[1:]:
        engine.review("T001", [f], cache=engine.MemoryCache())
    seconds = time.perf_counter() - t
    return {"images": images, "seconds": round(seconds, 2), "images_per_s": round(images / seconds, 2)}


@contextlib.contextmanager
def ours_up(out=print, rasa_workers: int = 1, name: str = "bench",  # type: ignore[no-untyped-def]
            redis_db: int = REDIS_DB_OURS) -> Iterator[Tuple[Callable[[], Target], Dict[str, Any], Any]]:
    """Our whole stack running (gateway → Rasa with ``rasa_workers`` processes → action server, fake WeChat API):
    yields (factory, result, stack)."""
    fake_port = free_port()
    token = "bench-token-" + hex(random.getrandbits(32))[2:]
    log_dir = ROOT / "var" / "bench" / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    fake = subprocess.Popen([sys.executable, "-m", "channels.wechat.fake_server", "--port", str(fake_port),
                             "--appid", "wxbench", "--secret", "bench-secret"], cwd=str(ROOT),
                            stdout=open(log_dir / "fake-wechat.log", "ab"), stderr=subprocess.STDOUT)
    stack = Stack(name, copies=1, nginx=False, redis_db=redis_db, extra_env={
        "RASA_WORKERS": str(rasa_workers),
        "WEBCHAT_RATE_LIMIT": "1000000",  # closed-loop residents send far faster than people; the limit is not measured here
        "WECHAT_TOKEN": token, "WECHAT_APPID": "wxbench", "WECHAT_SECRET": "bench-secret",
        "WECHAT_API_BASE": f"http://127.0.0.1:{fake_port}"})
    result: Dict[str, Any] = {"wechat_token": token}
    try:
        ready = stack.start()
        result["cold_start_s"] = ready["all"]
        result["first_answer_after_ready_s"] = ready["warm"]
        result["ready_by_process_s"] = {k: v for k, v in ready.items() if k not in ("all", "warm")}
        result["model"] = stack.model.name if stack.model else ""
        out(f"  我们的全栈（Rasa {rasa_workers} 个进程）：冷启动到 /readyz {ready['all']} 秒（目标 ≤ 40 秒），之后首答预热 {ready['warm']} 秒")
        image = upload_image()
        holder: Dict[str, httpx.AsyncHTTPTransport] = {}

        def make() -> Target:  # one connection pool per level (asyncio.run makes a new loop for every level)
            if "t" not in holder:
                holder["t"] = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=200))
            return Ours(stack.front, image, holder["t"])

        make.reset = holder.clear  # type: ignore[attr-defined]
        yield make, result, stack
    finally:
        stack.stop()
        fake.terminate()
        fake.wait(timeout=10)


SYSTEMS = (("plain", "plain Rasa"), ("ours", "我们（1 进程）"), ("ours_scaled", f"我们（{DEPLOYED_RASA_WORKERS} 进程）"))


def run_all(quick: bool = False, out=print) -> Dict[str, Any]:  # type: ignore[no-untyped-def]
    """Three systems up at once, measured level by level in alternating rounds; appends one JSON line to
    bench/history.jsonl.

    * ``plain``: plain Rasa as it ships (one server process), our NLU pipeline, fixed responses;
    * ``ours``: our full stack with one Rasa process — the same Rasa capacity as plain: the throughput ratio
      ours/plain is the cost of everything we add (gateway, actions, knowledge base, pre-review, Redis);
    * ``ours_scaled``: our full stack as we run it on this machine (``RASA_WORKERS`` = its cores): the latency
      targets at 100 residents are this configuration's.
    """
    import psutil

    seconds = 12.0 if quick else 45.0
    report: Dict[str, Any] = {"kind": "load", "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "quick": quick,
                              "seconds_per_level": seconds, "rounds": ROUNDS, "cpus": psutil.cpu_count(),
                              "load_before": os.getloadavg()[0], "deployed_rasa_workers": DEPLOYED_RASA_WORKERS}
    out(f"负载基准（{'快速' if quick else '完整'}，每级每个系统 {seconds:.0f} 秒，分 {ROUNDS} 轮交替；本机 {report['cpus']} 核，"
        f"开始时负载 {report['load_before']:.1f}）")
    out("三个系统同时运行、轮流测量，机器负载的波动对各方一样：plain Rasa（同一 NLU 管线与数据，固定回复，无自定义动作，"
        f"1 个进程）；我们的全栈（网关 → Rasa → 动作服务器 → 知识库/预审/Redis）用 1 个 Rasa 进程（与 plain 同等算力，比值即附加开销）"
        f"和 {DEPLOYED_RASA_WORKERS} 个 Rasa 进程（本机的部署方式，延迟目标按此考核）：")
    levels = [(str(n), n, seconds, (0.0, 0.0), f"{n} 位居民（连续发送）") for n in CAPACITY_LEVELS]
    levels.append(("realistic_100", REALISTIC_RESIDENTS, max(seconds * 2, 20), THINK,
                   f"{REALISTIC_RESIDENTS} 位居民（阅读/输入 {THINK[0]:.0f}–{THINK[1]:.0f} 秒）"))
    with plain_rasa_up(out) as (plain_make, plain_result, plain_procs), \
            ours_up(out) as (ours_make, ours_result, stack), \
            ours_up(out, DEPLOYED_RASA_WORKERS, "bench-scaled", REDIS_DB_OURS_SCALED) as (scaled_make, scaled_result, scaled):
        results = {"plain": plain_result, "ours": ours_result, "ours_scaled": scaled_result}
        makes = {"plain": plain_make, "ours": ours_make, "ours_scaled": scaled_make}
        for res in results.values():
            res["levels"] = {}
        for key, n, secs, think, label in levels:
            measured = run_side_by_side(makes, n, secs, think, ROUNDS)
            for name, title in SYSTEMS:
                results[name]["levels"][key] = measured[name]
                _print_level(out, f"{title} · {label}", measured[name])
        plain_result["memory_mb"] = rss_by_process(plain_procs)
        ours_result["memory_mb"] = rss_by_process(stack.procs)
        scaled_result["memory_mb"] = rss_by_process(scaled.procs)
        scaled_result.pop("wechat_token", None)
        try:
            ours_result["wechat_ack"] = wechat_ack(stack.front, ours_result.pop("wechat_token"), n=20 if quick else 60)
            w = ours_result["wechat_ack"]
            out(f"  微信推送应答：p50 {w['p50_ms']} ms，p95 {w['p95_ms']} ms，最长 {w['max_ms']} ms（{w['ok']}/{w['n']}，被动回复 {w['passive_replies']}）")
        except Exception as exc:  # noqa: BLE001 - the WeChat channel is optional in a build
            ours_result["wechat_ack"] = {"error": str(exc)}
    report["plain_rasa"], report["ours"], report["ours_scaled"] = plain_result, ours_result, scaled_result
    try:
        report["prereview"] = prereview_rate(4 if quick else 12)
        out(f"  预审：{report['prereview']['images_per_s']} 张/秒（{report['prereview']['images']} 张不同的身份证照片，无缓存）")
    except Exception as exc:  # noqa: BLE001
        report["prereview"] = {"error": str(exc)}
    keys = [str(n) for n in CAPACITY_LEVELS] + ["realistic_100"]

    def ratio_of(name: str) -> Dict[str, Optional[float]]:
        out_: Dict[str, Optional[float]] = {}
        for key in keys:
            p, o = report["plain_rasa"]["levels"][key], report[name]["levels"][key]
            out_[key] = round(o["msgs_per_s"] / p["msgs_per_s"], 3) if p["msgs_per_s"] else None
        return out_

    report["throughput_ratio"] = ratio_of("ours")
    report["throughput_ratio_scaled"] = ratio_of("ours_scaled")
    r100 = report["ours_scaled"]["levels"]["realistic_100"]
    report["targets"] = {
        "throughput_ratio_ge_0.9": {k: (v is not None and v >= 0.9) for k, v in report["throughput_ratio"].items()},
        "p95_le_1s_at_100_realistic": r100["p95_ms"] <= 1000,
        "cold_start_le_40s": report["ours"]["cold_start_s"] <= 40,
    }
    out("\n并排（条/秒：plain Rasa / 我们 1 进程 = 比值 / 我们 %d 进程 = 比值；p95 ms）" % DEPLOYED_RASA_WORKERS)
    for key in keys:
        p, o, sc = (report[k]["levels"][key] for k in ("plain_rasa", "ours", "ours_scaled"))
        out(f"  {key:>13}: {p['msgs_per_s']:>6.1f} / {o['msgs_per_s']:>6.1f} = {report['throughput_ratio'][key]} / "
            f"{sc['msgs_per_s']:>6.1f} = {report['throughput_ratio_scaled'][key]}   "
            f"p95 {p['p95_ms']:.0f} / {o['p95_ms']:.0f} / {sc['p95_ms']:.0f} ms")
    for name, verdict in (("ours ≥ 0.9 × plain (1 进程对 1 进程)", all(report["targets"]["throughput_ratio_ge_0.9"].values())),
                          (f"p95 ≤ 1 s，100 位真实节奏居民（{DEPLOYED_RASA_WORKERS} 进程）", report["targets"]["p95_le_1s_at_100_realistic"]),
                          ("冷启动 ≤ 40 s", report["targets"]["cold_start_le_40s"])):
        out(f"  {'PASS' if verdict else 'MISS'}  {name}")
    out(f"  内存（MB）：plain {report['plain_rasa'].get('memory_mb')}；我们 {report['ours'].get('memory_mb')}；"
        f"{DEPLOYED_RASA_WORKERS} 进程 {report['ours_scaled'].get('memory_mb')}")
    HISTORY.parent.mkdir(parents=True, exist_ok=True)
    with HISTORY.open("a", encoding="utf-8") as f:
        f.write(json.dumps(report, ensure_ascii=False) + "\n")
    out(f"已追加到 {HISTORY.relative_to(ROOT)}")
    return report


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="plain Rasa vs our stack, side by side")
    parser.add_argument("--quick", action="store_true", help="12 s per level instead of 45 s")
    args = parser.parse_args(argv)
    run_all(quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
