"""The WeChat API side against the fake server: shared token, bounded retries, 客服 window errors, menu.

Scenarios run on their own event loop (``run_coroutine``), so they also pass in a session where
Playwright's sync API already holds the main thread's loop.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import httpx
import pytest
from wx_helpers import APPID, openid

from channels.wechat.bench import run_coroutine


def _calls(api: str, path: str) -> list:
    return [c for c in httpx.get(api + "/fake/calls").json()["calls"] if c["path"] == path]


def test_concurrent_callers_share_one_token_fetch(wx_settings: None, fake_wechat: str, rdb) -> None:  # type: ignore[no-untyped-def]
    from channels.wechat import client, token

    async def scenario() -> list:
        return list(await asyncio.gather(*(token.access_token(client.http()) for _ in range(20))))

    tokens = run_coroutine(scenario())
    assert len(set(tokens)) == 1
    assert httpx.get(fake_wechat + "/fake/calls").json()["token_fetches"] == 1
    assert rdb.get(f"guide:wechat:token:{APPID}") == tokens[0]
    assert 0 < rdb.ttl(f"guide:wechat:token:{APPID}") <= 7200 - 300


def test_a_rejected_token_is_refreshed_once_and_the_call_succeeds(wx_settings: None, fake_wechat: str) -> None:
    from channels.wechat import client

    who = openid()

    async def scenario() -> None:
        await client.send_text(who, "第一条")
        httpx.post(fake_wechat + "/fake/expire")  # every issued token now answers 42001
        await client.send_text(who, "第二条")

    run_coroutine(scenario())
    sent = httpx.get(fake_wechat + "/fake/sent", params={"touser": who}).json()["sent"]
    assert [m["text"]["content"] for m in sent] == ["第一条", "第二条"]
    assert httpx.get(fake_wechat + "/fake/calls").json()["token_fetches"] == 2


def test_token_errors_that_never_stop_give_up_after_a_bounded_number_of_tries(wx_settings: None, fake_wechat: str) -> None:
    from channels.wechat import client
    from channels.wechat.token import WeChatAPIError

    httpx.post(fake_wechat + "/fake/inject", json={"path": "message/custom/send", "errcode": 40001, "times": 100})
    with pytest.raises(WeChatAPIError) as err:
        run_coroutine(client.send_text(openid(), "不会送达"))
    assert err.value.errcode == 40001
    assert len(_calls(fake_wechat, "message/custom/send")) == 1 + client.TOKEN_RETRIES


def test_pusher_reports_window_and_quota_errors_in_chinese(wx_settings: None, fake_wechat: str, rdb) -> None:  # type: ignore[no-untyped-def]
    from channels import delivery
    from channels.wechat import endpoint, quota

    assert delivery._pushers["wechat"] is endpoint.push  # importing the endpoint (as the gateway does) registers it
    who = openid()
    sender = "wx-" + who

    async def scenario() -> list:
        await quota.on_message(sender)
        ok = await delivery.push(sender, [{"kind": "agent", "text": "您好，我是人工客服小王。"}])
        left = rdb.get(quota.quota_key(sender))
        httpx.post(fake_wechat + "/fake/inject", json={"path": "message/custom/send", "errcode": 45047})
        over = await delivery.push(sender, [{"kind": "agent", "text": "还有一条"}])
        window_after_over = rdb.get(quota.window_key(sender))
        quota_after_over = rdb.get(quota.quota_key(sender))
        httpx.post(fake_wechat + "/fake/inject", json={"path": "message/custom/send", "errcode": 45015})
        late = await delivery.push(sender, [{"kind": "agent", "text": "过了两天"}])
        return [ok, left, over, window_after_over, quota_after_over, late]

    ok, left, over, window_after_over, quota_after_over, late = run_coroutine(scenario())
    assert ok == {"ok": True, "errcode": 0, "error": "", "sent": 1} and left == "4"
    assert over["ok"] is False and over["errcode"] == 45047 and "已用完" in over["error"]
    assert quota_after_over is None and window_after_over is not None
    assert late["ok"] is False and late["errcode"] == 45015 and "48小时" in late["error"]
    assert rdb.get(quota.window_key(sender)) is None
    sent = httpx.get(fake_wechat + "/fake/sent", params={"touser": who}).json()["sent"]
    assert [m["text"]["content"] for m in sent] == ["【人工客服】您好，我是人工客服小王。"]


def test_pushed_rating_prompt_is_numbered_and_remembered(wx_settings: None, fake_wechat: str, rdb) -> None:  # type: ignore[no-untyped-def]
    from channels.wechat import endpoint, handling

    who = openid()
    result = run_coroutine(endpoint.push("wx-" + who, [{"kind": "system", "text": "人工服务已结束。"},
                                                       {"kind": "rating", "context": "agent", "text": ""}]))
    assert result["ok"]
    text = httpx.get(fake_wechat + "/fake/sent", params={"touser": who}).json()["sent"][0]["text"]["content"]
    assert text.startswith("人工服务已结束。") and "5. 非常满意" in text and "1. 非常不满意" in text
    assert rdb.get(handling.rating_key("wx-" + who)) == "agent"


def test_menu_is_checked_and_published_without_local_keys(wx_settings: None, fake_wechat: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    from channels.wechat import cli

    assert cli.run(argparse.Namespace(wechat_command="menu", file=None, check=False)) == 0
    published = httpx.get(fake_wechat + "/fake/menu").json()["menus"][-1]
    names = [b["name"] for b in published["button"]]
    assert names == ["办事指南", "材料预审", "我的服务"]
    flat = [s for b in published["button"] for s in b.get("sub_button", [b])]
    assert all("ask" not in s and "reply" not in s for s in flat)
    assert any(s.get("url", "").endswith("/guide") and s["url"].startswith("http") for s in flat)
    bad = tmp_path / "menu.yml"
    bad.write_text("button:\n  - {type: click, name: 一个名字特别特别长的菜单, key: K}\n", encoding="utf-8")
    assert cli.run(argparse.Namespace(wechat_command="menu", file=str(bad), check=True)) == 1
    err = capsys.readouterr().err
    assert "1–16 字节" in err and "ask 或 reply" in err
