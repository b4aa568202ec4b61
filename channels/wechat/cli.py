"""``guide wechat menu [--file F] [--check]``, ``guide wechat simulate`` and ``guide wechat bench``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    """Register ``wechat`` under the ``guide`` command's subparsers."""
    wx = sub.add_parser("wechat", help="微信公众号：发布菜单、本地模拟、压测")
    wx_sub = wx.add_subparsers(dest="wechat_command", required=True)
    menu = wx_sub.add_parser("menu", help="校验并发布自定义菜单（menu/create）")
    menu.add_argument("--file", help="菜单 YAML（默认 channels/wechat/menu.yml）")
    menu.add_argument("--check", action="store_true", help="只校验并打印将发送的 JSON，不发布")
    sim = wx_sub.add_parser("simulate", help="在终端里扮演微信用户（签名、可选加密，与微信一致）")
    sim.add_argument("--url", help="网关地址（默认 PUBLIC_BASE_URL）")
    sim.add_argument("--openid", default="o_cli_resident")
    sim.add_argument("--mode", choices=["plain", "compat", "safe"], default="plain")
    bench = wx_sub.add_parser("bench", help="并发模拟微信用户压测 /wechat")
    bench.add_argument("--url", help="网关地址（默认 PUBLIC_BASE_URL）")
    bench.add_argument("--users", type=int, default=200)
    bench.add_argument("--messages", type=int, default=3)
    wx.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.wechat_command == "menu":
        return _menu(args)
    if args.wechat_command == "simulate":
        return asyncio.run(_simulate(args))  # interactive: always the main thread of `guide`
    from channels.wechat.bench import run as bench
    from channels.wechat.bench import target_lines

    figures = bench(users=args.users, messages_per_user=args.messages, base=args.url)
    print(json.dumps(figures, ensure_ascii=False, indent=1))
    for line in target_lines(figures):
        print(line)
    return 0 if all(t["verdict"] == "PASS" for t in figures["targets"].values()) else 1


def _menu(args: argparse.Namespace) -> int:
    from channels.wechat import menu
    from channels.wechat.token import WeChatAPIError
    from guide.settings import get_settings

    path = Path(args.file) if args.file else None
    try:
        doc = menu.load(path)
    except (menu.MenuError, OSError, ValueError) as exc:
        print(f"菜单文件有误：{exc}", file=sys.stderr)
        return 1
    if args.check:
        print(json.dumps(menu.for_wechat(doc), ensure_ascii=False, indent=1))
        return 0
    if not get_settings().wechat_appid or not get_settings().wechat_secret:
        print("未配置 WECHAT_APPID / WECHAT_SECRET，无法发布菜单", file=sys.stderr)
        return 1
    from channels.wechat.bench import run_coroutine

    try:
        run_coroutine(menu.publish(path))
    except WeChatAPIError as exc:
        print(f"微信拒绝了菜单（错误码 {exc.errcode}）：{exc.errmsg}", file=sys.stderr)
        return 1
    print(f"菜单已发布到 {get_settings().wechat_api_base}", file=sys.stderr)
    return 0


async def _simulate(args: argparse.Namespace) -> int:
    import httpx

    from channels.wechat.simulator import Account, message_xml, post, read_reply
    from guide.settings import get_settings

    settings = get_settings()
    account = Account.from_settings()
    if not account.token:
        print("未配置 WECHAT_TOKEN", file=sys.stderr)
        return 1
    base = (args.url or settings.base_url).rstrip("/")
    api = settings.wechat_api_base.rstrip("/")
    print(f"以 {args.openid} 的身份向 {base}/wechat 发消息（{args.mode}）。输入 /关注、/菜单 KEY、/图片 文件 或文字；exit 退出。")
    seen = 0
    async with httpx.AsyncClient(timeout=10) as http:
        try:
            r = await http.get(f"{api}/fake/sent", params={"touser": args.openid})
            seen = max([m["seq"] for m in r.json().get("sent", [])] or [0])
        except (httpx.HTTPError, ValueError):
            api = ""  # a real WeChat API: 客服 messages cannot be shown here
        while True:
            try:
                line = await asyncio.to_thread(input, "您：")
            except (EOFError, KeyboardInterrupt):
                print()
                return 0
            line = line.strip()
            if line in ("exit", "quit", "退出"):
                return 0
            if not line:
                continue
            if line == "/关注":
                xml, _ = message_xml(args.openid, "subscribe")
            elif line.startswith("/菜单 "):
                xml, _ = message_xml(args.openid, "click", event_key=line.split(" ", 1)[1].strip())
            elif line.startswith("/图片 ") and api:
                data = Path(line.split(" ", 1)[1].strip()).read_bytes()
                media = (await http.post(f"{api}/fake/media", content=data, headers={"Content-Type": "image/jpeg"})).json()
                xml, _ = message_xml(args.openid, "image", media_id=media["media_id"])
            else:
                xml, _ = message_xml(args.openid, "text", line)
            r = await post(http, base, account, xml, args.mode)
            text = read_reply(account, r.text) if r.status_code == 200 else f"（HTTP {r.status_code}：{r.text}）"
            if text:
                print("公众号：" + text.replace("\n", "\n        "))
            if api:
                await asyncio.sleep(0.5)
                for _ in range(20):
                    sent = (await http.get(f"{api}/fake/sent", params={"touser": args.openid, "after": seen})).json()["sent"]
                    for m in sent:
                        seen = max(seen, m["seq"])
                        print("客服消息：" + (m.get("text") or {}).get("content", "").replace("\n", "\n          "))
                    if sent or text:
                        break
                    await asyncio.sleep(0.5)
