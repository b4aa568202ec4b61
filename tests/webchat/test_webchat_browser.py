"""The 12345 web chat in Debian's Chromium against the whole stack: answers, choices, history, identity."""

from __future__ import annotations

import json
import random
import re

import httpx
import pytest

from prereview import corpus

pytestmark = pytest.mark.timeout(300)


def _bot_texts(page) -> list:  # type: ignore[no-untyped-def]
    return page.locator("#log .msg.bot").all_inner_texts()


def test_resident_chats_clicks_a_choice_and_sees_history_once_after_reload(stack, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 390, "height": 844})  # phone width
    page = context.new_page()
    page.goto(stack["base"] + "/")
    page.fill("#text", "宝宝刚出生要办什么")
    page.click("#send-btn")
    page.wait_for_function("document.querySelectorAll('#log .msg.bot').length >= 2", timeout=30000)
    answer = "\n".join(_bot_texts(page))
    assert "出生" in answer
    # the answer is phone-sized: nothing wider than the viewport
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # the overview offers the service's situations as buttons: they must be there, and a click must answer
    page.wait_for_selector("#log .choices button", timeout=10000)
    choices = page.locator("#log .choices button")
    assert choices.count() >= 2, answer
    picked = choices.first.inner_text()
    before = page.locator("#log .msg.bot").count()
    choices.first.click()
    page.wait_for_function(f"document.querySelectorAll('#log .msg.bot').length > {before}", timeout=30000)
    assert page.locator("#log .msg.me").all_inner_texts()[-1] == picked  # the click shows as the resident's turn
    assert "没能看懂" not in "\n".join(_bot_texts(page)[before:])
    mine = page.locator("#log .msg.me").all_inner_texts()
    assert mine.count("宝宝刚出生要办什么") == 1

    page.reload()
    page.wait_for_function("document.querySelectorAll('#log .msg.me').length >= 1", timeout=15000)
    page.wait_for_timeout(800)
    again = page.locator("#log .msg.me").all_inner_texts()
    assert again.count("宝宝刚出生要办什么") == 1, again  # replayed once, not duplicated
    context.close()


def test_socket_refuses_an_unsigned_identity_and_rest_polling_sees_the_same_stream(stack) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    import websockets

    async def forged() -> int:
        url = stack["base"].replace("http", "ws") + "/ws/chat"
        async with websockets.connect(url, extra_headers={"Cookie": "guide_resident=web-0123456789abcdef01234567"}) as ws:
            try:
                await ws.recv()
            except websockets.ConnectionClosed as closed:
                return closed.code
        return 0

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:  # its own thread: Playwright's sync API owns this thread's loop
        assert pool.submit(asyncio.run, forged()).result(timeout=30) == 4401

    with httpx.Client(base_url=stack["base"], timeout=30) as client:
        r = client.post("/api/chat", json={"text": "公司不干了怎么注销", "client_id": "c1"})
        assert r.status_code == 200 and any("注销" in m.get("text", "") for m in r.json()["messages"])
        again = client.post("/api/chat", json={"text": "公司不干了怎么注销", "client_id": "c1"})
        assert again.json()["messages"] == []  # a resend with the same id is not a second turn
        shown = client.get("/api/webchat/messages").json()["messages"]
        assert [m["text"] for m in shown if m["kind"] == "me"].count("公司不干了怎么注销") == 1
        assert sum(1 for m in shown if m["kind"] == "bot") == len(r.json()["messages"])  # answered once
        last = shown[-1]["id"]
        assert client.get("/api/webchat/messages", params={"after": last}).json()["messages"] == []
        assert json.loads(json.dumps(shown))  # plain JSON all the way


def _count(page, selector: str) -> int:  # type: ignore[no-untyped-def]
    return int(page.locator(selector).count())


def _no_duplicates(page) -> None:  # type: ignore[no-untyped-def]
    """Every message on the screen appears once (the welcome text aside, turns here are all distinct)."""
    texts = page.locator("#log .msg.me, #log .msg.bot").all_inner_texts()
    repeated = {t for t in texts if texts.count(t) > 1}
    assert not repeated, repeated


def test_an_image_uploaded_from_the_page_is_acknowledged(stack, browser) -> None:  # type: ignore[no-untyped-def]
    """A real photographed JPEG through the page's file input reaches the pre-review and is acknowledged once."""
    world = corpus.world(23)
    photo = corpus.jpg(corpus.photograph(corpus.application_form("无犯罪记录证明申请表", world.applicant, random.Random(7))))
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        page.goto(stack["base"] + "/")

        def say(text: str) -> str:
            before = _count(page, "#log .msg.bot")
            page.fill("#text", text)
            page.click("#send-btn")
            page.wait_for_function(f"document.querySelectorAll('#log .msg.bot').length > {before}", timeout=30000)
            page.wait_for_timeout(300)
            return "\n".join(_bot_texts(page)[before:])

        assert "无犯罪记录" in say("开无犯罪记录证明怎么办")
        shown = say("我要预审材料")
        if "情形" in shown:
            shown = say("1")
        assert "上传" in shown
        before = _count(page, "#log .msg.bot")
        page.set_input_files("#file", files=[{"name": "申请表.jpg", "mimeType": "image/jpeg", "buffer": photo}])
        page.wait_for_function(f"document.querySelectorAll('#log .msg.bot').length > {before}", timeout=60000)
        page.wait_for_timeout(500)
        ack = "\n".join(_bot_texts(page)[before:])
        assert "第 1 个文件" in ack, ack
        mine = page.locator("#log .msg.me").all_inner_texts()
        assert sum("申请表.jpg" in t for t in mine) == 1  # shown once: the page's own echo, not again from the server
        assert not page.locator("#log .msg.system").count()  # no upload error
    finally:
        context.close()


def test_a_socket_closed_by_the_server_reconnects_without_duplicates(stack, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    routes: list = []

    def through(ws) -> None:  # type: ignore[no-untyped-def]
        ws.connect_to_server()  # a transparent hop to the real gateway, so the test can drop the connection
        routes.append(ws)

    page.route_web_socket(re.compile(r".*/ws/chat.*"), through)
    try:
        page.goto(stack["base"] + "/")
        page.fill("#text", "公司不干了怎么注销")
        page.click("#send-btn")
        page.wait_for_function("document.querySelectorAll('#log .msg.bot').length >= 2", timeout=30000)
        page.wait_for_timeout(500)
        assert len(routes) == 1
        bots = _count(page, "#log .msg.bot")
        routes[0].close(code=1012, reason="gateway restart")  # as the server would on a restart
        page.wait_for_function("document.getElementById('status').classList.contains('on')", timeout=5000)
        page.fill("#text", "需要带什么材料")  # typed while the page reconnects: queued, sent once
        page.click("#send-btn")
        page.wait_for_function(f"document.querySelectorAll('#log .msg.bot').length > {bots}", timeout=30000)
        page.wait_for_timeout(1500)
        assert len(routes) == 2  # one reconnect
        mine = page.locator("#log .msg.me").all_inner_texts()
        assert mine == ["公司不干了怎么注销", "需要带什么材料"], mine
        _no_duplicates(page)

        # a reload in the middle of a turn: the question and its answer each appear once afterwards
        page.fill("#text", "多久能办好")
        page.click("#send-btn")
        page.wait_for_timeout(100)  # the frame is on its way; the answer is not back yet
        page.reload()
        page.wait_for_function("Array.from(document.querySelectorAll('#log .msg.me')).some(m => m.textContent === '多久能办好')",
                               timeout=15000)
        page.wait_for_timeout(3000)
        mine = page.locator("#log .msg.me").all_inner_texts()
        assert mine.count("多久能办好") == 1 and mine.count("公司不干了怎么注销") == 1, mine
        _no_duplicates(page)
    finally:
        context.close()
