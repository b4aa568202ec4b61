"""``guide prereview --service ID [--json] FILE…``: pre-review files from the command line.

A FILE may be given as ``材料名=path`` (or ``catalogue_id=path``) to say which material it is; plain paths
are classified by their content.  The notice is numbered and stored like one issued in the chat, unless
``--no-store``.  Exit status: 0 when the review ran (``passed`` says the verdict), 2 on a usage error.

``guide prereview --purge`` deletes uploads, cached readings and notice evidence past retention (for cron on
hosts that run no gateway; the gateway does it hourly by itself) and prints what went.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> argparse.ArgumentParser:
    p = subparsers.add_parser("prereview", help="材料预审：检查上传的材料并出具补正告知书")
    configure(p)
    p.set_defaults(func=run)
    return p


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--service", help="主题事项编号，如 T068")
    p.add_argument("--scenario", help="情形 id（见 guide kb export）；不填则只检查必需材料")
    p.add_argument("--json", action="store_true", help='输出 JSON：{"service","passed","notice":{"number","defects":[…]}}')
    p.add_argument("--applicant-name", default="", help="申请人姓名，用于核对材料上的姓名")
    p.add_argument("--applicant-id", default="", help="申请人公民身份号码，用于核对材料上的号码")
    p.add_argument("--previous", help="上一份告知书编号（补正后重新预审时填写）")
    p.add_argument("--no-store", action="store_true", help="只检查，不编号、不保存告知书")
    p.add_argument("--purge", action="store_true", help="删除超过保存期限的上传文件、识别缓存和告知书中的识别内容，然后退出")
    p.add_argument("files", nargs="*", metavar="FILE", help="材料文件；可写成 材料名=路径 指明是哪项材料")


def _submission(arg: str, max_bytes: int):  # -> engine.Submission
    from prereview.engine import Submission

    material = None
    path = Path(arg)
    if "=" in arg and not path.exists():
        material, _, rest = arg.partition("=")
        path = Path(rest)
    if not path.is_file():
        raise FileNotFoundError(str(path))
    return Submission.from_path(path, material or None, max_bytes)


def run(args: argparse.Namespace) -> int:
    from guide.settings import get_settings
    from knowledge.base import current
    from prereview.engine import Applicant, UnknownService, review
    from prereview.notices import Notice
    from prereview.render import chat_messages

    settings = get_settings()
    if args.purge:
        from prereview.retention import purge_all

        done = purge_all(settings)
        print(json.dumps(done) if args.json else
              f"已删除：上传文件{done['uploads']}个，识别缓存{done['readings']}条，告知书识别内容{done['notices']}份")
        return 0
    if not args.service or not args.files:
        print("请用 --service 指定事项编号，并给出至少一个材料文件（或用 --purge 清理过期数据）", file=sys.stderr)
        return 2
    try:
        subs = [_submission(a, int(settings.prereview_max_upload_mb * 1e6)) for a in args.files]
    except FileNotFoundError as exc:
        print(f"找不到文件：{exc}", file=sys.stderr)
        return 2
    kb = current()
    applicant = Applicant(args.applicant_name, args.applicant_id.upper()) if (args.applicant_name or args.applicant_id) else None
    try:
        result = review(args.service, subs, args.scenario, applicant, args.previous, kb=kb)
    except UnknownService:
        print(f"没有编号为 {args.service} 的主题事项", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if args.no_store:
        from datetime import date

        notice = Notice("（未编号）", "unsaved", date.today().year, 0, date.fromisoformat(result.review_date), None,
                        args.previous, None, result)
    else:
        from prereview import issue_notice

        notice = issue_notice(result, kb=kb, actor="cli")
    if args.json:
        print(json.dumps(notice.to_json(settings.base_url), ensure_ascii=False, indent=1))
    else:
        print("\n\n".join(chat_messages(notice, settings.base_url)))
    return 0


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="guide prereview", description="材料预审")
    configure(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
