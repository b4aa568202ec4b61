"""Pre-review in the web chat, end to end on the whole stack: choose a service and scenario, upload photos and a PDF,
say "上传完了", get ONE notice (text + HTML + PDF); replace the bad file and get a new notice naming the first."""

from __future__ import annotations

import random
from datetime import date

import httpx
import pytest

from prereview import corpus

pytestmark = pytest.mark.timeout(400)


def _say(client: httpx.Client, text: str) -> str:
    r = client.post("/api/chat", json={"text": text})
    assert r.status_code == 200
    return "\n".join(m.get("text", "") for m in r.json()["messages"])


def _upload(client: httpx.Client, name: str, data: bytes) -> str:
    r = client.post("/api/webchat/upload", files={"file": (name, data)})
    assert r.status_code == 200, r.text
    return "\n".join(m.get("text", "") for m in r.json()["messages"])


def test_prereview_in_chat_gives_one_notice_then_a_superseding_one(stack) -> None:  # type: ignore[no-untyped-def]
    w = corpus.world(11)
    a, c = w.applicant, w.agent
    form = corpus.jpg(corpus.photograph(corpus.application_form("无犯罪记录证明申请表", a, random.Random(5))))
    poa_unsigned = corpus.jpg(corpus.photograph(corpus.power_of_attorney(a, c, random.Random(6), signed=False)))
    id_pdf = corpus.pdf([corpus.photograph(corpus.id_front(c)), corpus.photograph(corpus.id_back(date(2019, 8, 9), None))])
    blurred_form = corpus.jpg(corpus.blur(corpus.photograph(corpus.application_form("无犯罪记录证明申请表", a, random.Random(5)))))

    with httpx.Client(base_url=stack["base"], timeout=120) as client:
        assert "无犯罪记录" in _say(client, "开无犯罪记录证明怎么办")
        shown = _say(client, "我要预审材料")
        if "情形" in shown:
            shown = _say(client, "3")  # 委托他人代办
        assert "上传" in shown and "授权委托书" in shown
        assert "第 1 个文件" in _upload(client, "申请表.jpg", blurred_form)
        _upload(client, "委托书.jpg", poa_unsigned)
        assert "第 3 个文件" in _upload(client, "经办人身份证.pdf", id_pdf)
        r = client.post("/api/chat", json={"text": "上传完了"})
        messages = r.json()["messages"]
        notice_text = "\n".join(m.get("text", "") for m in messages)
        assert "预审" in notice_text and "号" in notice_text
        assert "模糊" in notice_text or "看不清" in notice_text or "无法辨认" in notice_text  # the blurred form
        link = next(m["link"]["url"] for m in messages if m.get("link"))
        page = client.get(link)
        assert page.status_code == 200 and "一次性告知" in page.text or "补正" in page.text
        pdf = client.get(link + ".pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        first_number = next(line for line in notice_text.splitlines() if "预审第" in line).split("】")[-1].strip()

        # resubmission: only the replaced file is new; the notice names the one it replaces
        _upload(client, "申请表-重拍.jpg", form)
        again = "\n".join(m.get("text", "") for m in client.post("/api/chat", json={"text": "上传完了"}).json()["messages"])
        assert first_number in again and "替代" in again
