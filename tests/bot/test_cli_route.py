"""`guide route`: one JSON object per input line, the contract scripts outside the project rely on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_route_contract() -> None:
    lines = ["宝宝刚出生要办什么", "今天天气怎么样", "", "😀😀", "公司不干了怎么注销"]
    proc = subprocess.run([str(Path(sys.executable).parent / "guide"), "route"], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = [json.loads(x) for x in proc.stdout.splitlines()]
    assert len(out) == len(lines)
    for row, text in zip(out, lines):
        assert set(row) == {"text", "intent", "confidence", "services", "out_of_scope"} and row["text"] == text
        assert len(row["services"]) <= 5 and all(set(s) == {"id", "name", "score"} for s in row["services"])
    assert out[0]["services"][0]["id"] == "T001" and not out[0]["out_of_scope"]
    assert out[1]["out_of_scope"] and out[2]["out_of_scope"] and out[3]["out_of_scope"]
    assert out[4]["services"][0]["id"] == "T034"
