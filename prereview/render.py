"""One notice, three forms: chat messages (each ≤ 600 characters), an HTML page and a PDF with the CJK font
embedded, all from the same ``Notice`` so they can never disagree."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import List

from jinja2 import Environment, FileSystemLoader, select_autoescape

from prereview.engine import Defect, ReviewResult
from prereview.notices import Notice, notice_url
from prereview.privacy import private

FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
CHAT_LIMIT = 600
CHAT_EVIDENCE = 40  # characters of what was read, shown under a defect in the chat (the page shows more)
CODE_LABELS = {
    "missing_material": "缺少材料",
    "wrong_format": "格式不符",
    "file_too_large": "文件过大",
    "unreadable": "无法辨认",
    "wrong_document_type": "材料类型不对",
    "invalid_id_number": "身份号码有误",
    "invalid_credit_code": "信用代码有误",
    "expired": "证件过期",
    "id_mismatch": "号码不一致",
    "name_mismatch": "姓名不一致",
    "missing_pages": "缺少页面",
    "blank_page": "空白页",
    "missing_seal": "缺少印章",
    "missing_signature": "缺少签名",
}

_env = Environment(loader=FileSystemLoader(Path(__file__).with_name("templates")),
                   autoescape=select_autoescape(["html"]))
_pdf_lock = threading.Lock()  # fpdf2 parses the 17 MB TTC on every add_font; one at a time keeps memory flat
logging.getLogger("fontTools").setLevel(logging.ERROR)


def cn_date(iso: str) -> str:
    y, m, d = (int(x) for x in iso[:10].split("-"))
    return f"{y}年{m}月{d}日"


def evidence_text(d: Defect, limit: int | None = None) -> str:
    """What was read on the file, masked (notices stored before masking are masked when shown)."""
    text = private(str(d.evidence.get("text") or "")).strip()
    return text if limit is None or len(text) <= limit else text[:limit] + "…"


def applicant_line(r: ReviewResult) -> str:
    """Who the notice is for, and honestly where that came from; "" when no applicant was asked about."""
    if r.applicant and r.applicant.name:
        number = f"（公民身份号码{private(r.applicant.id_number)}）" if r.applicant.id_number else ""
        source = "，据申请人身份证件识别" if r.applicant_source == "id_card" else ""
        return f"{r.applicant.name}{number}{source}"
    if r.applicant_source == "unrecognised":
        return "未识别（未从申请人本人的身份证件上读到姓名和号码）"
    return ""


def _defect_line(n: int, d: Defect) -> str:
    where = f"（{d.file}{'第' + str(d.page) + '页' if d.page else ''}）" if d.file else ""
    read = evidence_text(d, CHAT_EVIDENCE)
    seen = f"\n   读取到：{read}" if read else ""
    return f"{n}. 【{d.material}】{d.message}{where}{seen}\n   怎么改：{d.fix}"


def _pack(parts: List[str], limit: int = CHAT_LIMIT) -> List[str]:
    """Join parts into as few messages as possible, none longer than ``limit`` characters."""
    out: List[str] = []
    current = ""
    for part in parts:
        while len(part) > limit:  # a single very long part is cut at the limit
            if current:
                out.append(current)
                current = ""
            out.append(part[:limit])
            part = part[limit:]
        candidate = f"{current}\n{part}" if current else part
        if len(candidate) > limit:
            out.append(current)
            current = part
        else:
            current = candidate
    if current:
        out.append(current)
    return out


def chat_messages(notice: Notice, base_url: str = "") -> List[str]:
    """The notice as chat text: header, one entry per defect, then deadline, basis, where to ask and links."""
    r = notice.result
    url = notice_url(notice.slug, base_url)
    head = [f"【{notice.title}】{notice.number}", f"事项：{r.service_name}" + (f"（{r.scenario_name}）" if r.scenario_name else "")]
    if applicant_line(r):
        head.append(f"申请人：{applicant_line(r)}")
    head.append(f"预审日期：{cn_date(notice.issued_on.isoformat())}")
    if notice.previous_number:
        head.append(f"本告知书替代{notice.previous_number}。")
        if r.resolved:
            head.append("已改正：" + "；".join(f"{x['material']}（{CODE_LABELS.get(x['code'], x['code'])}）" for x in r.resolved[:6]))
    parts = ["\n".join(head)]
    if notice.passed:
        parts.append("经预审，您提交的材料齐全、符合要求。" + ("另有以下提醒，不影响受理：" if r.warnings else ""))
        parts += [_defect_line(i, d) for i, d in enumerate(r.warnings, 1)]
        if r.next_steps:
            parts.append("下一步：\n" + "\n".join(f"· {s}" for s in r.next_steps))
    else:
        parts.append(f"经预审，您的材料有{len(r.errors)}处需要补正，请一次性按以下要求修改：")
        parts += [_defect_line(i, d) for i, d in enumerate(r.errors, 1)]
        if r.warnings:
            parts.append("另有以下提醒（不影响受理，建议一并处理）：")
            parts += [_defect_line(i, d) for i, d in enumerate(r.warnings, 1)]
        if notice.deadline:
            parts.append(f"请于{cn_date(notice.deadline.isoformat())}前（{r.deadline_days}个工作日内）补正后重新提交，"
                         f"补正后只需重新上传有问题的材料。")
        parts.append("依据：" + "；".join(r.basis[:4]))
    parts.append("咨询：" + "；".join(r.contacts[:3]))
    parts.append(f"告知书全文：{url}\nPDF下载：{url}.pdf")
    return _pack(parts)


def html(notice: Notice, base_url: str = "") -> str:
    r = notice.result
    return _env.get_template("notice.html").render(
        n=notice, r=r, url=notice_url(notice.slug, base_url), labels=CODE_LABELS, cn_date=cn_date,
        applicant=applicant_line(r), evidence=evidence_text,
    )


def pdf(notice: Notice, base_url: str = "") -> bytes:
    """A printable notice with WenQuanYi Zen Hei embedded (subset), so it renders on any reader."""
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    r = notice.result
    with _pdf_lock:
        doc = FPDF(format="A4")
        doc.set_auto_page_break(True, margin=18)
        doc.set_title(f"{notice.title} {notice.number}")
        doc.set_author(r.service_name)
        doc.add_font("wqy", fname=FONT)
        doc.add_page()
        width = doc.w - doc.l_margin - doc.r_margin

        def para(text: str, size: float = 11, gap: float = 1.5, align: str = "L") -> None:
            doc.set_font("wqy", size=size)
            doc.multi_cell(width, size * 0.5, text, align=align, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            doc.ln(gap)

        para(notice.title, 18, 2, "C")
        para(notice.number, 11, 4, "C")
        para(f"事项：{r.service_name}" + (f"（{r.scenario_name}）" if r.scenario_name else ""))
        if applicant_line(r):
            para(f"申请人：{applicant_line(r)}")
        para(f"预审日期：{cn_date(notice.issued_on.isoformat())}")
        if notice.previous_number:
            para(f"本告知书替代{notice.previous_number}。")
        doc.ln(2)
        if notice.passed:
            para("经预审，您提交的材料齐全、符合要求。")
            for i, d in enumerate(r.warnings, 1):
                para(f"提醒{i}：【{d.material}】{d.message} 怎么改：{d.fix}", 10.5)
            if r.next_steps:
                para("下一步：", 12)
                for s in r.next_steps:
                    para(f"·{s}", 10.5, 1)
        else:
            para(f"经预审，您的材料有{len(r.errors)}处需要补正：", 12)
            for i, d in enumerate(r.defects, 1):
                tag = "" if d.severity == "error" else "（提醒）"
                where = f"文件：{d.file}{'，第' + str(d.page) + '页' if d.page else ''}" if d.file else "文件：未提交"
                para(f"{i}. {d.material}{tag}——{CODE_LABELS.get(d.code, d.code)}", 11.5, 0.5)
                para(f"问题：{d.message}", 10.5, 0.5)
                para(where + (f"；读取到：{evidence_text(d)}" if evidence_text(d) else ""), 9.5, 0.5)
                para(f"怎么改：{d.fix}", 10.5, 2)
            if notice.deadline:
                para(f"请于{cn_date(notice.deadline.isoformat())}前（{r.deadline_days}个工作日内）补正后重新提交。", 11.5)
        para("依据：" + "；".join(r.basis), 10)
        para("咨询：", 11, 0.5)
        for c in r.contacts:
            para(f"·{c}", 10, 0.5)
        doc.ln(2)
        para(f"在线查看：{notice_url(notice.slug, base_url)}", 9)
        return bytes(doc.output())
