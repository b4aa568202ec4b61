"""End to end in Debian's Chromium: the resident's web chat, the agents' workbenches and the supervisor's monitor
against the whole stack (action server, Rasa with the test model, gateway)."""

from __future__ import annotations

import re
import uuid
from typing import Iterator

import pytest
from handoff_helpers import STAFF_PASSWORD, clear_desk, in_thread

from channels.handoff import queues

pytestmark = pytest.mark.browser
TEAM = ["agent1", "agent2", "expert1", "supervisor"]


@pytest.fixture()
def site(stack: dict, browser) -> Iterator[dict]:  # type: ignore[no-untyped-def]
    queues.set_desk_mode("open")
    clear_desk(TEAM)
    contexts = []

    def new_page():  # type: ignore[no-untyped-def]
        ctx = browser.new_context(locale="zh-CN")
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(15_000)
        return page

    def staff(username: str, presence: str = "", path: str = "/workbench"):  # type: ignore[no-untyped-def]
        page = new_page()
        page.goto(stack["base"] + "/login?next=" + path)
        page.fill("#username", username)
        page.fill("#password", STAFF_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**" + path)
        if path == "/supervisor":
            page.wait_for_selector("body[data-ready='1']")
        if presence:
            page.wait_for_selector("body[data-live='1']")
            page.select_option("#presence", presence)
            page.wait_for_function(f"document.getElementById('presence').value === '{presence}'")
        return page

    def resident():  # type: ignore[no-untyped-def]
        page = new_page()
        page.goto(stack["base"] + "/")
        page.wait_for_selector(".msg.bot")
        return page

    yield {"base": stack["base"], "staff": staff, "resident": resident}
    for ctx in contexts:
        ctx.close()
    import asyncio

    from channels.handoff import service

    for username in TEAM:  # nobody stays signed in for the next test
        queues.set_presence(username, "offline", username, "guide", [])
    in_thread(lambda: asyncio.run(service.dispatch()))
    queues.set_desk_mode("")


def say(page, text: str) -> None:  # type: ignore[no-untyped-def]
    page.fill("#text", text)
    page.press("#text", "Enter")


def test_resident_to_agent_to_expert_and_back_to_the_bot(site) -> None:  # type: ignore[no-untyped-def]
    agent = site["staff"]("agent1", presence="away")  # signed in but not taking new ones: the queue fills
    expert = site["staff"]("expert1", presence="online")
    me = site["resident"]()
    token = uuid.uuid4().hex[:6]
    say(me, f"宝宝刚出生要办什么 {token}")
    me.wait_for_selector(".msg.bot >> text=新生儿出生一件事")
    me.click("#human")
    me.wait_for_selector(".msg.system >> text=已为您转接人工客服")
    assert "前面还有" in me.inner_text("#status")

    agent.wait_for_selector(f"#queue li.q-item:has-text('{token}')")  # arrived live, no reload
    agent.click(f"#queue li.q-item:has-text('{token}') button.claim")
    agent.wait_for_selector("#reply-box:not([hidden])")
    assert "新生儿出生一件事" in agent.inner_text("#summary")
    me.wait_for_selector(".msg.system >> text=王晓敏已接入")

    say(me, "出生医学证明还没拿到怎么办")
    agent.wait_for_selector("#transcript .t-resident >> text=出生医学证明还没拿到怎么办")
    agent.fill("#reply", "您好，可以先办理出生医学证明，再申请落户。")
    agent.click("#send-reply")
    me.wait_for_selector(".msg.agent >> text=您好，可以先办理出生医学证明，再申请落户。")
    agent.wait_for_selector("#reply-status >> text=已送达")  # the agent's request returns after the push (and its audit row)

    agent.select_option("#escalate-tier", "expert")
    agent.fill("#transfer-note", "涉及异地落户政策")
    agent.click("#do-escalate")
    me.wait_for_selector(".msg.system >> text=已为您转接深度咨询专员")
    expert.wait_for_selector(f"#mine li.m-item:has-text('{token}')")  # auto-assigned to the online expert
    expert.wait_for_function("document.title.startsWith('(') && Number(document.body.dataset.alerts) >= 1")
    expert.click(f"#mine li.m-item:has-text('{token}')")
    expert.wait_for_selector("#actions:not([hidden])")
    assert "涉及异地落户政策" in expert.inner_text("#summary")
    assert expert.input_value("#handback-service") == "T001"
    me.wait_for_selector(".msg.system >> text=陈静已接入")
    expert.click("#do-handback")
    me.wait_for_selector(".msg.system >> text=交回智能助手")

    say(me, "要带什么材料")
    answer = me.wait_for_selector(".msg.bot >> text=所需材料")
    assert "新生儿出生一件事" in answer.inner_text()  # the bot resumed knowing the service


def test_off_hours_message_becomes_a_work_order_the_desk_sees(site) -> None:  # type: ignore[no-untyped-def]
    sup = site["staff"]("supervisor", path="/supervisor")
    sup.select_option("#desk-mode", "closed")
    sup.wait_for_selector("#desk >> text=非工作时间")
    me = site["resident"]()
    me.click("#human")
    me.wait_for_selector(".msg.system >> text=非工作时间")
    say(me, "孩子出生证明丢了，想补办后落户，请工作时间联系我 13912345678")
    done = me.wait_for_selector(".msg.system >> text=已为您生成12345工单")
    number = re.search(r"GD\d{14}", done.inner_text()).group(0)  # type: ignore[union-attr]
    assert me.inner_text("#status") == ""
    agent = site["staff"]("agent1")
    agent.click("#orders-refresh")
    agent.wait_for_selector(f"#orders tr[data-number='{number}']")
    row = f"#orders tr[data-number='{number}']"
    assert "受理" in agent.inner_text(row) and "13912345678" not in agent.content()
    agent.fill(row + " .wo-input", "区卫生健康委")
    agent.click(row + " .wo-advance")
    agent.wait_for_selector(f"#orders tr[data-number='{number}'] >> text=派单（区卫生健康委）")
    say(me, f"查询工单 {number}")  # the resident asks the bot for the status by number
    me.wait_for_selector(f".msg.bot >> text=工单 {number}")
    assert "当前环节：派单" in me.inner_text(".msg.bot >> nth=-1")


def test_bad_rating_opens_a_rectification_and_the_resident_hears_the_outcome(site) -> None:  # type: ignore[no-untyped-def]
    agent = site["staff"]("agent2", presence="online")
    sup = site["staff"]("supervisor", path="/supervisor")
    me = site["resident"]()
    token = uuid.uuid4().hex[:6]
    say(me, f"灵活就业人员怎么交社保 {token}")
    me.wait_for_selector(".msg.bot")
    me.click("#human")
    me.wait_for_selector(".msg.system >> text=李明已接入")
    agent.click(f"#mine li.m-item:has-text('{token}')")
    agent.wait_for_selector("#actions:not([hidden])")
    agent.select_option("#close-category", "已解答")
    agent.fill("#close-summary", "告知了灵活就业参保渠道")
    agent.click("#do-close")
    me.wait_for_selector("#rating.on [data-level='1']")
    me.fill("#comment", "等了很久，回答也不清楚")
    me.click("#rating [data-level='1']")
    ack = me.wait_for_selector(".msg.system >> text=整改单号")
    rect_id = re.search(r"整改单号 (\d+)", ack.inner_text()).group(1)  # type: ignore[union-attr]

    sup.reload()
    row = f"#rects tr[data-rect='{rect_id}']"
    sup.wait_for_selector(row)
    assert "非常不满意" in sup.inner_text(row) and "agent2" in sup.inner_text(row)
    sup.fill(row + " .rect-outcome", "已约谈坐席并更新灵活就业参保答复口径")
    sup.click(row + " .rect-done")
    sup.wait_for_selector(f"#rects tr[data-rect='{rect_id}'] >> text=已整改")
    me.wait_for_selector(".msg.system >> text=已约谈坐席并更新灵活就业参保答复口径")


def test_an_agent_transfers_to_a_colleague_who_carries_on_live(site) -> None:  # type: ignore[no-untyped-def]
    agent = site["staff"]("agent1", presence="online")
    colleague = site["staff"]("agent2", presence="away")  # signed in, not taking from the queue: free for a transfer
    me = site["resident"]()
    token = uuid.uuid4().hex[:6]
    say(me, f"灵活就业人员怎么交社保 {token}")
    me.wait_for_selector(".msg.bot")
    me.click("#human")
    me.wait_for_selector(".msg.system >> text=王晓敏已接入")
    agent.click(f"#mine li.m-item:has-text('{token}')")
    agent.wait_for_selector("#actions:not([hidden])")
    agent.wait_for_selector("#transfer-to option[value='agent2']", state="attached")
    agent.select_option("#transfer-to", "agent2")
    agent.fill("#transfer-note", "参保地跨省，请李明跟进")
    agent.click("#do-transfer")
    me.wait_for_selector(".msg.system >> text=已为您转接给人工导办专员李明")
    assert "已转接" in agent.inner_text("#action-status")
    agent.wait_for_selector(f"#mine li.m-item:has-text('{token}')", state="detached")  # gone from the first agent's list
    colleague.wait_for_selector(f"#mine li.m-item:has-text('{token}')")  # arrived live on the colleague's screen
    colleague.wait_for_function("document.title.startsWith('(') && Number(document.body.dataset.alerts) >= 1")
    colleague.click(f"#mine li.m-item:has-text('{token}')")
    colleague.wait_for_selector("#reply-box:not([hidden])")
    assert "参保地跨省，请李明跟进" in colleague.inner_text("#summary")
    colleague.fill("#reply", "您好，我是李明，请问您原来在哪个省参保？")
    colleague.click("#send-reply")
    me.wait_for_selector(".msg.agent >> text=您好，我是李明，请问您原来在哪个省参保？")
    say(me, f"在外省交了三年 {token}")
    colleague.wait_for_selector(f"#transcript .t-resident >> text=在外省交了三年 {token}")
