"""Routing evaluation on the held-out set, with the BM25-over-knowledge-base baseline in the same run.

Definitions (printed with the figures):
- top-1: the first service offered is the right one and the question was not rejected;
- top-3: the right one is among the first three and the question was not rejected;
- out-of-scope rejection: share of out-of-scope questions the router declines;
- false rejection: share of in-scope questions the router declines.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import yaml

from bot.routing import NOT_A_SERVICE, OUT_OF_SCOPE, RouteDecision
from guide.settings import ROOT

HELDOUT = ROOT / "tests" / "eval" / "routing_heldout.yml"
TARGETS = {"top1": 0.95, "top3": 0.99, "oos_rejection": 0.95, "false_rejection": 0.03}


@dataclass
class Scores:
    top1: float
    top3: float
    oos_rejection: float
    false_rejection: float

    def row(self, name: str) -> str:
        return f"{name:<28}{self.top1:>8.1%}{self.top3:>8.1%}{self.oos_rejection:>12.1%}{self.false_rejection:>12.1%}"


def load_heldout(path: Path = HELDOUT) -> Tuple[List[Tuple[str, str]], List[str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    ins = [(str(x["text"]), str(x["service"])) for x in data["in_scope"]]
    outs = [str(x["text"]) for x in data["out_of_scope"]]
    return ins, outs


def score(ranked_in: Sequence[Tuple[List[str], bool]], gold: Sequence[str], rejected_out: Sequence[bool]) -> Scores:
    n = len(gold)
    top1 = sum(1 for (r, rej), g in zip(ranked_in, gold) if not rej and r[:1] == [g]) / n
    top3 = sum(1 for (r, rej), g in zip(ranked_in, gold) if not rej and g in r[:3]) / n
    false_rej = sum(1 for _, rej in ranked_in if rej) / n
    oos = sum(1 for rej in rejected_out if rej) / max(1, len(rejected_out))
    return Scores(top1, top3, oos, false_rej)


def rejected(d: RouteDecision) -> bool:
    return d.kind in (OUT_OF_SCOPE, NOT_A_SERVICE)


def bm25_baseline(index, ins: Sequence[Tuple[str, str]], outs: Sequence[str]) -> Tuple[Scores, float]:  # type: ignore[no-untyped-def]
    """Plain BM25 ranking; its rejection threshold is the one that is best for it on this very set."""
    ids = [s.id for s in index.services]

    def ranked(text: str) -> Tuple[List[str], float]:
        raw = index.bm25_scores(text)
        order = np.argsort(-raw)[:5]
        return [ids[i] for i in order if raw[i] > 0], float(raw.max()) if raw.size else 0.0

    rin = [ranked(t) for t, _ in ins]
    rout = [ranked(t)[1] for t in outs]
    best: Tuple[float, Scores] | None = None
    for thr in np.linspace(0, max([s for _, s in rin] + [1.0]), 60):
        sc = score([(r, s < thr) for r, s in rin], [g for _, g in ins], [s < thr for s in rout])
        objective = sc.top1 + sc.oos_rejection
        if best is None or objective > best[0] + 1e-9:
            best = (objective, sc)
            best_thr = float(thr)
    assert best is not None
    return best[1], best_thr


def run(model: Path | None = None, show_errors: int = 25) -> Dict[str, float]:
    from bot.runner import NLURunner
    from knowledge.base import current

    ins, outs = load_heldout()
    kb = current()
    missing = sorted({g for _, g in ins if g not in kb.services})
    if missing:
        print(f"注意：知识库缺少 {len(missing)} 个事项，跳过它们的 {sum(1 for _, g in ins if g in missing)} 条问题")
        ins = [(t, g) for t, g in ins if g in kb.services]
    runner = NLURunner(model)
    started = time.time()
    dec_in = [runner.route(t) for t, _ in ins]
    dec_out = [runner.route(t) for t in outs]
    per_q = (time.time() - started) / (len(ins) + len(outs))
    ours = score([([s["id"] for s in d.services], rejected(d)) for d in dec_in], [g for _, g in ins], [rejected(d) for d in dec_out])
    base, thr = bm25_baseline(kb.index, ins, outs)

    print(f"模型：{runner.model_path.name}（加载 {runner.load_seconds:.1f} 秒）")
    print(f"留出集：{len(ins)} 条事项内问题（覆盖 {len(set(g for _, g in ins))} 个事项），{len(outs)} 条事项外问题；平均每条 {per_q * 1000:.0f} ms")
    print(f"{'':<28}{'top-1':>8}{'top-3':>8}{'OOS拒识':>10}{'误拒率':>10}")
    print(ours.row("混合路由（本系统）"))
    print(base.row(f"BM25基线（阈值{thr:.2f}）"))
    print(f"{'目标':<28}{TARGETS['top1']:>8.0%}{TARGETS['top3']:>8.0%}{TARGETS['oos_rejection']:>12.0%}{'≤' + format(TARGETS['false_rejection'], '.0%'):>12}")
    kinds = Counter(d.kind for d in dec_in)
    print("事项内问题的决策：" + "，".join(f"{k} {v}" for k, v in kinds.most_common()))
    errors = [(t, g, d) for (t, g), d in zip(ins, dec_in) if rejected(d) or not d.services or d.services[0]["id"] != g]
    if errors and show_errors:
        print(f"\n路由错误（前 {min(show_errors, len(errors))} / {len(errors)} 条）：")
        for t, g, d in errors[:show_errors]:
            got = d.services[0]["id"] if d.services else "-"
            print(f"  [{d.kind} {d.confidence:.2f}] {t}  → {got}，应为 {g} {kb.services[g].name if g in kb.services else ''}")
    oos_errors = [(t, d) for t, d in zip(outs, dec_out) if not rejected(d)]
    if oos_errors and show_errors:
        print(f"\n未拒识的事项外问题（{len(oos_errors)} 条）：")
        for t, d in oos_errors[:show_errors]:
            print(f"  [{d.kind} {d.confidence:.2f}] {t} → {d.services[0]['name'] if d.services else '-'}")
    return {"top1": ours.top1, "top3": ours.top3, "oos_rejection": ours.oos_rejection, "false_rejection": ours.false_rejection,
            "bm25_top1": base.top1, "bm25_top3": base.top3}
