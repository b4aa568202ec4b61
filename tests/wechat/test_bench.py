"""The load test itself, small: concurrent users with retries, every POST inside WeChat's 5 s, one answer each."""

from __future__ import annotations

import json
from typing import Dict

import httpx

from channels.wechat.bench import target_lines


def send_text_as_gateway(api: str, who: str, text: str) -> None:
    """One 客服 message through the fake WeChat server's real API (token, then message/custom/send)."""
    from wx_helpers import APPID, SECRET

    token = httpx.get(f"{api}/cgi-bin/token", params={"grant_type": "client_credential", "appid": APPID, "secret": SECRET}).json()
    r = httpx.post(f"{api}/cgi-bin/message/custom/send", params={"access_token": token["access_token"]},
                   json={"touser": who, "msgtype": "text", "text": {"content": text}})
    assert r.json()["errcode"] == 0


def test_concurrent_users_with_retries_get_one_answer_each_in_time(wx_settings: None, wx_gateway: Dict[str, str]) -> None:
    from channels.wechat.bench import run

    figures = run(users=40, messages_per_user=2, base=wx_gateway["base"], retry_every=3, settle_seconds=10)
    assert figures["turns"] == 80 and figures["posts"] == 80 + figures["retried"] and figures["retried"] >= 20
    assert figures["errors"] == 0 and figures["over_5s"] == 0
    assert figures["duplicates"] == 0 and figures["unanswered"] == 0
    assert figures["passive"] + figures["pushed"] == 80
    assert figures["ack_ms"]["max"] < 5000
    assert figures["duplicates_counted_from"] == "fake_wechat_sent" and figures["kefu_missing"] == 0
    verdicts = {k: t["verdict"] for k, t in figures["targets"].items()}
    assert verdicts["answered_within_5s"] == "PASS" and verdicts["no_duplicates"] == "PASS"
    assert verdicts["ack_p99_under_1s"] == ("PASS" if figures["ack_ms"]["p99"] < 1000 else "MISS")
    lines = target_lines(figures)
    assert len(lines) == 3 and all(line.startswith(("PASS ", "MISS ")) for line in lines)


def test_duplicates_are_counted_from_what_the_fake_wechat_server_sent(wx_settings: None, wx_gateway: Dict[str, str]) -> None:
    """A 客服 message sent twice to a bench resident (as a buggy gateway would) is a duplicate, though Redis looks fine."""
    from channels.wechat.bench import _expected_pushes, _sent_until_settled

    who = "o_bench_dup_0001"
    turns = [{"openid": who, "msg_id": 990000000000001, "passive": False}]
    from channels.wechat.dedupe import turn_key
    from guide.redis import get_redis

    r = get_redis()
    r.hset(turn_key("m:990000000000001"), mapping={"state": "pushed", "result": json.dumps(["答复一"], ensure_ascii=False)})
    try:
        for _ in range(2):
            send_text_as_gateway(wx_gateway["api"], who, "答复一")
        expected = _expected_pushes(turns)
        sent = _sent_until_settled(wx_gateway["api"], expected, 1.0)
        assert sent is not None and sent[who]["答复一"] == 2 and expected[who]["答复一"] == 1
    finally:
        r.delete(turn_key("m:990000000000001"))
