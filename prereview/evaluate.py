"""Evaluation on the synthetic corpus: per-code precision and recall, defects on clean submissions, and
seconds per image with OCR.  ``python -m prereview.evaluate`` prints the table; ``make``-style callers use
``run_eval()``.

Each case lists the exact (file or material, code) pairs it must produce; anything else reported is a false
positive, anything not reported a false negative.  Readings are cached by content across cases, as in a
resubmission, so a clean file shared by many cases is read once; seconds per image count fresh reads only.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from typing import Any, Dict, List, Set, Tuple

from prereview.corpus import BAD_INPUT_CODES, TODAY, Case, bad_inputs, cases, too_large
from prereview.engine import MemoryCache, ReviewResult, Submission, review
from prereview.rules import CODES

MATERIAL_LEVEL = {"missing_material", "missing_pages"}


def keys(result: ReviewResult) -> Set[Tuple[str, str]]:
    return {(f"material:{d.material}" if d.code in MATERIAL_LEVEL else d.file, d.code) for d in result.defects}


def _bad_input_cases() -> List[Case]:
    out = []
    for up in bad_inputs() + [too_large()]:
        out.append(Case(f"bad input {up.name}", "T068", "own_house", None, [up], [(up.name, BAD_INPUT_CODES[up.name])]))
    return out


def run_eval(seeds: tuple = (7, 11), verbose: bool = True) -> Dict[str, Any]:
    from knowledge.base import current

    kb = current()
    cache = MemoryCache()
    counts: Dict[str, Dict[str, int]] = defaultdict(lambda: {"tp": 0, "fp": 0, "fn": 0})
    clean_fp = 0
    images, read_seconds, failures = 0, 0.0, []
    by_turn: Dict[str, List[float]] = {"upright": [], "turned": []}
    all_cases = [c for seed in seeds for c in cases(seed)] + _bad_input_cases()
    started, cpu_started = time.perf_counter(), time.process_time()
    for case in all_cases:
        subs = [Submission(u.name, u.data, material=u.material) for u in case.files]
        result = review(case.service, subs, case.scenario, case.applicant, kb=kb, cache=cache, today=TODAY)
        got = keys(result)
        want = set(case.expected)
        if case.name.startswith("bad input"):  # a lone file: only its own defect is scored
            got = {k for k in got if not k[0].startswith("material:")}
        for _, code in got & want:
            counts[code]["tp"] += 1
        for _, code in got - want:
            counts[code]["fp"] += 1
        for _, code in want - got:
            counts[code]["fn"] += 1
        if case.clean:
            clean_fp += len(got)
        if got != want:
            failures.append({"case": case.name, "missing": sorted(want - got), "extra": sorted(got - want)})
        images += result.images_read
        read_seconds += result.read_seconds
        for doc in result.documents:
            if doc.seconds and doc.kind in ("jpg", "png") and doc.pages == 1:  # one photo: split by orientation
                by_turn["turned" if doc.turned else "upright"].append(doc.seconds)
    per_code = {}
    for code in CODES:
        c = counts.get(code, {"tp": 0, "fp": 0, "fn": 0})
        p = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else None
        r = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else None
        per_code[code] = {**c, "precision": p, "recall": r}
    report = {
        "cases": len(all_cases),
        "per_code": per_code,
        "clean_false_positives": clean_fp,
        "images_read": images,
        "seconds_per_image": round(read_seconds / images, 2) if images else None,
        # photos read as they came vs photos that had to be turned upright (read twice, plus the classifier)
        "seconds_per_photo": {k: (round(sum(v) / len(v), 2) if v else None) for k, v in by_turn.items()},
        "photos": {k: len(v) for k, v in by_turn.items()},
        "total_seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(time.process_time() - cpu_started, 1),  # both cores count: onnxruntime uses two threads
        "failures": failures,
    }
    if verbose:
        print_report(report)
    return report


def print_report(report: Dict[str, Any], out: Any = None) -> None:
    out = out or sys.stdout
    fmt = lambda v: "  -  " if v is None else f"{v:.2f}"  # noqa: E731
    print(f"{'code':<22}{'tp':>4}{'fp':>4}{'fn':>4}  precision  recall", file=out)
    for code, c in report["per_code"].items():
        print(f"{code:<22}{c['tp']:>4}{c['fp']:>4}{c['fn']:>4}  {fmt(c['precision']):>9}  {fmt(c['recall']):>6}", file=out)
    print(f"cases: {report['cases']}   defects on clean submissions: {report['clean_false_positives']}", file=out)
    print(f"images read with OCR: {report['images_read']}   seconds per image: {report['seconds_per_image']}"
          f"   total: {report['total_seconds']} s wall, {report['cpu_seconds']} s CPU", file=out)
    photos, per = report["photos"], report["seconds_per_photo"]
    print(f"single photos: {photos['upright']} upright, {per['upright']} s each; {photos['turned']} turned upright, "
          f"{per['turned']} s each", file=out)
    for f in report["failures"]:
        print(f"  ✗ {f['case']}: missing {f['missing']} extra {f['extra']}", file=out)


if __name__ == "__main__":
    result = run_eval()
    sys.exit(1 if result["failures"] else 0)
