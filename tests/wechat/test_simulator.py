"""The simulator page in a real browser: a person chats as a WeChat user and sees passive and 客服 replies."""

from __future__ import annotations

from typing import Any, Dict

import pytest
from wx_helpers import openid

pytestmark = pytest.mark.browser


def test_simulator_page_shows_passive_replies_and_kefu_messages(browser: Any, wx_gateway: Dict[str, str]) -> None:
    page = browser.new_page()
    try:
        page.goto(wx_gateway["base"] + "/wechat/simulator")
        page.fill("#openid", openid())
        page.select_option("#mode", "safe")
        page.click("button[data-kind=subscribe]")
        page.wait_for_selector(".msg.passive >> text=欢迎关注")
        page.fill("#text", "居住证怎么办")
        page.press("#text", "Enter")
        page.wait_for_selector(".msg.passive >> text=您说的是：居住证怎么办")
        page.fill("#text", "这个很慢2.0")
        page.press("#text", "Enter")
        page.wait_for_selector(".note >> text=答复将以客服消息送达")
        page.wait_for_selector(".msg.kf >> text=慢答复：这个很慢2.0", timeout=10000)
        assert page.locator(".msg.kf").count() == 1
    finally:
        page.close()
