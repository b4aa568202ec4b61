"""The channel benchmarks on one running stack: 200 WeChat users, then 200 residents and 20 agents in handoff
(first with every agent kept busy, then with room at the desk so requests find a free agent).

Both drive real HTTP against the stack on 127.0.0.1 (the WeChat side talks to the fake WeChat API, the
handoff side signs agents in to the workbench); figures are printed and appended to bench/history.jsonl.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from typing import Any, Dict, List

from bench.load import HISTORY
from bench.stack import Stack, free_port
from guide.settings import ROOT

REDIS_DB = 11


def run(quick: bool = False, out=print) -> Dict[str, Any]:  # type: ignore[no-untyped-def]
    from channels.handoff import bench as handoff_bench
    from channels.wechat import bench as wechat_bench

    fake_port = free_port()
    log_dir = ROOT / "var" / "bench" / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    fake = subprocess.Popen([sys.executable, "-m", "channels.wechat.fake_server", "--port", str(fake_port),
                             "--appid", "wxbenchchan", "--secret", "bench-secret"], cwd=str(ROOT),
                            stdout=open(log_dir / "fake-wechat-channels.log", "ab"), stderr=subprocess.STDOUT)
    stack = Stack("bench-channels", copies=1, nginx=False, redis_db=REDIS_DB, extra_env={
        "WEBCHAT_RATE_LIMIT": "1000000", "WECHAT_TOKEN": "bench-token-" + hex(random.getrandbits(32))[2:],
        "WECHAT_APPID": "wxbenchchan", "WECHAT_SECRET": "bench-secret", "WECHAT_API_BASE": f"http://127.0.0.1:{fake_port}",
        "HANDOFF_WORKING_DAYS": "1,2,3,4,5,6,7", "HANDOFF_WORKING_HOURS": "00:00-23:59"})
    report: Dict[str, Any] = {"kind": "channels", "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "quick": quick}
    try:
        stack.start()  # also sets this process's environment to the stack's (Redis, database, WeChat account)
        from guide.settings import get_settings

        get_settings.cache_clear()
        users = 200
        out(f"微信：{users} 个模拟用户并发（签名 XML、含重试）")
        w = wechat_bench.run(users=users, messages_per_user=2 if quick else 3, base=stack.front)
        report["wechat"] = w
        out("  " + json.dumps({k: w[k] for k in w if not isinstance(w[k], (list, dict))}, ensure_ascii=False))
        out("  应答 " + json.dumps(w["ack_ms"], ensure_ascii=False))
        for line in wechat_bench.target_lines(w):
            out("  " + line)
        seconds = 60 if quick else 300
        out(f"转人工：200 位居民、20 位坐席，{seconds} 秒")
        h = handoff_bench.run(duration_s=seconds, residents=200, agents=20, base_url=stack.front)
        report["handoff"] = h
        out("  " + json.dumps({k: h[k] for k in h if not isinstance(h[k], (list, dict))}, ensure_ascii=False))
        for line in handoff_lines(h):
            out("  " + line)
        roomy_s = 60 if quick else 120
        out(f"转人工（坐席有空位）：同样 200 位居民、20 位坐席，居民评价后 20–40 秒再转人工，{roomy_s} 秒")
        room = handoff_bench.run(duration_s=roomy_s, residents=200, agents=20, base_url=stack.front,
                                 pause=handoff_bench.ROOMY_PAUSE_S)
        report["handoff_roomy"] = room
        out("  " + json.dumps({k: room[k] for k in room if not isinstance(room[k], (list, dict))}, ensure_ascii=False))
        for line in handoff_lines(room):
            out("  " + line)
    finally:
        stack.stop()
        fake.terminate()
        fake.wait(timeout=10)
    with HISTORY.open("a", encoding="utf-8") as f:
        f.write(json.dumps(report, ensure_ascii=False, default=str) + "\n")
    return report


def handoff_lines(h: Dict[str, Any]) -> List[str]:
    """The handoff figures the issue asks for, with PASS/MISS against its targets."""
    def fig(key: str) -> str:
        v = h.get(key) or {}
        return f"p50 {v.get('p50')} s，p95 {v.get('p95')} s，最大 {v.get('max')} s（n={v.get('n')}）"

    lost = h["resident_to_agent"]["lost"] + h["agent_to_resident"]["lost"]
    dup = h["resident_to_agent"]["duplicated"] + h["agent_to_resident"]["duplicated"]
    direct = (h.get("handoff_to_agent_screen_s") or {}).get("p95")
    assigned = (h.get("assignment_to_agent_screen_s") or {}).get("p95")
    ok = lambda cond: "PASS" if cond else "MISS"  # noqa: E731
    return [
        f"消息：居民→坐席 {h['resident_to_agent']['sent']} 条，坐席→居民 {h['agent_to_resident']['sent']} 条；"
        f"丢失 {lost}，重复 {dup}  [{ok(lost == 0 and dup == 0)}] 目标 0/0",
        f"转人工→坐席屏幕（有空位，立即分配）：{fig('handoff_to_agent_screen_s')}  "
        f"[{ok(direct is not None and direct < 1)}] 目标 p95 < 1 s",
        f"分配→坐席屏幕（全部 {h['handoffs']} 次转人工，含排队后分配的）：{fig('assignment_to_agent_screen_s')}  "
        f"[{ok(assigned is not None and assigned < 1)}] 目标 p95 < 1 s",
        f"排队等坐席空出（坐席满负荷时）：{fig('queued_handoff_to_agent_screen_s')}",
    ]


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
