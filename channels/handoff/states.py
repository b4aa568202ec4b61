"""The handoff state machine: named states, named transitions, nothing else.

A conversation is always in exactly one state.  Every change goes through a named
transition that says which states it may start from; anything else is refused, so a
closed conversation can never drift back into a queue and a stale click on the
workbench cannot serve a conversation twice.  Storage and side effects live in
``channels.handoff.service``; this module is pure and is tested transition by transition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, FrozenSet


class State:
    BOT = "bot"  # the bot answers (also: never handed off)
    QUEUED = "queued"  # waiting for a person
    WITH_AGENT = "with_agent"  # a person serves the resident
    MESSAGE = "message"  # the resident was offered to leave a message (off hours, queue timeout); the next text is it
    CLOSED = "closed"  # a person ended the conversation, or the message became a work order
    ABANDONED = "abandoned"  # the resident left the queue or stopped answering
    TIMED_OUT = "timed_out"  # nobody came within the queue timeout


ALL_STATES = (State.BOT, State.QUEUED, State.WITH_AGENT, State.MESSAGE, State.CLOSED, State.ABANDONED, State.TIMED_OUT)
# while in these states the resident's messages go to the handoff service, not to Rasa
PERSON_STATES: FrozenSet[str] = frozenset({State.QUEUED, State.WITH_AGENT, State.MESSAGE})
# the bot answers in these (a new episode may start from them)
AT_REST: FrozenSet[str] = frozenset({State.BOT, State.CLOSED, State.ABANDONED, State.TIMED_OUT})

STATE_NAMES = {
    State.BOT: "智能助手服务中",
    State.QUEUED: "排队中",
    State.WITH_AGENT: "人工服务中",
    State.MESSAGE: "等待留言",
    State.CLOSED: "已结束",
    State.ABANDONED: "居民已离开",
    State.TIMED_OUT: "排队超时",
}


@dataclass(frozen=True)
class Transition:
    name: str
    sources: FrozenSet[str]
    target: str
    label: str  # Chinese, for the audit trail and the workbench


def _t(name: str, sources: set, target: str, label: str) -> Transition:
    return Transition(name, frozenset(sources), target, label)


TRANSITIONS: Dict[str, Transition] = {t.name: t for t in (
    _t("request", set(AT_REST), State.QUEUED, "申请人工"),
    _t("offer_message", set(AT_REST), State.MESSAGE, "非工作时间，引导留言"),
    _t("claim", {State.QUEUED}, State.WITH_AGENT, "坐席接入"),
    _t("take_over", set(AT_REST), State.WITH_AGENT, "值班长接管"),
    _t("supervise", {State.WITH_AGENT}, State.WITH_AGENT, "值班长接管会话"),
    _t("transfer", {State.WITH_AGENT}, State.WITH_AGENT, "转给同事"),
    _t("escalate", {State.WITH_AGENT}, State.QUEUED, "转入其他层级队列"),
    _t("requeue", {State.WITH_AGENT}, State.QUEUED, "坐席未响应，重新排队"),
    _t("hand_back", {State.WITH_AGENT}, State.BOT, "交回智能助手"),
    _t("close", {State.WITH_AGENT}, State.CLOSED, "坐席结束会话"),
    _t("abandon", {State.QUEUED, State.WITH_AGENT}, State.ABANDONED, "居民离开"),
    _t("time_out", {State.QUEUED}, State.TIMED_OUT, "排队超时"),
    _t("leave_message", {State.MESSAGE}, State.CLOSED, "留言转12345工单"),
    _t("cancel_message", {State.MESSAGE}, State.BOT, "放弃留言，回到智能助手"),
)}


class TransitionError(ValueError):
    """A transition asked from a state it does not start from (message in Chinese)."""

    def __init__(self, name: str, state: str) -> None:
        self.name, self.state = name, state
        t = TRANSITIONS.get(name)
        label = t.label if t else name
        super().__init__(f"当前状态为“{STATE_NAMES.get(state, state)}”，不能执行“{label}”")


def next_state(state: str, name: str) -> str:
    """The state after transition ``name`` from ``state``; raises TransitionError when not allowed."""
    t = TRANSITIONS.get(name)
    if t is None:
        raise KeyError(f"unknown transition {name!r}")
    if (state or State.BOT) not in t.sources:
        raise TransitionError(name, state or State.BOT)
    return t.target


def allowed(state: str) -> list:
    """Transition names that may start from ``state``."""
    return [n for n, t in TRANSITIONS.items() if (state or State.BOT) in t.sources]
