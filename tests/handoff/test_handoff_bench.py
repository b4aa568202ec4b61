"""A short run of the handoff load test against the whole stack: nothing lost, nothing twice, live within a second."""

from __future__ import annotations

import pytest
from handoff_helpers import clear_desk

from channels.handoff import bench

pytestmark = pytest.mark.slow


def test_smoke_run_loses_and_duplicates_nothing(stack: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from guide.settings import get_settings

    # the bench creates its agents in the gateway's database and reads its cookie secret, as `make bench` does
    monkeypatch.setenv("DATABASE_URL", stack["env"]["DATABASE_URL"])
    monkeypatch.setenv("VAR_DIR", str(stack["var"]))
    get_settings.cache_clear()
    clear_desk(["agent1", "agent2", "expert1", "supervisor"])  # conversations other tests left queued on db 14
    try:
        out = bench.run(duration_s=12, residents=12, agents=3, base_url=stack["base"])
    finally:
        get_settings.cache_clear()
    assert out["handoffs"] >= 12 and out["closed"] >= 6, out
    for direction in ("resident_to_agent", "agent_to_resident"):
        assert out[direction]["sent"] > 0 and out[direction]["lost"] == 0 and out[direction]["duplicated"] == 0, out
    # from the resident's request for a person to the assigned agent's screen receiving the claim
    assert out["handoff_to_agent_screen_s"]["n"] >= 6 and out["handoff_to_agent_screen_s"]["p95"] < 1.0, out
    assert out["handoff_to_agent_screen_s"]["n"] + out["queued_handoff_to_agent_screen_s"]["n"] >= 12, out
    assert not {k: v for k, v in out["errors"].items() if k != "answer_late"}, out
