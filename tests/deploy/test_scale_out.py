"""Scale-out on one machine: two of every server behind a real nginx; a Rasa server killed mid-conversation."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy"))


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_conversation_survives_kill_9_of_its_rasa_server() -> None:
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        pytest.skip("nginx is not installed (make system-deps installs Debian's nginx-light)")
    from bot.train import latest_model

    if latest_model(test=True) is None:
        pytest.skip("no trained model: run `guide train --test-model` (make test does)")
    import scale_demo

    lines: list = []
    report = scale_demo.run(redis_db=13, out=lines.append)
    print("\n".join(lines))
    assert report["checks"] and all(report["checks"].values()), report["checks"]
    assert report["killed"] != report["survivor"]
    before, after = report["tracker_before"], report["tracker_after"]
    assert before["user_texts"] == scale_demo.BEFORE
    assert after["user_texts"] == scale_demo.BEFORE + scale_demo.AFTER and after["service"] == before["service"]
    # the answers after the kill are about the service chosen before it, not a "which service?" question
    name_line = report["turns"][1]["reply"].split("】")[0]
    assert all(t["reply"].startswith(name_line) for t in report["turns"][2:]), [t["reply"][:40] for t in report["turns"]]
