"""12345 work orders and 好差评 on SQLite and PostgreSQL: numbering under concurrency, the hotline flow, rectifications."""

from __future__ import annotations

import threading
import uuid

import pytest

from channels import ratings
from channels.handoff import workorders


@pytest.fixture()
def records_db(hand, db_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", db_url)
    from guide.settings import get_settings

    get_settings.cache_clear()
    from channels.audit import trail

    trail(limit=1)
    yield db_url
    get_settings.cache_clear()


def test_numbers_are_sequential_and_unique_under_concurrency(records_db) -> None:  # type: ignore[no-untyped-def]
    made = []
    workorders.create(sender="web-warm", channel="web", source="off_hours", content="预热：建表后再并发")

    def create(i: int) -> None:
        made.append(workorders.create(sender=f"web-{i}", channel="web", source="off_hours", content=f"第{i}条留言：咨询落户")["number"])

    threads = [threading.Thread(target=create, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(made)) == 16
    seqs = sorted(int(n[-6:]) for n in made)
    assert seqs == list(range(2, 18)) and all(n.startswith("GD") and len(n) == 16 for n in made)


def test_a_lost_counter_recovers_from_the_database(records_db, hand) -> None:  # type: ignore[no-untyped-def]
    first = workorders.create(sender="web-a", channel="web", source="off_hours", content="第一条留言内容")["number"]
    hand.flushdb()  # Redis lost its data (no persistence): numbering must not repeat
    second = workorders.create(sender="web-b", channel="web", source="off_hours", content="第二条留言内容")["number"]
    assert int(second[-6:]) == int(first[-6:]) + 1


def test_the_hotline_flow_has_no_skipping_and_sets_deadlines(records_db) -> None:  # type: ignore[no-untyped-def]
    order = workorders.create(sender="web-x", channel="web", source="conversation", content="反映出生医学证明办理慢，电话13812345678",
                              phone="13812345678", created_by="agent1")
    n = order["number"]
    assert order["stage"] == "受理" and order["stage_due"] and order["reply_due"] > order["created_at"]
    with pytest.raises(ValueError, match="承办单位"):
        workorders.advance(n, "agent1")
    assert workorders.advance(n, "agent1", department="区卫生健康委")["stage"] == "派单"
    assert workorders.advance(n, "agent1", note="已转医院核实")["stage"] == "办理"
    with pytest.raises(ValueError, match="答复内容"):
        workorders.advance(n, "agent1")
    assert workorders.advance(n, "agent1", reply="已协调医院三个工作日内补发")["stage"] == "答复"
    assert workorders.advance(n, "agent1", note="电话回访，居民已收到")["stage"] == "回访"
    assert workorders.advance(n, "agent1", evaluation="满意")["stage"] == "评价"
    final = workorders.advance(n, "agent1", note="办结")
    assert final["stage"] == "办结" and [h["stage"] for h in final["history"]] == list(workorders.STAGES)
    with pytest.raises(ValueError, match="已办结"):
        workorders.advance(n, "agent1")
    assert "当前环节：办结" in workorders.status_text(n) and "答复内容：已协调医院三个工作日内补发" in workorders.status_text(n)
    assert workorders.listing(sender="web-x")[0]["content"].count("138****5678") == 1
    assert "没有查到编号为 GD20000101000001" in workorders.status_text("GD20000101000001")
    assert workorders.find_number("查询工单gd20261123000123进度") == "GD20261123000123"


def test_a_bad_agent_rating_opens_a_rectification_tied_to_the_agent(records_db) -> None:  # type: ignore[no-untyped-def]
    sender = "web-" + uuid.uuid4().hex[:8]
    ratings.expect(sender, agent="agent2", agent_name="李明", service_id="T138", episode="1")
    got = ratings.submit(sender, "web", 2, comment="回答不清楚，我的电话13912345678", context="agent")
    assert got["rectification"] and "整改单号" in got["text"] and "7 天内" in got["text"]
    item = ratings.rectification(got["rectification"])
    assert item["agent"] == "agent2" and item["service_id"] == "T138" and item["status"] == "待整改"
    assert "139****5678" in item["comment"]
    from datetime import datetime, timedelta

    deadline = datetime.fromisoformat(item["deadline"].rstrip("Z"))
    created = datetime.fromisoformat(item["created_at"].rstrip("Z"))
    assert deadline - created == timedelta(days=7)
    with pytest.raises(ValueError, match="整改结果"):
        ratings.work(item["id"], "supervisor", "已整改")
    assert ratings.work(item["id"], "supervisor", "整改中", note="已约谈")["status"] == "整改中"
    done = ratings.work(item["id"], "supervisor", "已整改", outcome="已对坐席开展业务培训")
    assert done["status"] == "已整改" and "已对坐席开展业务培训" in ratings.outcome_message(done)["text"]
    assert ratings.pending(sender) is None  # the marker was used up


def test_good_and_bot_ratings_open_nothing(records_db) -> None:  # type: ignore[no-untyped-def]
    got = ratings.submit("web-bot", "web", 5, context="bot")
    assert got["rectification"] is None and "非常满意" in got["text"]
    assert ratings.level_of("我觉得非常不满意") == 1 and ratings.level_of("满意") == 4 and ratings.level_of("还行") is None
    with pytest.raises(ValueError):
        ratings.submit("web-bot", "web", 0)
    bad = ratings.submit("web-bot2", "web", 1, context="agent")  # nothing to tie it to: it rates the bot
    assert ratings.rectification(bad["rectification"])["context"] == "bot"


def test_one_rating_per_rated_episode(records_db) -> None:  # type: ignore[no-untyped-def]
    sender = "web-" + uuid.uuid4().hex[:8]
    ratings.expect(sender, agent="agent2", agent_name="李明", service_id="T138", episode="3")
    first = ratings.submit(sender, "web", 1, comment="没解决问题", context="agent")
    assert first["rectification"] and not first.get("duplicate")
    again = ratings.submit(sender, "web", 1, comment="再点一次", context="agent")  # the page clicked again
    assert again == {**again, "rectification": None, "rating": None, "duplicate": True}
    assert "您已评价过本次人工服务（非常不满意）" in again["text"]
    mine = [r for r in ratings.rectification_list() if r["sender"] == sender]
    assert [r["id"] for r in mine] == [first["rectification"]]  # one rectification, not one per click
    # the bot's part of the conversation is an episode of its own: rated once, until the bot asks again
    bot = ratings.submit(sender, "web", 4, context="bot")
    assert bot["rating"] and not bot.get("duplicate")
    assert ratings.submit(sender, "web", 1, context="bot")["duplicate"]
    ratings.prompt_bot(sender)  # the bot wrapped up a later conversation and asked for a rating
    ratings.prompt_bot(sender)  # asked twice before any rating: still one episode
    later = ratings.submit(sender, "web", 5, context="bot")
    assert later["rating"] and not later.get("duplicate")
    assert ratings.submit(sender, "web", 5, context="bot")["duplicate"]
    ratings.expect(sender, agent="agent1", agent_name="王晓敏", episode="4")  # the next handoff was closed
    assert ratings.pending(sender)["episode"] == "4"
    fourth = ratings.submit(sender, "web", 3, context="bot")  # the next rating belongs to the agent episode awaiting one
    assert not fourth.get("duplicate") and ratings.pending(sender) is None
    assert [r["id"] for r in ratings.rectification_list() if r["sender"] == sender] == [first["rectification"]]
    from sqlalchemy import select

    with ratings._engine().connect() as c:
        stored = [(r["episode"], r["context"], r["agent"], r["level"]) for r in
                  c.execute(select(ratings.ratings).where(ratings.ratings.c.sender == sender).order_by(ratings.ratings.c.id)).mappings()]
    assert stored == [("agent:3", "agent", "agent2", 1), ("bot:0", "bot", "", 4), ("bot:1", "bot", "", 5), ("agent:4", "agent", "agent1", 3)]
