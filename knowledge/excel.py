"""Guides as an Excel workbook (.xlsx): editors live in Excel.

One sheet per concern: 事项 holds one row per service (its single-valued fields); every
list in a guide has its own sheet (单项, 材料, 情形, 常见问题, 别名 …) whose rows carry the
service id and keep their order.  Cells holding a short list (协同部门, 适用情形 …) put one
value per line (Alt+Enter in Excel).  Export → import is lossless for every service.

Import is all or nothing: every cell is converted and every guide is checked with the
validators of ``guide kb validate``; any problem names its sheet, row and column in
Chinese and nothing is written.  Decision: imported changes become changes awaiting
review (state ``in_review``, author = the importer), so an Excel round goes through the
same review as a web edit; only an admin (web: the 直接发布 box; CLI: ``--publish``)
publishes at once.  Services whose content did not change are skipped.
"""

from __future__ import annotations

import argparse
import io
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence, Tuple

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from knowledge.editing import Editor, EditRefused, FieldProblem, errors_of

# column kinds: text, int, number, bool (是/否), lines (one value per line), optbool ("" = absent)
Col = Tuple[str, str, str]  # header, dotted sub-path inside the row's object, kind


@dataclass(frozen=True)
class Sheet:
    title: str
    list_path: str  # "" for the 事项 sheet (one row per service), else the guide's list field
    columns: Tuple[Col, ...]
    scalar_items: bool = False  # the list holds plain strings (别名, 受理条件 …): one column "value"


FLAG = ("supported", "channels", "note")
SHEETS: Tuple[Sheet, ...] = (
    Sheet("事项", "", (
        ("名称", "name", "text"), ("领域", "domain", "text"), ("服务对象类别", "audience", "text"),
        ("事项类型", "item_type", "text"), ("服务对象", "service_objects", "lines"), ("事项概述", "summary", "text"),
        ("牵头部门", "lead_department", "text"), ("协同部门", "cooperating_departments", "lines"),
        ("不收费", "fee.free", "bool"), ("收费说明", "fee.note", "text"),
        ("允许容缺受理", "deferral.allowed", "bool"), ("容缺材料", "deferral.materials", "lines"),
        ("补交期限（工作日）", "deferral.deadline_days", "int"), ("容缺说明", "deferral.note", "text"),
        ("办理形式", "channels", "lines"), ("通办范围", "scope", "text"),
        ("支持预约", "appointment.supported", "bool"), ("预约渠道", "appointment.channels", "lines"), ("预约说明", "appointment.note", "text"),
        ("支持网上支付", "online_payment.supported", "bool"), ("支付渠道", "online_payment.channels", "lines"), ("支付说明", "online_payment.note", "text"),
        ("支持物流快递", "delivery.supported", "bool"), ("寄递方式", "delivery.channels", "lines"), ("寄递说明", "delivery.note", "text"),
        ("到现场次数", "visits", "int"),
    )),
    Sheet("单项", "single_items", (
        ("名称", "name", "text"), ("承办部门", "department", "text"), ("事项类型", "item_type", "text"),
        ("法定时限天数", "legal_limit.days", "int"), ("法定时限单位", "legal_limit.unit", "text"), ("法定时限说明", "legal_limit.note", "text"),
        ("承诺时限天数", "promised_limit.days", "int"), ("承诺时限单位", "promised_limit.unit", "text"), ("承诺时限说明", "promised_limit.note", "text"),
        ("前置事项", "after", "lines"), ("办理结果", "result", "text"), ("适用情形", "scenarios", "lines"), ("备注", "note", "text"),
    )),
    Sheet("材料", "materials", (
        ("材料名称", "name", "text"), ("材料目录", "catalogue", "text"), ("来源", "source", "text"), ("形式", "form", "text"),
        ("份数", "copies", "int"), ("介质", "medium", "text"), ("提供要求", "requirement", "text"),
        ("适用情形", "scenarios", "lines"), ("适用单项", "used_by", "lines"), ("持有人", "holder", "text"),
        ("有格式要求", "format", "optbool"), ("文件类型", "format.types", "lines"), ("最大MB", "format.max_mb", "number"),
        ("最小宽度", "format.min_width", "int"), ("页数", "format.pages", "text"), ("备注", "note", "text"),
    )),
    Sheet("情形", "scenarios", (("情形编码", "id", "text"), ("情形名称", "name", "text"), ("说明", "description", "text"))),
    Sheet("常见问题", "faqs", (("问题", "q", "text"), ("回答", "a", "text"))),
    Sheet("别名", "aliases", (("别名", "", "text"),), scalar_items=True),
    Sheet("居民问法", "resident_questions", (("问法", "", "text"),), scalar_items=True),
    Sheet("设定依据", "legal_basis", (("法规名称", "law", "text"), ("条款", "article", "text"), ("说明", "note", "text"))),
    Sheet("受理条件", "conditions", (("受理条件", "", "text"),), scalar_items=True),
    Sheet("收费项目", "fee.items", (("名称", "name", "text"), ("金额", "amount", "number"), ("单位", "unit", "text"), ("说明", "note", "text"))),
    Sheet("收费依据", "fee.basis", (("法规名称", "law", "text"), ("条款", "article", "text"), ("说明", "note", "text"))),
    Sheet("办理流程", "process", (("步骤", "step", "text"), ("办理主体", "actor", "text"), ("描述", "description", "text"), ("时限", "time_limit", "text"))),
    Sheet("审查标准", "review_standards", (("审查标准", "", "text"),), scalar_items=True),
    Sheet("办理地点", "places", (("办理大厅", "hall", "text"), ("窗口", "window", "text"), ("说明", "note", "text"))),
)
ID_HEADER = "事项编号"
YES, NO = "是", "否"


def _get(doc: Any, path: str) -> Any:
    for key in path.split(".") if path else []:
        if doc is None:
            return None
        doc = doc.get(key)
    return doc


def _set(doc: Dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    for key in keys[:-1]:
        doc = doc.setdefault(key, {})
    doc[keys[-1]] = value


def _cell_value(value: Any, kind: str) -> Any:
    if kind == "bool":
        return YES if value else NO
    if kind == "optbool":
        return YES if value is not None else ""
    if kind == "lines":
        return "\n".join(str(v) for v in value or [])
    if value is None:
        return None
    if kind == "number" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# ------------------------------------------------------------------ export


def export_workbook(documents: Sequence[Dict[str, Any]]) -> bytes:
    """The workbook of these guides (stored form, as from ``Store.published_services``)."""
    wb = Workbook()
    wb.remove(wb.active)
    head_font, head_fill = Font(bold=True, color="FFFFFF"), PatternFill("solid", fgColor="0B4EA2")
    for sheet in SHEETS:
        ws = wb.create_sheet(sheet.title)
        headers = [ID_HEADER] + [c[0] for c in sheet.columns]
        ws.append(headers)
        for doc in documents:
            if not sheet.list_path:
                ws.append([doc["id"]] + [_cell_value(_get(doc, p), k) for _, p, k in sheet.columns])
                continue
            for item in _get(doc, sheet.list_path) or []:
                if sheet.scalar_items:
                    ws.append([doc["id"], item])
                else:
                    ws.append([doc["id"]] + [_cell_value(_get(item, p), k) for _, p, k in sheet.columns])
        for i, h in enumerate(headers, 1):
            cell = ws.cell(row=1, column=i)
            cell.font, cell.fill = head_font, head_fill
            long = any(h == c[0] and c[2] in ("text", "lines") for c in sheet.columns)
            ws.column_dimensions[get_column_letter(i)].width = 40 if long and h not in ("单位", "窗口", "条款") else 14
        for row in ws.iter_rows(min_row=2):
            for cell in row:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
                if isinstance(cell.value, str):
                    cell.data_type = "s"  # never let Excel read "=…" or "0001" as a formula or number
        ws.freeze_panes = "B2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# ------------------------------------------------------------------ import


@dataclass(frozen=True)
class CellProblem:
    sheet: str
    row: int
    column: str  # letter, '' when the whole sheet or row
    header: str
    message: str

    def __str__(self) -> str:
        if not self.sheet:
            return self.message
        where = f"工作表「{self.sheet}」"
        if self.row:
            where += f"第{self.row}行"
        if self.column:
            where += f" {self.column}列（{self.header}）"
        return f"{where}：{self.message}"

    def as_dict(self) -> Dict[str, Any]:
        return {"sheet": self.sheet, "row": self.row, "column": self.column, "header": self.header,
                "message": self.message, "text": str(self)}


class ExcelRefused(Exception):
    def __init__(self, problems: List[CellProblem]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


@dataclass
class ImportResult:
    submitted: List[Tuple[str, int]] = field(default_factory=list)
    published: List[Tuple[str, int]] = field(default_factory=list)
    unchanged: List[str] = field(default_factory=list)
    warnings: List[CellProblem] = field(default_factory=list)


def _convert(raw: Any, kind: str) -> Tuple[Any, str]:
    """A cell's value in the guide's type, or an error message."""
    if isinstance(raw, str):
        raw = raw.strip()
    empty = raw is None or raw == ""
    if kind == "text":
        if empty:
            return "", ""
        if isinstance(raw, float) and raw.is_integer():
            raw = int(raw)
        return str(raw), ""
    if kind == "lines":
        return ([] if empty else [s.strip() for s in str(raw).replace("\r", "\n").split("\n") if s.strip()]), ""
    if kind in ("bool", "optbool"):
        if empty:
            return (None, "") if kind == "optbool" else (None, f"请填写“{YES}”或“{NO}”")
        if raw in (True, YES, "true", "TRUE", 1):
            return True, ""
        if raw in (False, NO, "false", "FALSE", 0):
            return (False if kind == "bool" else None), ""
        return None, f"须填写“{YES}”或“{NO}”，而不是“{raw}”"
    if kind in ("int", "number"):
        if empty:
            return None, ""
        if isinstance(raw, bool):
            return None, "须为数字"
        try:
            num = float(str(raw).replace(",", ""))
        except ValueError:
            return None, f"须为数字，而不是“{raw}”"
        if kind == "int":
            if not num.is_integer():
                return None, f"须为整数，而不是“{raw}”"
            return int(num), ""
        return (int(num) if num.is_integer() else num), ""
    return raw, ""


Where = Tuple[str, int, str, str]  # sheet, row, column letter, header


def read_workbook(data: bytes) -> Tuple[Dict[str, Dict[str, Any]], Dict[str, Dict[str, Where]], List[CellProblem]]:
    """Documents by service id, where each field came from, and conversion problems."""
    problems: List[CellProblem] = []
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError):
        return {}, {}, [CellProblem("", 0, "", "", "文件不是有效的 Excel 工作簿（.xlsx），可能已损坏或是其他格式；请用导出的模板另存为 .xlsx 后重试")]
    docs: Dict[str, Dict[str, Any]] = {}
    origin: Dict[str, Dict[str, Where]] = {}
    for sheet in SHEETS:
        if sheet.title not in wb.sheetnames:
            problems.append(CellProblem(sheet.title, 0, "", "", "缺少这个工作表（请在导出的模板上修改）"))
            continue
        rows = list(wb[sheet.title].iter_rows(values_only=True))
        if not rows:
            problems.append(CellProblem(sheet.title, 1, "", "", "缺少表头行"))
            continue
        headers = [str(h).strip() if h is not None else "" for h in rows[0]]
        wanted = [ID_HEADER] + [c[0] for c in sheet.columns]
        index: Dict[str, int] = {}
        for h in wanted:
            if h not in headers:
                problems.append(CellProblem(sheet.title, 1, "", h, f"缺少列“{h}”"))
            else:
                index[h] = headers.index(h)
        for extra in [h for h in headers if h and h not in wanted]:
            col = get_column_letter(headers.index(extra) + 1)
            problems.append(CellProblem(sheet.title, 1, col, extra, "不认识的列（请检查表头拼写）"))
        if len(index) != len(wanted):
            continue
        for r, values in enumerate(rows[1:], start=2):
            if values is None or all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                continue

            def cell(header: str, values: Any = values, index: Dict[str, int] = index) -> Any:
                i = index[header]
                return values[i] if i < len(values) else None

            def letter(header: str, index: Dict[str, int] = index) -> str:
                return get_column_letter(index[header] + 1)
            sid = str(cell(ID_HEADER) or "").strip()
            if not sid:
                problems.append(CellProblem(sheet.title, r, letter(ID_HEADER), ID_HEADER, "缺少事项编号"))
                continue
            if not sheet.list_path:
                if sid in docs:
                    problems.append(CellProblem(sheet.title, r, letter(ID_HEADER), ID_HEADER, f"事项编号 {sid} 重复"))
                    continue
                docs[sid] = {"id": sid}
                origin[sid] = {"id": (sheet.title, r, letter(ID_HEADER), ID_HEADER)}
                target, prefix = docs[sid], ""
            else:
                if sid not in docs:
                    problems.append(CellProblem(sheet.title, r, letter(ID_HEADER), ID_HEADER, f"事项编号 {sid} 不在工作表「事项」中"))
                    continue
                items = _get(docs[sid], sheet.list_path)
                if items is None:
                    items = []
                    _set(docs[sid], sheet.list_path, items)
                n = len(items)
                prefix = f"{sheet.list_path}.{n}"
                origin[sid][prefix] = (sheet.title, r, "", "")
                if sheet.scalar_items:
                    header = sheet.columns[0][0]
                    value, err = _convert(cell(header), "text")
                    origin[sid][prefix] = (sheet.title, r, letter(header), header)
                    if err:
                        problems.append(CellProblem(sheet.title, r, letter(header), header, err))
                    items.append(value)
                    continue
                target = {}
                items.append(target)
            absent: List[str] = []
            for header, path, kind in sheet.columns:
                value, err = _convert(cell(header), kind)
                full = f"{prefix}.{path}" if prefix else path
                origin[sid][full] = (sheet.title, r, letter(header), header)
                if err:
                    problems.append(CellProblem(sheet.title, r, letter(header), header, err))
                    continue
                if kind == "optbool":
                    if value is None:
                        absent.append(path)
                    continue
                if value is None or value == "":
                    continue  # the schema's default ("" for optional text) or its "缺少必填项"
                if any(path.startswith(a + ".") for a in absent):
                    if value not in ("", [], None):
                        problems.append(CellProblem(sheet.title, r, letter(header), header, "“有格式要求”为“否”时不能填写格式"))
                    continue
                _set(target, path, value)
            if sheet.title == "事项":
                target.setdefault("fee", {}).setdefault("items", [])
                target["fee"].setdefault("basis", [])
    return docs, origin, problems


def _where(origin: Dict[str, Where], p: FieldProblem) -> Tuple[Where, bool]:
    """The cell a problem belongs to, and whether it is exactly that field's cell."""
    parts = p.path.split(".") if p.path else []
    exact = True
    while parts:
        key = ".".join(parts)
        if key in origin:
            return origin[key], exact and bool(origin[key][2])
        parts.pop()
        exact = False
    return origin.get("id", ("事项", 0, "", "")), False


def check_workbook(editor: Editor, data: bytes) -> Tuple[List[Dict[str, Any]], List[CellProblem], List[CellProblem]]:
    """Validated documents, errors and warnings (each located on a sheet, row and column)."""
    docs, origin, problems = read_workbook(data)
    if not docs and not problems:
        problems.append(CellProblem("事项", 2, "", "", "工作簿中没有事项"))
    warnings: List[CellProblem] = []
    valid: List[Dict[str, Any]] = []
    context = editor.validator.context()
    known = set(context.others)
    from knowledge.editing import canonical

    for sid, doc in docs.items():
        if sid not in known:
            problems.append(CellProblem(*origin[sid]["id"], f"没有事项 {sid}（只能修改已有的事项）"))
            continue
        svc, found = editor.validator.validate(doc, context)
        for p in found:
            (sheet, row, col, header), exact = _where(origin[sid], p)
            label = "" if exact else f"{p.label}："
            item = CellProblem(sheet, row, col, header, f"{label}{p.message}")
            (problems if p.severity == "error" else warnings).append(item)
        if svc is not None and not errors_of(found):
            valid.append(canonical(svc))
    return valid, problems, warnings


def import_workbook(editor: Editor, data: bytes, actor: str, reason: str = "Excel 导入", publish: bool = False) -> ImportResult:
    """All or nothing: raises ``ExcelRefused`` (nothing written) on any problem."""
    valid, problems, warnings = check_workbook(editor, data)
    if problems:
        raise ExcelRefused(problems)
    result = ImportResult(warnings=warnings)
    current = {d["id"]: d for d in (editor.store.service(v["id"]).document for v in valid)}  # type: ignore[union-attr]
    from knowledge.store import content_hash

    changed = [d for d in valid if content_hash(d) != content_hash(current[d["id"]])]
    result.unchanged = [d["id"] for d in valid if d not in changed]
    try:
        if publish:
            result.published = editor.publish_documents(changed, actor, reason)
        else:
            result.submitted = editor.submit_documents(changed, actor, reason)
    except EditRefused as exc:
        raise ExcelRefused([CellProblem("事项", 0, "", "", exc.message)]) from exc
    return result


# ------------------------------------------------------------------ CLI


def _export_cmd(original: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        if not getattr(args, "xlsx", None):
            return original(args)
        from knowledge.base import holder

        h = holder()
        h.get()
        docs = h.store.published_services()
        if args.only:
            wanted = set(args.only.split(","))
            docs = [d for d in docs if d["id"] in wanted]
        Path(args.xlsx).write_bytes(export_workbook(docs))
        print(f"已导出 {len(docs)} 个事项到 {args.xlsx}", file=sys.stderr)
        return 0

    return run


def _import_cmd(original: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        if not str(args.file).lower().endswith(".xlsx"):
            return original(args)
        from knowledge.base import holder
        from knowledge.editing import editor_for

        h = holder()
        h.get()
        path = Path(args.file)
        if not path.exists():
            print(f"{path}: 文件不存在", file=sys.stderr)
            return 1
        try:
            result = import_workbook(editor_for(h.store), path.read_bytes(), actor=args.author, reason=args.reason,
                                     publish=args.publish)
        except ExcelRefused as exc:
            for p in exc.problems:
                print(p)
            print(f"导入被拒绝：{len(exc.problems)} 个错误，数据库未作任何修改", file=sys.stderr)
            return 1
        for p in result.warnings:
            print(f"警告：{p}")
        for sid, version in result.published:
            print(f"{sid} → 第 {version} 版（已发布）")
        for sid, version in result.submitted:
            print(f"{sid} → 第 {version} 版（待审核）")
        verb = "发布" if args.publish else "提交审核"
        print(f"导入完成：{len(result.published) + len(result.submitted)} 个事项{verb}，{len(result.unchanged)} 个内容未变化",
              file=sys.stderr)
        return 0

    return run


def add_excel_commands(kb_sub: Any) -> None:
    """Extend ``guide kb export`` with ``--xlsx FILE`` and ``guide kb import`` with .xlsx files (call from guide/cli.py)."""
    ex = kb_sub.choices["export"]
    ex.add_argument("--xlsx", metavar="FILE", help="导出为 Excel 工作簿（.xlsx）")
    ex.add_argument("--only", help="只导出这些事项（Excel），如 T001,T002")
    ex.set_defaults(func=_export_cmd(ex.get_default("func")))
    im = kb_sub.choices["import"]
    im.add_argument("--publish", action="store_true", help="Excel 导入：直接发布（默认提交审核）")
    im.set_defaults(func=_import_cmd(im.get_default("func")))
