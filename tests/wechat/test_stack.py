"""WeChat against the whole stack (real Rasa with the test model, action server, gateway, fake WeChat API)."""

from __future__ import annotations

import time
from typing import Any, Dict, List

import httpx
import pytest
from wx_helpers import openid, pushed, say

pytestmark = pytest.mark.slow


def answer(stack: Dict[str, Any], who: str, text: str = "", **kw: Any) -> List[str]:
    """What the resident sees: the passive reply, or the 客服 messages that follow a `success`."""
    before = len(pushed(stack["wechat_api"], who))
    r, passive = say(stack["base"], who, text, timeout=30, **kw)
    assert r.status_code == 200
    if passive:
        time.sleep(0.3)  # the rest of a long answer follows as 客服 messages
        return [passive] + pushed(stack["wechat_api"], who)[before:]
    return pushed(stack["wechat_api"], who, wait=30, count=before + 1)[before:]


def test_a_resident_is_routed_and_picks_an_option_by_number(stack: Dict[str, Any]) -> None:
    who = openid()
    first = "\n".join(answer(stack, who, "宝宝刚出生要办什么"))
    assert "出生" in first
    assert "该公众号暂时无法提供服务" not in first
    if "即可选择）" in first:  # the overview offers the service's situations as numbered options
        follow = "\n".join(answer(stack, who, "1"))
        assert follow and "没能看懂" not in follow


def test_menu_click_and_image_go_through_the_real_bot(stack: Dict[str, Any]) -> None:
    who = openid()
    assert "".join(answer(stack, who, kind="subscribe")).startswith("您好，欢迎关注")
    assert "出生" in "".join(answer(stack, who, kind="click", event_key="ASK_BIRTH"))
    r, reply = say(stack["base"], who, kind="image", media_id="DEMO_ID_CARD_PHOTO")
    assert r.status_code == 200 and "没有接收成功" not in reply
    calls = httpx.get(stack["wechat_api"] + "/fake/calls").json()["calls"]
    assert any(c["path"] == "media/get" and c["errcode"] == 0 for c in calls)
    from channels import transcript

    uploads = [e["upload"] for e in transcript.read("wx-" + who) if e.get("upload")]
    assert len(uploads) == 1 and uploads[0]["media_type"] == "image/jpeg" and uploads[0]["filename"].endswith(".jpg")


def test_a_photographed_id_card_sent_on_wechat_is_pre_reviewed_into_a_numbered_notice(stack: Dict[str, Any]) -> None:
    """Start a pre-review, send a real photographed ID card as a WeChat image (downloaded from the fake WeChat API's
    media/get), say "上传完了", and get the one numbered notice — passively or as 客服 messages."""
    import re
    from datetime import date

    from prereview import corpus

    who = openid()
    api = stack["wechat_api"]
    world = corpus.world(17)
    photo = corpus.jpg(corpus.photograph(corpus.id_front(world.applicant)))
    media_id = httpx.post(api + "/fake/media", content=photo, headers={"Content-Type": "image/jpeg"}).json()["media_id"]

    assert "无犯罪记录" in "\n".join(answer(stack, who, "开无犯罪记录证明怎么办"))
    shown = "\n".join(answer(stack, who, "我要预审材料"))
    if "情形" in shown:  # the scenario question, answered by number as WeChat residents do
        shown = "\n".join(answer(stack, who, "1"))
    assert "上传" in shown

    received = "\n".join(answer(stack, who, kind="image", media_id=media_id))
    assert "第 1 个文件" in received and "没有接收成功" not in received
    calls = httpx.get(api + "/fake/calls").json()["calls"]
    assert any(c["path"] == "media/get" and c["errcode"] == 0 for c in calls)
    back = corpus.jpg(corpus.photograph(corpus.id_back(date(2019, 8, 9), None)))
    back_id = httpx.post(api + "/fake/media", content=back, headers={"Content-Type": "image/jpeg"}).json()["media_id"]
    assert "第 2 个文件" in "\n".join(answer(stack, who, kind="image", media_id=back_id))

    notice = "\n".join(answer(stack, who, "上传完了"))
    assert re.search(r"〔\d{4}〕\S*第\d+号", notice), notice
    assert "预审" in notice
    from channels import transcript

    uploads = [e["upload"] for e in transcript.read("wx-" + who) if e.get("upload")]
    assert len(uploads) == 2 and all(u["media_type"] == "image/jpeg" for u in uploads)
