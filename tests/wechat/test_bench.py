"""The load test itself, small: concurrent users with retries, every POST inside WeChat's 5 s, one answer each."""

from __future__ import annotations

from typing import Dict


def test_concurrent_users_with_retries_get_one_answer_each_in_time(wx_settings: None, wx_gateway: Dict[str, str]) -> None:
    from channels.wechat.bench import run

    figures = run(users=40, messages_per_user=2, base=wx_gateway["base"], retry_every=3, settle_seconds=10)
    assert figures["turns"] == 80 and figures["posts"] == 80 + figures["retried"] and figures["retried"] >= 20
    assert figures["errors"] == 0 and figures["over_5s"] == 0
    assert figures["duplicates"] == 0 and figures["unanswered"] == 0
    assert figures["passive"] + figures["pushed"] == 80
    assert figures["ack_ms"]["max"] < 5000
