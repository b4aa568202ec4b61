"""Each transition of the handoff state machine, allowed and refused."""

from __future__ import annotations

import pytest

from channels.handoff.states import (
    ALL_STATES,
    AT_REST,
    PERSON_STATES,
    STATE_NAMES,
    TRANSITIONS,
    State,
    TransitionError,
    allowed,
    next_state,
)

EXPECTED = {
    ("request", State.BOT): State.QUEUED,
    ("request", State.CLOSED): State.QUEUED,
    ("request", State.ABANDONED): State.QUEUED,
    ("request", State.TIMED_OUT): State.QUEUED,
    ("offer_message", State.BOT): State.MESSAGE,
    ("claim", State.QUEUED): State.WITH_AGENT,
    ("take_over", State.BOT): State.WITH_AGENT,
    ("transfer", State.WITH_AGENT): State.WITH_AGENT,
    ("supervise", State.WITH_AGENT): State.WITH_AGENT,
    ("escalate", State.WITH_AGENT): State.QUEUED,
    ("requeue", State.WITH_AGENT): State.QUEUED,
    ("hand_back", State.WITH_AGENT): State.BOT,
    ("close", State.WITH_AGENT): State.CLOSED,
    ("abandon", State.QUEUED): State.ABANDONED,
    ("abandon", State.WITH_AGENT): State.ABANDONED,
    ("time_out", State.QUEUED): State.TIMED_OUT,
    ("leave_message", State.MESSAGE): State.CLOSED,
    ("cancel_message", State.MESSAGE): State.BOT,
}


@pytest.mark.parametrize("name,source", sorted(EXPECTED))
def test_each_allowed_transition_reaches_its_state(name: str, source: str) -> None:
    assert next_state(source, name) == EXPECTED[(name, source)]


@pytest.mark.parametrize("name", sorted(TRANSITIONS))
def test_every_other_source_is_refused_with_a_chinese_reason(name: str) -> None:
    refused = [s for s in ALL_STATES if s not in TRANSITIONS[name].sources]
    assert refused, f"{name} starts from every state"
    for state in refused:
        with pytest.raises(TransitionError) as err:
            next_state(state, name)
        assert STATE_NAMES[state] in str(err.value) and TRANSITIONS[name].label in str(err.value)


def test_a_closed_conversation_only_leaves_by_a_new_request_or_a_takeover() -> None:
    assert set(allowed(State.CLOSED)) == {"request", "offer_message", "take_over"}
    for name in ("claim", "transfer", "escalate", "close", "hand_back", "time_out", "abandon"):
        with pytest.raises(TransitionError):
            next_state(State.CLOSED, name)


def test_a_queued_conversation_cannot_be_queued_again_or_closed_unserved() -> None:
    for name in ("request", "offer_message", "close", "hand_back", "transfer", "take_over"):
        with pytest.raises(TransitionError):
            next_state(State.QUEUED, name)


def test_person_states_and_resting_states_partition_the_machine() -> None:
    assert PERSON_STATES | AT_REST == set(ALL_STATES) and not PERSON_STATES & AT_REST
    assert next_state("", "request") == State.QUEUED  # no record yet = the bot serves


def test_unknown_transition_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        next_state(State.BOT, "teleport")
