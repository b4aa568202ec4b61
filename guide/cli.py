"""The ``guide`` console script: one door for people and scripts (contracts in ARCHITECTURE.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List


def _print_problems(problems: list) -> None:
    for p in problems:
        print(p)


def _kb_validate(args: argparse.Namespace) -> int:
    from guide.settings import get_settings
    from knowledge.loader import load_sources
    from knowledge.validate import check_sources

    src = load_sources(Path(args.data) if args.data else get_settings().data_dir)
    problems = check_sources(src, require_all=not args.partial)
    if args.only:
        wanted = set(args.only.split(","))
        problems = [p for p in problems if any(w in p.file for w in wanted)]
    _print_problems(problems)
    errors = [p for p in problems if p.severity == "error"]
    print(f"{len(src.services)} 个主题事项，{len(src.materials)} 种材料；{len(errors)} 个错误，{len(problems) - len(errors)} 个警告", file=sys.stderr)
    return 1 if errors else 0


def _kb_sync(args: argparse.Namespace) -> int:
    from guide.settings import get_settings
    from knowledge.importer import ImportRefused, sync_sources
    from knowledge.store import Store

    settings = get_settings()
    try:
        report = sync_sources(Store(settings.db_url), settings.data_dir, author=args.author)
    except ImportRefused as exc:
        _print_problems(exc.problems)
        print(f"导入被拒绝：{len(exc.problems)} 个错误，数据库未作任何修改", file=sys.stderr)
        return 1
    print(f"已发布 {len(report.published)} 个事项的新版本，{report.unchanged} 个未变化", file=sys.stderr)
    return 0


def _kb_import(args: argparse.Namespace) -> int:
    from guide.settings import get_settings
    from knowledge.base import holder
    from knowledge.importer import ImportRefused, import_path

    settings = get_settings()
    h = holder()
    h.get()  # seeds the database from YAML on first use
    try:
        report = import_path(h.store, Path(args.file), settings.data_dir, author=args.author, reason=args.reason)
    except ImportRefused as exc:
        _print_problems(exc.problems)
        print(f"导入被拒绝：{len(exc.problems)} 个错误，数据库未作任何修改", file=sys.stderr)
        return 1
    for sid, version in report.published:
        print(f"{sid} → 第 {version} 版")
    print(f"导入完成：{len(report.published)} 个事项发布新版本，{report.unchanged} 个内容未变化", file=sys.stderr)
    from knowledge.events import announce_change

    announce_change([sid for sid, _ in report.published], quiet=True)
    return 0


def _kb_export(args: argparse.Namespace) -> int:
    from knowledge.base import current
    from knowledge.importer import export_document, export_yaml

    kb = current()
    if args.yaml:
        n = export_yaml(kb, Path(args.yaml))
        print(f"已导出 {n} 个事项到 {args.yaml}", file=sys.stderr)
        return 0
    doc = export_document(kb)
    text = json.dumps(doc, ensure_ascii=False, indent=None if args.compact else 1)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text + "\n")
    return 0


def _kb_search(args: argparse.Namespace) -> int:
    from knowledge.base import current

    kb = current()
    hits = kb.index.search(" ".join(args.text), k=args.k)
    if not hits:
        print("没有找到相关事项")
        return 0
    for n, hit in enumerate(hits, 1):
        extra = f"  〔匹配：{hit.phrase}〕" if hit.phrase else ""
        print(f"{n}. {hit.service_id} {hit.name}  score={hit.score:.3f} bm25={hit.bm25:.2f}{extra}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from bot.train import train

    train(test=args.test_model, if_stale=args.if_stale)
    return 0


def _route(args: argparse.Namespace) -> int:
    from bot.routing import OUT_OF_SCOPE, RouteDecision
    from bot.runner import NLURunner
    from knowledge.text import is_meaningful, normalize

    runner = NLURunner(Path(args.model) if args.model else None)
    for line in sys.stdin:
        text = line.rstrip("\n")
        if not is_meaningful(normalize(text)):
            decision = RouteDecision(OUT_OF_SCOPE, "nlu_fallback", 0.0, 0.0, [])
        else:
            decision = runner.route(text)
        sys.stdout.write(json.dumps(decision.as_route_json(text), ensure_ascii=False) + "\n")
        sys.stdout.flush()
    return 0


def _chat(args: argparse.Namespace) -> int:
    from bot.guard import precheck
    from bot.local import LocalBot

    print("正在加载模型…", file=sys.stderr)
    with LocalBot(Path(args.model) if args.model else None) as bot:
        print("您好，我是政务服务在线导办助手。请说说您想办的事（输入 exit 退出）。")
        while True:
            try:
                text = input("您：")
            except (EOFError, KeyboardInterrupt):
                print()
                break
            if text.strip().lower() in ("exit", "quit", "退出"):
                break
            reply, clean = precheck(text)
            if reply:
                print(f"助手：{reply}")
                continue
            for message in bot.send(args.sender, clean):
                print("助手：" + message.get("text", ""))
                for b in message.get("buttons") or []:
                    print(f"      [{b.get('title')}]")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from bot.evaluate import run

    run(Path(args.model) if args.model else None, show_errors=args.errors)
    from prereview.evaluate import print_report, run_eval

    print("\n材料预审评测（合成材料语料，含干净材料与注入缺陷）")
    print_report(run_eval(verbose=False))
    return 0


def _bench(args: argparse.Namespace) -> int:
    from bot.benchmark import run

    run(Path(args.model) if args.model else None, rounds=args.rounds)
    if args.only_routing:
        return 0
    from bench import channels, load

    print()
    load.run_all(quick=args.quick)  # plain Rasa beside the full stack, 1/20/100 residents; pre-review images/s
    print()
    channels.run(quick=args.quick)  # 200 WeChat users; 200 residents + 20 agents in handoff
    return 0


def _serve(args: argparse.Namespace) -> int:
    from guide.supervisor import serve

    return serve()


def _user(args: argparse.Namespace) -> int:
    import getpass
    import os

    from channels.auth import ROLE_NAMES, AuthError, create_user, list_users, set_password

    try:
        if args.user_command == "list":
            for u in list_users():
                roles = "、".join(ROLE_NAMES.get(r, r) for r in u.roles)
                print(f"{u.username}\t{u.display_name}\t{roles}\t{u.tier}")
            return 0
        password = os.environ.get("GUIDE_PASSWORD") or getpass.getpass("密码（至少 8 位）：")
        if args.user_command == "add":
            create_user(args.username, password, args.role.split(","), args.name or args.username, args.tier,
                        [s for s in (args.skills or "").split(",") if s])
            print(f"已创建 {args.username}")
        else:
            set_password(args.username, password)
            print(f"已更新 {args.username} 的密码")
    except AuthError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="guide", description="在线导办助手命令行")
    sub = parser.add_subparsers(dest="command", required=True)

    kb = sub.add_parser("kb", help="知识库：校验、导入、导出、检索")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True)
    v = kb_sub.add_parser("validate", help="校验 YAML 源文件（结构、交叉引用、占位词）")
    v.add_argument("--partial", action="store_true", help="不要求 200 个事项齐全")
    v.add_argument("--only", help="只显示这些事项的问题，如 T001,T002")
    v.add_argument("--data", help="数据目录（默认 knowledge/data）")
    v.set_defaults(func=_kb_validate)
    sy = kb_sub.add_parser("sync", help="把 YAML 源文件同步进数据库（幂等）")
    sy.add_argument("--author", default="git")
    sy.set_defaults(func=_kb_sync)
    im = kb_sub.add_parser("import", help="导入事项：单个 YAML、YAML 目录或 export --json 的文件")
    im.add_argument("file")
    im.add_argument("--author", default="import")
    im.add_argument("--reason", default="命令行导入")
    im.set_defaults(func=_kb_import)
    ex = kb_sub.add_parser("export", help="导出已发布的指南")
    ex.add_argument("--json", action="store_true", help="JSON（默认）")
    ex.add_argument("--yaml", metavar="DIR", help="导出为 YAML 文件到目录")
    ex.add_argument("--compact", action="store_true")
    ex.add_argument("-o", "--output")
    ex.set_defaults(func=_kb_export)
    se = kb_sub.add_parser("search", help="检索事项（前 5 名及得分）")
    se.add_argument("text", nargs="+")
    se.add_argument("-k", type=int, default=5)
    se.set_defaults(func=_kb_search)
    from knowledge.excel import add_excel_commands

    add_excel_commands(kb_sub)  # guide kb export --xlsx FILE, guide kb import FILE.xlsx [--publish]

    from prereview.cli import add_parser as add_prereview

    add_prereview(sub)  # guide prereview --service ID [--json] FILE…
    from channels.wechat.cli import add_parser as add_wechat

    add_wechat(sub)  # guide wechat menu | simulate | bench

    tr = sub.add_parser("train", help="从知识库生成训练数据并训练 Rasa 模型")
    tr.add_argument("--if-stale", action="store_true", help="输入未变化时跳过")
    tr.add_argument("--test-model", action="store_true", help="训练轮数较少的测试模型")
    tr.set_defaults(func=_train)

    ro = sub.add_parser("route", help="路由：stdin 每行一个问题，stdout 每行一个 JSON")
    ro.add_argument("--model", help="模型文件（默认最新）")
    ro.set_defaults(func=_route)

    ch = sub.add_parser("chat", help="在终端里和助手对话")
    ch.add_argument("--model")
    ch.add_argument("--sender", default="terminal")
    ch.set_defaults(func=_chat)

    ev = sub.add_parser("eval", help="评测：路由准确率（含 BM25 基线）")
    ev.add_argument("--model")
    ev.add_argument("--errors", type=int, default=25, help="打印多少条错误样例")
    ev.set_defaults(func=_eval)
    be = sub.add_parser("bench", help="基准：路由延迟；全栈与 plain Rasa 并排；微信应答；转人工；预审速度；内存；冷启动")
    be.add_argument("--model")
    be.add_argument("--rounds", type=int, default=10)
    be.add_argument("--quick", action="store_true", help="shorter load levels (12 s) and a 60 s handoff run")
    be.add_argument("--only-routing", action="store_true", help="just the single-resident routing latency")
    be.set_defaults(func=_bench)

    us = sub.add_parser("user", help="工作人员账号：添加、改密码、列表（密码从 GUIDE_PASSWORD 或交互输入）")
    us_sub = us.add_subparsers(dest="user_command", required=True)
    ua = us_sub.add_parser("add", help="添加账号")
    ua.add_argument("username")
    ua.add_argument("--role", required=True, help="agent,supervisor,editor,reviewer,admin（可逗号分隔多个）")
    ua.add_argument("--name", default="", help="显示名")
    ua.add_argument("--tier", default="guide", choices=["guide", "expert"], help="坐席层级：引导专员 guide / 深度咨询专员 expert")
    ua.add_argument("--skills", default="", help="技能组（事项领域，逗号分隔）")
    up = us_sub.add_parser("passwd", help="修改密码")
    up.add_argument("username")
    us_sub.add_parser("list", help="列出账号")
    us.set_defaults(func=_user)

    sv = sub.add_parser("serve", help="启动全部服务（Redis、动作服务器、Rasa、网关）")
    sv.set_defaults(func=_serve)
    return parser


def main(argv: List[str] | None = None) -> int:
    import logging
    import os
    import warnings

    warnings.filterwarnings("ignore")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
