"""Soak: steady load on the whole stack for a long time; memory of every process over time, and every error.

    .venv/bin/python -m bench.soak --minutes 30 [--residents 20]

Residents follow the benchmark's conversations (route → follow-ups → upload → rating)
with 1–3 s between messages, through the gateway, for the whole duration.  Every
``--every`` seconds the resident memory (RSS, children included) of each process is
printed.  At the end: errors by kind, and memory growth per process comparing the
first samples after warm-up with the last ones (growth > 15 % and > 30 MB is flagged).
One JSON line (``"kind": "soak"``) is appended to bench/history.jsonl.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from typing import Any, Dict, List, Optional

import httpx

from bench.load import HISTORY, Level, Ours, _resident, upload_image
from bench.stack import CpuMeter, Stack, rss_by_process

GROWTH_SHARE, GROWTH_MB = 0.15, 30.0


def growth(series: List[Dict[str, float]], name: str) -> Dict[str, float]:
    values = [s[name] for s in series if name in s]
    if len(values) < 4:
        return {"first_mb": values[0] if values else 0.0, "last_mb": values[-1] if values else 0.0, "growth_mb": 0.0}
    k = max(1, len(values) // 5)
    first = statistics.mean(values[1:1 + k]) if len(values) > k + 1 else values[0]  # skip the sample taken during warm-up
    last = statistics.mean(values[-k:])
    return {"first_mb": round(first, 1), "last_mb": round(last, 1), "growth_mb": round(last - first, 1),
            "growth_share": round((last - first) / first, 3) if first else 0.0}


async def _soak(stack: Stack, minutes: float, residents: int, every: float, out) -> Dict[str, Any]:  # type: ignore[no-untyped-def]
    image = upload_image()
    level = Level(residents, minutes * 60, think=(1.0, 3.0))
    deadline = time.time() + minutes * 60
    started = time.time()
    series: List[Dict[str, float]] = []

    cpu = CpuMeter(stack.procs)
    cpu.sample()
    cpu_series: List[Dict[str, float]] = []

    async def sampler() -> None:
        last_n = 0
        while time.time() < deadline:
            rss = rss_by_process(stack.procs)
            series.append(rss)
            shares = cpu.sample()
            if shares:
                cpu_series.append(shares)
            n = len(level.samples)
            errors = sum(1 for s in level.samples if not s[2])
            rate = (n - last_n) / every if series[:-1] else 0.0
            last_n = n
            out(f"  {time.time() - started:6.0f} s  消息 {n:6d}（{rate:5.1f}/秒）错误 {errors:3d}  " +
                "  ".join(f"{k} {v:.0f}MB/{shares.get(k, 0):.0f}%" for k, v in rss.items()))
            await asyncio.sleep(every)

    transport = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=200))
    tasks = [asyncio.create_task(_resident(lambda: Ours(stack.front, image, transport), i, level, deadline)) for i in range(residents)]
    await asyncio.gather(sampler(), *tasks)
    await transport.aclose()
    series.append(rss_by_process(stack.procs))
    level.wall = time.time() - started
    summary = level.summary()
    errors: Dict[str, int] = {}
    for kind, _lat, ok, err in level.samples:
        if not ok:
            errors[f"{kind}: {err[:40]}"] = errors.get(f"{kind}: {err[:40]}", 0) + 1
    names = sorted({k for s in series for k in s})
    mem = {name: growth(series, name) for name in names}
    flagged = [n for n, g in mem.items() if g["growth_mb"] > GROWTH_MB and g.get("growth_share", 0) > GROWTH_SHARE]
    cpu_mean = {n: round(statistics.mean(c.get(n, 0.0) for c in cpu_series), 0) for n in names} if cpu_series else {}
    return {"summary": summary, "errors": errors, "memory": mem, "memory_growth_flagged": flagged, "cpu_percent_mean": cpu_mean,
            "series": series}


def run(minutes: float = 30.0, residents: int = 20, every: float = 30.0, out=print) -> Dict[str, Any]:  # type: ignore[no-untyped-def]
    stack = Stack("soak", copies=1, nginx=False, redis_db=10, extra_env={"WEBCHAT_RATE_LIMIT": "1000"})
    out(f"浸泡测试：{minutes:g} 分钟，{residents} 位居民（每条消息间隔 1–3 秒），每 {every:g} 秒记录一次内存")
    try:
        ready = stack.start()
        out(f"  就绪 {ready['all']} 秒；预热 {ready['warm']} 秒")
        result = asyncio.run(_soak(stack, minutes, residents, every, out))
        for name in [p.name for p in stack.procs]:
            if p_dead := next((p for p in stack.procs if p.name == name and p.proc.poll() is not None), None):
                result["errors"][f"{name} exited {p_dead.proc.returncode}"] = 1
    finally:
        stack.stop()
    s = result["summary"]
    out(f"\n共 {s['messages']} 条消息，{s['msgs_per_s']} 条/秒，p50 {s['p50_ms']} ms，p95 {s['p95_ms']} ms，p99 {s['p99_ms']} ms；"
        f"错误 {sum(result['errors'].values())} {result['errors'] or ''}")
    for name, g in result["memory"].items():
        out(f"  {name:<10} {g['first_mb']:>7.1f} MB → {g['last_mb']:>7.1f} MB（{g['growth_mb']:+.1f} MB）")
    out(f"平均 CPU（% 单核）：{result.get('cpu_percent_mean')}")
    out("内存增长：" + ("无" if not result["memory_growth_flagged"] else "，".join(result["memory_growth_flagged"])))
    record = {"kind": "soak", "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "minutes": minutes, "residents": residents,
              **{k: v for k, v in result.items() if k != "series"}}
    with HISTORY.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return result


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="steady load; memory per process over time; errors")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--residents", type=int, default=20)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between memory samples")
    args = parser.parse_args(argv)
    result = run(args.minutes, args.residents, args.every)
    return 0 if not result["errors"] and not result["memory_growth_flagged"] else 1


if __name__ == "__main__":
    sys.exit(main())
