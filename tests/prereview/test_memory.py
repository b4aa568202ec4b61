"""A 40-megapixel phone photo is read without ever holding it at full size: JPEGs are decoded at a reduced
scale by libjpeg (draft mode) and every copy is made after scaling down.  Peak memory is measured in a fresh
process (``ru_maxrss``), after two warm-up reads so OCR's own buffers are already in place."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from prereview.corpus import id_front, jpg, photograph, world

ROOT = Path(__file__).resolve().parents[2]
BOUND_MB = 80  # one full-size RGB copy of the photo alone is 119 MB; the old decoder made three

PROBE = """
import json, resource, sys
from pathlib import Path
from guide.settings import Settings
from prereview.engine import Submission, read_file
from prereview.rules import load

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

settings, cat = Settings(), load()
warm, big = Path(sys.argv[1]).read_bytes(), Path(sys.argv[2]).read_bytes()
for copy in (warm, warm + b"\\0"):  # the second read settles the allocator after the first
    read_file(Submission("warm.jpg", copy), settings, cat)
before = peak_mb()
reading = read_file(Submission("big.jpg", big), settings, cat)
page = reading.pages[0]
print(json.dumps({"growth_mb": peak_mb() - before, "width": page.metrics["width"], "height": page.metrics["height"],
                  "text": " ".join(line.text for line in page.lines), "findings": [f.rule for f in reading.findings]}))
"""


def test_a_40_megapixel_jpeg_is_read_within_a_memory_bound(tmp_path: Path) -> None:
    a = world(7).applicant
    card = photograph(id_front(a))
    warm = tmp_path / "warm.jpg"
    warm.write_bytes(jpg(card.resize((1600, round(1600 * card.height / card.width)))))
    big = tmp_path / "big.jpg"
    card.resize((7700, 5150), Image.Resampling.BICUBIC).save(big, "JPEG", quality=80)  # 39.7 Mpx
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE, encoding="utf-8")
    proc = subprocess.run([sys.executable, str(probe), str(warm), str(big)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["findings"] == [] and a.id_number in out["text"], "the photo was read, not refused"
    assert (out["width"], out["height"]) == (7700, 5150), "the resolution rule still sees the pixels sent"
    assert out["growth_mb"] < BOUND_MB, out
