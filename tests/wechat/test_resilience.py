"""/wechat when things go wrong, over real HTTP: Redis gone, an answer that cannot be shaped, 客服 messages refused.

WeChat shows "该公众号暂时无法提供服务" for any 5xx, and a resident whose answer was handed to a 客服 push
that WeChat refuses hears nothing: these tests pin that neither happens.
"""

from __future__ import annotations

import concurrent.futures
import shutil
import subprocess
import time
from pathlib import Path
from typing import Dict, Iterator, Tuple

import httpx
import pytest
from wx_helpers import ACCOUNT, _free_port, openid, post, pushed, say, start_gateway

from channels import ui_text
from channels.wechat.simulator import message_xml, read_reply, signed_request


@pytest.fixture(scope="module")
def busy_gateway(wx_gateway: Dict[str, str], wx_logs: Path) -> Iterator[str]:
    """A gateway that counts as busy with more than one message in flight (then waits 0.3 s before `success`)."""
    proc, base = start_gateway(wx_gateway, wx_logs, "busy", WECHAT_BUSY_TURNS="1", WECHAT_BUSY_BUDGET="0.3")
    yield base
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture()
def private_redis(tmp_path: Path) -> Iterator[Tuple[subprocess.Popen, str]]:
    """A redis-server of this test's own on a free port, which the test may stop."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed")
    port = _free_port()
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    for _ in range(100):
        try:
            if redis.Redis.from_url(url).ping():
                break
        except redis.RedisError:
            time.sleep(0.05)
    yield proc, url
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=10)


def test_redis_down_gets_an_apology_never_a_5xx(wx_gateway: Dict[str, str], wx_logs: Path,
                                                 private_redis: Tuple[subprocess.Popen, str]) -> None:
    server, url = private_redis
    proc, base = start_gateway(wx_gateway, wx_logs, "redis-down", REDIS_URL=url)
    try:
        who = openid()
        r, text = say(base, who, "你好")
        assert r.status_code == 200 and text == "您说的是：你好"  # the gateway works while its Redis is up
        server.terminate()
        server.wait(timeout=10)
        for mode in ("plain", "safe"):
            started = time.time()
            r, text = say(base, who, f"Redis 停了 {mode}", mode=mode)
            assert r.status_code == 200, r.text
            assert time.time() - started < 5
            assert text == ui_text.BOT_UNAVAILABLE or r.text == "success"
        log = Path(wx_logs / "gateway-redis-down.log").read_text(encoding="utf-8", errors="replace")
        assert "answering" in log and "failed before a reply" in log  # logged, with the traceback
        assert httpx.get(base + "/healthz").status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_an_answer_that_cannot_be_shaped_becomes_an_apology_and_does_not_leave_the_gateway_busy(busy_gateway: str) -> None:
    who = openid()
    r, text = say(busy_gateway, who, "坏按钮")
    assert r.status_code == 200 and text == ui_text.BOT_UNAVAILABLE
    # nothing stays counted in flight: a lone slow message still gets the full budget and a passive reply
    # (with the failed turn still counted, two "in flight" > WECHAT_BUSY_TURNS=1 would cut the wait to 0.3 s)
    r, text = say(busy_gateway, openid(), "稍慢慢0.8")
    assert r.status_code == 200 and text == "慢答复：稍慢慢0.8"
    time.sleep(0.3)


def test_retry_of_a_failed_shaping_gets_the_same_apology_once(wx_gateway: Dict[str, str]) -> None:
    who = openid()
    xml, _ = message_xml(who, "text", "坏按钮再来")
    params, body = signed_request(ACCOUNT, xml)
    first = post(wx_gateway["base"], xml, params=params, body=body)
    assert read_reply(ACCOUNT, first.text) == ui_text.BOT_UNAVAILABLE
    retry = post(wx_gateway["base"], xml, params=params, body=body)
    assert retry.status_code == 200 and read_reply(ACCOUNT, retry.text) == ui_text.BOT_UNAVAILABLE
    time.sleep(0.3)
    assert pushed(wx_gateway["api"], who) == []


def _two_at_once(base: str, first: str, second: str) -> Tuple[Tuple[httpx.Response, str], Tuple[httpx.Response, str], Tuple[str, str]]:
    """Two residents' slow questions overlapping, so the second arrives with two messages in flight (and the
    first, still waiting, sees the gateway become busy too); returns both answers and both openids."""
    a, b = openid(), openid()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        one = pool.submit(say, base, a, first)
        time.sleep(0.2)
        two = pool.submit(say, base, b, second)
        return one.result(), two.result(), (a, b)


def test_refused_kefu_push_is_recorded_for_agents_and_later_answers_go_passive(busy_gateway: str, wx_gateway: Dict[str, str],
                                                                               rdb) -> None:  # type: ignore[no-untyped-def]
    from channels import transcript
    from channels.wechat import quota

    api = wx_gateway["api"]
    rdb.delete(quota.no_kefu_key())  # a failed earlier run may have left the account marked
    try:
        httpx.post(api + "/fake/inject", json={"path": "message/custom/send", "errcode": 48001, "times": 1})
        (r1, t1), (r2, t2), senders = _two_at_once(busy_gateway, "慢0.6甲", "慢0.6乙")
        # busy: both acknowledged fast (the first one too, once the second made the gateway busy while it
        # waited), the answers went to 客服 pushes, and WeChat refused the first push it got …
        assert r2.text == "success" and r1.text == "success", (t1, t2)
        notes = []
        for _ in range(50):
            notes = [e for sender in senders
                     for e in transcript.read("wx-" + sender) if e["role"] == "system" and e.get("internal")]
            if notes:
                break
            time.sleep(0.1)
        assert notes and "客服消息接口权限" in notes[0]["text"]  # … which WeChat refused, and agents can read why
        assert rdb.get(quota.no_kefu_key()) == "48001"
        # now the account is known to lack 客服 messages: a busy gateway waits its full budget and answers passively
        (r3, t3), (r4, t4), _ = _two_at_once(busy_gateway, "慢0.6丙", "慢0.6丁")
        assert t3 == "慢答复：慢0.6丙" and t4 == "慢答复：慢0.6丁"
    finally:
        rdb.delete(quota.no_kefu_key())


def test_rest_of_a_long_answer_refused_by_wechat_is_recorded_for_agents(wx_gateway: Dict[str, str],
                                                                        rdb) -> None:  # type: ignore[no-untyped-def]
    from channels import transcript
    from channels.wechat import quota

    rdb.delete(quota.no_kefu_key())
    who = openid()
    httpx.post(wx_gateway["api"] + "/fake/inject", json={"path": "message/custom/send", "errcode": 45047, "times": 1})
    r, first = say(wx_gateway["base"], who, "给我一个长长的答复")
    assert first.startswith("第1条")  # the first part went out passively
    notes = []
    for _ in range(50):
        notes = [e for e in transcript.read("wx-" + who) if e["role"] == "system" and e.get("internal")]
        if notes:
            break
        time.sleep(0.1)
    assert notes and "已发 0/" in notes[0]["text"] and "可推送的客服消息已用完" in notes[0]["text"]
    assert pushed(wx_gateway["api"], who) == []
