"""Excel export/import: lossless for every guide, all or nothing, errors named by sheet, row and column."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from knowledge.editing import Editor
from knowledge.excel import ExcelRefused, check_workbook, export_workbook, import_workbook
from knowledge.importer import sync_sources
from knowledge.store import Store, content_hash


def edited(data: bytes, sheet: str, header: str, value: object, row: int = 2) -> bytes:
    wb = load_workbook(io.BytesIO(data))
    ws = wb[sheet]
    col = [c.value for c in ws[1]].index(header) + 1
    ws.cell(row=row, column=col, value=value)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_round_trip_is_lossless_for_all_200_services(sqlite_url: str) -> None:
    data_dir = Path(__file__).resolve().parents[2] / "knowledge" / "data"
    store = Store(sqlite_url)
    sync_sources(store, data_dir)
    editor = Editor(store, data_dir, on_publish=lambda ids: None)
    docs = store.published_services()
    valid, errors, _ = check_workbook(editor, export_workbook(docs))
    assert errors == [] and len(valid) == 200
    assert [content_hash(d) for d in valid] == [content_hash(d) for d in docs]


def test_a_bad_cell_names_sheet_row_and_column_and_changes_nothing(editor: Editor) -> None:
    before = editor.published("T148")
    good = export_workbook([before])
    bad = edited(edited(good, "收费项目", "金额", "abc"), "事项", "到现场次数", "两次")
    with pytest.raises(ExcelRefused) as exc:
        import_workbook(editor, bad, "editor")
    texts = [str(p) for p in exc.value.problems]
    assert "工作表「收费项目」第2行 C列（金额）：须为数字，而不是“abc”" in texts
    assert any(t.startswith("工作表「事项」第2行") and "到现场次数" in t for t in texts)
    assert editor.published("T148") == before and editor.open_change("T148") is None


def test_validator_problems_are_located_on_the_cell(editor: Editor) -> None:
    good = export_workbook([editor.published("T148")])
    bad = edited(good, "材料", "材料目录", "no_such_material")
    bad = edited(bad, "别名", "别名", editor.published("T150")["aliases"][0], row=3)
    with pytest.raises(ExcelRefused) as exc:
        import_workbook(editor, bad, "editor")
    by_sheet = {p.sheet: p for p in exc.value.problems}
    assert by_sheet["材料"].row == 2 and by_sheet["材料"].header == "材料目录" and "no_such_material" in by_sheet["材料"].message
    assert by_sheet["别名"].row == 3 and "T150" in by_sheet["别名"].message


def test_broken_and_foreign_workbooks_are_refused_in_chinese(editor: Editor) -> None:
    with pytest.raises(ExcelRefused) as exc:
        import_workbook(editor, b"PK\x03\x04 not really a zip", "editor")
    assert "不是有效的 Excel" in str(exc.value.problems[0])
    wb = load_workbook(io.BytesIO(export_workbook([editor.published("T148")])))
    del wb["常见问题"]
    wb["单项"].cell(row=2, column=1, value="T999")
    buf = io.BytesIO()
    wb.save(buf)
    with pytest.raises(ExcelRefused) as exc:
        import_workbook(editor, buf.getvalue(), "editor")
    texts = [str(p) for p in exc.value.problems]
    assert "工作表「常见问题」：缺少这个工作表（请在导出的模板上修改）" in texts
    assert any("工作表「单项」第2行 A列" in t and "T999" in t for t in texts)


def test_import_makes_changes_await_review_and_an_admin_may_publish(editor: Editor) -> None:
    data = edited(export_workbook([editor.published("T148"), editor.published("T150")]), "收费项目", "金额", 1200)
    result = import_workbook(editor, data, "editor", "Excel 调价")
    assert result.submitted == [("T148", editor.open_change("T148").version)] and result.unchanged == ["T150"]
    assert editor.open_change("T148").state == "in_review" and editor.published("T148")["fee"]["items"][0]["amount"] == 1000
    with pytest.raises(ExcelRefused, match="1 problem"):
        import_workbook(editor, data, "editor")  # the open change must be decided first
    editor.approve("T148", editor.open_change("T148").version, "reviewer")
    back = edited(data, "收费项目", "金额", 1000)
    assert import_workbook(editor, back, "admin", "恢复", publish=True).published
    assert editor.published("T148")["fee"]["items"][0]["amount"] == 1000


def test_cli_export_and_import_xlsx(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from guide.cli import build_parser

    parser = build_parser()  # `guide kb` carries the Excel options (knowledge.excel.add_excel_commands)
    out = tmp_path / "t150.xlsx"
    args = parser.parse_args(["kb", "export", "--xlsx", str(out), "--only", "T150"])
    assert args.func(args) == 0 and load_workbook(out)["事项"]["A2"].value == "T150"
    args = parser.parse_args(["kb", "import", str(out)])
    assert args.func(args) == 0
    assert "0 个事项提交审核，1 个内容未变化" in capsys.readouterr().err
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(edited(out.read_bytes(), "事项", "不收费", "也许"))
    args = parser.parse_args(["kb", "import", str(bad)])
    assert args.func(args) == 1
    assert "工作表「事项」第2行" in capsys.readouterr().out
