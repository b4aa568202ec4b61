"""Pre-review in the web chat, end to end on the whole stack: the materials answer offers pre-review, its button
starts it for that service, the scenario is chosen, photos (two of them named image.jpg, as iOS names every photo)
and a PDF are uploaded, "上传完了" gives ONE notice (text + HTML + PDF); the bad photo is replaced and the new
notice names the first, lists what was fixed, and only the new photo was read again."""

from __future__ import annotations

import random
import re
from datetime import date

import httpx
import pytest

from prereview import corpus

pytestmark = pytest.mark.timeout(600)
NUMBER = re.compile(r"〔\d{4}〕京政务预审第\d{6}号")


def _say(client: httpx.Client, text: str) -> list:
    r = client.post("/api/chat", json={"text": text})
    assert r.status_code == 200, r.text
    return r.json()["messages"]


def _text(messages: list) -> str:
    return "\n".join(m.get("text", "") for m in messages)


def _upload(client: httpx.Client, name: str, data: bytes) -> str:
    r = client.post("/api/webchat/upload", files={"file": (name, data)})
    assert r.status_code == 200, r.text
    return _text(r.json()["messages"])


def test_prereview_in_chat_gives_one_notice_then_a_superseding_one(stack) -> None:  # type: ignore[no-untyped-def]
    from prereview.notices import NoticeStore

    w = corpus.world(11)
    a, c = w.applicant, w.agent
    form = corpus.jpg(corpus.photograph(corpus.application_form("无犯罪记录证明申请表", a, random.Random(5))))
    poa_unsigned = corpus.jpg(corpus.photograph(corpus.power_of_attorney(a, c, random.Random(6), signed=False)))
    id_pdf = corpus.pdf([corpus.photograph(corpus.id_front(c)), corpus.photograph(corpus.id_back(date(2019, 8, 9), None))])
    blurred_form = corpus.jpg(corpus.blur(corpus.photograph(corpus.application_form("无犯罪记录证明申请表", a, random.Random(5)))))
    store = NoticeStore(f"sqlite:///{stack['var']}/stack.db")

    with httpx.Client(base_url=stack["base"], timeout=180) as client:
        assert "无犯罪记录" in _text(_say(client, "开无犯罪记录证明怎么办"))
        materials = _say(client, "要带什么材料")
        assert "所需材料" in _text(materials) and "预审我的材料" in _text(materials)
        (offer,) = [b for m in materials for b in m.get("buttons", []) if b["title"] == "预审我的材料"]
        shown = _text(_say(client, offer["payload"]))  # the button, as the page sends it
        assert "预审【无犯罪记录证明开具一件事】前，请先选择您的情形" in shown
        shown = _text(_say(client, "3"))  # 委托他人代办
        assert "预审请上传以下材料" in shown and "授权委托书" in shown and "受托人居民身份证" in shown

        assert "已收到第 1 个文件：image.jpg（用于【无犯罪记录证明开具一件事】预审）" in _upload(client, "image.jpg", blurred_form)
        assert "已收到第 2 个文件：image.jpg（第2个文件）" in _upload(client, "image.jpg", poa_unsigned)
        assert "已收到第 3 个文件：经办人身份证.pdf" in _upload(client, "经办人身份证.pdf", id_pdf)
        messages = _say(client, "上传完了")
        notice_text = _text(messages)
        numbers = NUMBER.findall(notice_text)
        assert numbers and set(numbers) == {numbers[0]}, "one notice, one number"
        first_number = numbers[0]
        assert "【材料补正告知书】" in notice_text
        blurred = next(part for part in notice_text.split("\n") if "模糊" in part)
        assert "image.jpg（第1个文件）" in blurred, "the blurred photo is named apart from its namesake"
        assert "未见签名" in notice_text and "image.jpg（第2个文件）" in notice_text  # the unsigned power of attorney
        assert "读取到：" in notice_text, "the chat shows what was read, as the page does"
        assert "申请人：未识别" in notice_text, "the applicant's own ID card was not among the files: said honestly"
        link = next(m["link"]["url"] for m in messages if m.get("link"))
        page = client.get(link)
        assert page.status_code == 200
        assert first_number in page.text and "材料补正告知书" in page.text and "模糊" in page.text and "读取到" in page.text
        pdf = client.get(link + ".pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        first = store.get(first_number)
        assert first is not None and [d.reused for d in first.result.documents] == [False, False, False]

        # resubmission: only the re-taken photo is new; the notice names the one it replaces and what was fixed
        assert "已收到第 3 个文件：image.jpg（第3个文件）" in _upload(client, "image.jpg", form), \
            "the blurred photo was dropped, the other two kept"
        again = _text(_say(client, "上传完了"))
        second_number = next(n for n in NUMBER.findall(again) if n != first_number)
        assert f"本告知书替代{first_number}。" in again
        fixed = blurred.split("】")[0].split("【")[-1]  # the material the blurred photo was counted for
        assert f"已改正：{fixed}（无法辨认）" in again and "【材料预审通过告知书】" in again
        second = store.get(second_number)
        assert second is not None and second.previous_number == first_number
        assert store.get(first_number).superseded_by == second_number  # type: ignore[union-attr]
        assert {d.file: d.reused for d in second.result.documents} == {
            "image.jpg（第1个文件）": True, "经办人身份证.pdf": True, "image.jpg（第3个文件）": False,
        }, "only the replaced photo was read again"
