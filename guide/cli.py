"""The ``guide`` console script: one door for people and scripts (contracts in ARCHITECTURE.md)."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional


def _kb_validate(args: argparse.Namespace) -> int:
    from knowledge.loader import load_sources
    from knowledge.validate import check_sources

    src = load_sources()
    problems = check_sources(src, require_all=not args.partial)
    if args.only:
        wanted = set(args.only.split(","))
        problems = [p for p in problems if any(w in p.file for w in wanted)]
    for p in problems:
        print(p)
    errors = [p for p in problems if p.severity == "error"]
    print(f"{len(src.services)} 个主题事项，{len(src.materials)} 种材料；{len(errors)} 个错误，{len(problems) - len(errors)} 个警告", file=sys.stderr)
    return 1 if errors else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="guide", description="在线导办助手命令行")
    sub = parser.add_subparsers(dest="command", required=True)
    kb = sub.add_parser("kb", help="知识库：校验、导入、导出、检索")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True)
    v = kb_sub.add_parser("validate", help="校验 knowledge/data 下的全部 YAML")
    v.add_argument("--partial", action="store_true", help="不要求 200 个事项齐全")
    v.add_argument("--only", help="只显示这些事项的问题，如 T001,T002")
    v.set_defaults(func=_kb_validate)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
