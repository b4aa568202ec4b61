"""Messages left after a message offer (off hours, no agent, queue timeout): each becomes one 12345 work order.

The conversation changes state first, in one atomic transition that also records the message and
marks it pending; only the message that made that transition opens the order, so two quick
messages never make two orders.  Opening the order is safe to repeat: if the database refused it
(or the gateway died right after the transition), the handoff clock opens it later and tells the
resident the number.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Dict, Optional

from starlette.concurrency import run_in_threadpool

from channels import transcript
from channels.handoff import queues, records, service, workorders
from channels.handoff.states import State
from guide.redis import get_redis
from guide.settings import get_settings

log = logging.getLogger(__name__)

ORDERS_PENDING = f"{queues.PREFIX}:orders_pending"  # senders whose left message awaits its work order (score: when)
ORDER_RETRY_AFTER_S = 30


def turn(sender: str, channel: str, text: str, conv: Dict[str, str], is_upload: bool) -> Optional[service.Outcome]:
    """The resident's text after a message offer: cancel, repeat the offer, or a 12345 work order.

    The state changes first (one atomic transition); only the message that made it opens the work
    order, so two quick messages never make two orders.  None: the state changed meanwhile.
    """
    if text in service.CANCEL_WORDS or text in ("/cancel", "取消留言"):
        try:
            service.transition(sender, "cancel_message", "resident", {"offer": "", "ended_at": f"{time.time():.3f}"},
                               detail="居民放弃留言")
        except ValueError:
            return None
        records.archive(sender, queues.conv(sender), outcome="cancelled", category="居民放弃留言")
        return service.Outcome(state=State.BOT, changed=True,
                               resident=[service.system_message("好的，已取消留言。智能助手继续为您服务，请说说您想办的事。", State.BOT)])
    if is_upload or len(text) < 4 or any(text == w or text == "/ask_human" for w in service.HANDOFF_WORDS):
        return service.Outcome(state=State.MESSAGE, resident=[service.message_offer(conv.get("offer") or "off_hours")])
    source = "off_hours" if conv.get("offer") == "off_hours" else ("queue_timeout" if conv.get("offer") == "timeout" else "no_agent")
    phone = service.MOBILE.search(text)
    now = time.time()
    try:
        service.transition(sender, "leave_message", "resident",
                           {"ended_at": f"{now:.3f}", "workorder": "", "order_pending": "1", "order_at": f"{now:.3f}",
                            "order_text": text[:4000], "order_source": source, "order_phone": phone.group(0) if phone else "",
                            "order_channel": channel},
                           detail="留言转12345工单", also=lambda pipe: pipe.zadd(ORDERS_PENDING, {sender: now}))
    except ValueError:
        return None  # another message of the resident's became the order a moment ago: this one is not a second order
    try:
        order = open_order(sender)
    except Exception:  # noqa: BLE001 - the database is down: the message is kept and the tick opens the order later
        log.exception("work order not created yet; the handoff clock retries")
        return service.Outcome(state=State.CLOSED, changed=True, resident=[service.system_message(
            "您的留言已收到并保存。工单系统暂时繁忙，登记完成后会把12345工单编号发给您。", State.CLOSED)])
    if order is None:
        return service.Outcome(state=State.CLOSED, changed=True)
    return service.Outcome(state=State.CLOSED, changed=True, resident=[order_message(order["number"])])


def order_message(number: str) -> Dict[str, Any]:
    days = get_settings().workorder_reply_days
    return service.system_message(f"已为您生成12345工单，编号 {number}。工作人员将在 {days} 个工作日内处理并答复您；"
                                  f"您可以随时发送“查询工单 {number}”查看办理进度。", State.CLOSED, workorder=number)


def open_order(sender: str) -> Optional[Dict[str, Any]]:
    """Create the work order a left message asked for, exactly once; link it and archive the episode.

    Safe to repeat (the clock retries after a crash or a database outage): an order already linked,
    or already stored for this message, is not created again.  None when nothing is pending.
    """
    r = get_redis()
    conv = queues.conv(sender)
    if conv.get("order_pending") != "1":
        r.zrem(ORDERS_PENDING, sender)
        return None
    text, at = conv.get("order_text", ""), float(conv.get("order_at") or 0)
    order = workorders.created_for(sender, text, since=at)
    if order is None:
        order = workorders.create(sender=sender, channel=conv.get("order_channel", ""), source=conv.get("order_source") or "no_agent",
                                  content=text, service_id=conv.get("service", ""), phone=conv.get("order_phone", ""),
                                  created_by="resident",
                                  context="\n".join(f"{e['role']}：{e['text']}" for e in transcript.last(sender, 12)))
    pipe = r.pipeline()
    pipe.hset(queues.conv_key(sender), mapping={"workorder": order["number"], "order_pending": ""})
    pipe.zrem(ORDERS_PENDING, sender)
    pipe.execute()
    try:
        records.archive(sender, queues.conv(sender), outcome=State.CLOSED, category="留言转工单", summary=text[:200],
                        workorder=order["number"])
    except Exception:  # noqa: BLE001 - the order stands; the resident still hears its number
        log.exception("handoff record of a left message not archived")
    return order


async def recover_orders(now: Optional[float] = None) -> int:
    """Open the work orders whose first attempt failed or crashed; tell each resident the number."""
    now = now or time.time()
    done = 0
    for sender in get_redis().zrangebyscore(ORDERS_PENDING, "-inf", now - ORDER_RETRY_AFTER_S):
        try:
            order = await run_in_threadpool(open_order, sender)
        except Exception:  # noqa: BLE001 - still failing: next tick
            log.exception("work order still not created")
            continue
        if order is not None:
            await service.tell(sender, [order_message(order["number"])])
            done += 1
    return done
