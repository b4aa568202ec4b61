"""The simulator page in a real browser: a person chats as a WeChat user and sees passive and 客服 replies."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, Dict

import httpx
import pytest
from wx_helpers import openid

from channels.wechat import simulator


@pytest.mark.browser
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


def _token(base: str) -> str:
    html = httpx.get(base + "/wechat/simulator").text
    found = re.search(r"const TOKEN='([0-9]+\.[0-9a-f]+)'", html)
    assert found, "the page carries its token"
    return found.group(1)


def test_simulator_posts_to_its_own_gateway_whatever_the_host_header_says(wx_gateway: Dict[str, str]) -> None:
    base = wx_gateway["base"]
    token = _token(base)
    body = {"openid": openid(), "kind": "text", "text": "居住证怎么办"}
    r = httpx.post(base + "/wechat/simulator/send", json=body,
                   headers={"X-Simulator-Token": token, "Host": "attacker.invalid:9"})
    assert r.status_code == 200 and r.json()["reply"] == "您说的是：居住证怎么办"


def test_simulator_posts_need_the_page_token(wx_gateway: Dict[str, str]) -> None:
    base = wx_gateway["base"]
    body = {"openid": openid(), "kind": "text", "text": "你好"}
    for headers in ({}, {"X-Simulator-Token": "1.deadbeef"}, {"X-Simulator-Token": f"{int(time.time())}.{'0' * 32}"}):
        r = httpx.post(base + "/wechat/simulator/send", json=body, headers=headers)
        assert r.status_code == 403 and "页面令牌" in r.json()["detail"]
    r = httpx.post(base + "/wechat/simulator/image", content=b"\xff\xd8\xff", headers={"Content-Type": "image/jpeg"})
    assert r.status_code == 403
    assert httpx.get(base + "/wechat/simulator/pushed").status_code == 403
    stale = simulator.page_token(time.time() - simulator.TOKEN_SECONDS - 60)
    assert httpx.post(base + "/wechat/simulator/send", json=body, headers={"X-Simulator-Token": stale}).status_code == 403


def test_simulator_is_off_unless_switched_on_against_a_loopback_api(monkeypatch: pytest.MonkeyPatch) -> None:
    from guide.settings import get_settings

    cases = [({"WECHAT_SIMULATOR": "0", "WECHAT_API_BASE": "http://127.0.0.1:8090"}, False),
             ({"WECHAT_SIMULATOR": "1", "WECHAT_API_BASE": "https://api.weixin.qq.com"}, False),
             ({"WECHAT_SIMULATOR": "1", "WECHAT_API_BASE": "http://127.0.0.1:8090"}, True),
             ({"WECHAT_SIMULATOR": "1", "WECHAT_API_BASE": "https://api.weixin.qq.com", "WECHAT_SIMULATOR_REAL_API": "1"}, True),
             ({"WECHAT_SIMULATOR": "1", "WECHAT_API_BASE": "http://127.0.0.1:8090", "WECHAT_TOKEN": ""}, False)]
    try:
        for env, expected in cases:
            monkeypatch.setenv("WECHAT_TOKEN", "t")
            monkeypatch.delenv("WECHAT_SIMULATOR_REAL_API", raising=False)
            for k, v in env.items():
                monkeypatch.setenv(k, v)
            get_settings.cache_clear()
            assert simulator.enabled() is expected, env
        monkeypatch.setenv("GATEWAY_HOST", "0.0.0.0")
        monkeypatch.setenv("GATEWAY_PORT", "8123")
        get_settings.cache_clear()
        assert simulator.target() == "http://127.0.0.1:8123"
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_simulator_page_is_404_on_a_gateway_without_it(wx_gateway: Dict[str, str], wx_logs: Path) -> None:
    from wx_helpers import start_gateway

    proc, base = start_gateway(wx_gateway, wx_logs, "no-simulator", WECHAT_SIMULATOR="0")
    try:
        assert httpx.get(base + "/wechat/simulator").status_code == 404
        assert httpx.post(base + "/wechat/simulator/send", json={"kind": "text", "text": "x"}).status_code == 404
    finally:
        proc.terminate()
        proc.wait(timeout=10)
