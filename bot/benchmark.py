"""Routing benchmarks: training time, model load, and one message through NLU + action for one resident.

Figures are printed, never asserted: this machine is shared and noisy.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Dict, List

from guide.settings import ROOT

CONVERSATION = [
    "你好", "宝宝刚出生要办什么", "1", "要带什么材料", "多久能办好", "收费吗", "能网上办吗",
    "公司不干了怎么注销", "需要什么材料", "在哪里办", "谢谢",
]


def percentile(values: List[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1)))))
    return ordered[k]


def knowledge_figures() -> Dict[str, float]:
    """Loading the published guides from the database and building the search index."""
    from guide.settings import get_settings
    from knowledge.base import from_store
    from knowledge.search import build_index
    from knowledge.store import Store

    store = Store(get_settings().db_url)
    t = time.perf_counter()
    kb = from_store(store)
    load = time.perf_counter() - t
    t = time.perf_counter()
    build_index(kb.services.values())
    cold = time.perf_counter() - t
    t = time.perf_counter()
    index = build_index(kb.services.values())  # what a published edit costs: the dictionary is already loaded
    build = time.perf_counter() - t
    queries = ["宝宝刚出生要办什么", "公司不干了怎么注销", "身份证丢了怎么补办", "退休手续怎么办", "开饭馆要办哪些证"] * 20
    t = time.perf_counter()
    for q in queries:
        index.search(q)
    per_query = (time.perf_counter() - t) / len(queries) * 1000
    print(f"知识库：从数据库加载 {len(kb.services)} 个事项 {load * 1000:.0f} ms；建检索索引 {build * 1000:.0f} ms（进程首次含加载 jieba 词典 {cold * 1000:.0f} ms；目标 < 1 秒）；每次检索 {per_query:.1f} ms")
    return {"kb_load_ms": round(load * 1000), "index_build_ms": round(build * 1000), "index_build_cold_ms": round(cold * 1000), "search_ms": round(per_query, 2)}


def run(model: Path | None = None, rounds: int = 10) -> Dict[str, float]:
    from bot.local import LocalBot

    knowledge_figures()
    started = time.time()
    bot = LocalBot(model)
    load = time.time() - started
    try:
        bot.send("warmup", "你好")
        latencies: List[float] = []
        for r in range(rounds):
            sender = f"bench-{r}"
            for text in CONVERSATION:
                t = time.perf_counter()
                bot.send(sender, text)
                latencies.append((time.perf_counter() - t) * 1000)
    finally:
        bot.close()
    training = {}
    last = ROOT / "var" / "training" / "last_training.json"
    if last.exists():
        training = json.loads(last.read_text())
    figures = {
        "training_seconds": float(training.get("seconds", 0.0)),
        "model_load_seconds": round(load, 1),
        "message_p50_ms": round(statistics.median(latencies), 1),
        "message_p95_ms": round(percentile(latencies, 95), 1),
        "messages": len(latencies),
    }
    print("路由基准（单个居民，NLU + 动作服务器，真实 HTTP）")
    if training:
        print(f"  最近一次训练：{training.get('model')}，{training.get('seconds')} 秒（目标 ≤ 600 秒）")
    print(f"  模型加载（含动作服务器启动）：{load:.1f} 秒（目标 ≤ 30 秒）")
    print(f"  每条消息：p50 {figures['message_p50_ms']} ms，p95 {figures['message_p95_ms']} ms，共 {len(latencies)} 条（目标 p50 ≤ 50 ms，p95 ≤ 150 ms）")
    return figures
