"""`rasa test core` on the test stories: every intent and every next action as written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_rasa_test_stories_pass(tmp_path: Path) -> None:
    from bot.train import latest_model

    model = latest_model(test=True) or latest_model()
    assert model is not None, "train the test model first (make test does)"
    out = tmp_path / "results"
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "rasa"), "test", "core", "--model", str(model), "--stories", "tests/conversations/test_stories.yml",
         "--out", str(out), "--fail-on-prediction-errors"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    failed = out / "failed_test_stories.yml"
    detail = failed.read_text(encoding="utf-8") if failed.exists() else proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.returncode == 0, detail
    report = json.loads((out / "story_report.json").read_text(encoding="utf-8"))
    assert report["conversation_accuracy"]["accuracy"] == 1.0
