"""WeChat against the whole stack (real Rasa with the test model, action server, gateway, fake WeChat API)."""

from __future__ import annotations

from typing import Any, Dict, List

import httpx
import pytest
from wx_helpers import openid, pushed, say

pytestmark = pytest.mark.slow


def answer(stack: Dict[str, Any], who: str, text: str = "", **kw: Any) -> List[str]:
    """What the resident sees: the passive reply, or the 客服 messages that follow a `success`."""
    r, passive = say(stack["base"], who, text, **kw)
    assert r.status_code == 200
    before = len(pushed(stack["wechat_api"], who))
    if passive:
        return [passive]
    return pushed(stack["wechat_api"], who, wait=15, count=before + 1)[before:]


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
