"""Notice numbers are unique and gap-free under concurrency (SQLite and PostgreSQL); notices are stored with
an audit trail, found by their tokenised slug, and a resubmission supersedes the notice it names."""

from __future__ import annotations

import threading
from datetime import date

import pytest

from prereview.corpus import TODAY
from prereview.engine import MemoryCache, ReviewResult, Submission, review
from prereview.notices import NoticeStore, format_number, working_days_after


@pytest.fixture(scope="module")
def result(kb) -> ReviewResult:  # type: ignore[no-untyped-def]
    """A real review (a text file sent as a photo receipt) that needs no OCR."""
    subs = [Submission("回执.jpg", "数码相片回执\n".encode() * 30, material="数码相片回执")]
    return review("T068", subs, "own_house", ("黄阳", "110105196907217428"), kb=kb, cache=MemoryCache(), today=TODAY)


def test_numbers_are_unique_and_sequential_under_concurrent_threads(db_url: str, result: ReviewResult) -> None:
    store = NoticeStore(db_url)
    numbers: list = []
    errors: list = []
    lock = threading.Lock()

    def issue_some() -> None:
        try:
            for _ in range(6):
                n = store.issue(result, prefix="京政务预审", actor="test")
                with lock:
                    numbers.append((n.number, n.seq))
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=issue_some) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(seq for _, seq in numbers) == list(range(1, 49))
    assert len({n for n, _ in numbers}) == 48
    assert format_number("京政务预审", 2026, 1) in {n for n, _ in numbers}
    assert all(len(store.trail(n)) == 1 for n, _ in numbers[:5])


def test_notice_round_trip_slug_and_supersession(sqlite_url: str, result: ReviewResult) -> None:
    store = NoticeStore(sqlite_url)
    first = store.issue(result, prefix="京政务预审")
    assert first.number == "〔2026〕京政务预审第000001号"
    assert first.deadline == working_days_after(TODAY, result.deadline_days)
    again = store.by_slug(first.slug)
    assert again is not None and again.number == first.number
    assert [d.code for d in again.result.defects] == [d.code for d in result.defects]
    assert store.by_slug(f"{first.year}-{first.seq:06d}-wrongtoken") is None, "numbers alone do not open a notice"

    resubmitted = ReviewResult.from_json({**result.to_json(), "previous_number": first.number})
    second = store.issue(resubmitted, prefix="京政务预审")
    assert second.previous_number == first.number
    assert store.get(first.number).superseded_by == second.number  # type: ignore[union-attr]
    assert [e["action"] for e in store.trail(first.number)] == ["issued", "superseded"]
    assert [n.number for n in store.recent(10)] == [second.number, first.number]


def test_contract_json_has_the_listed_keys(sqlite_url: str, result: ReviewResult) -> None:
    notice = NoticeStore(sqlite_url).issue(result, prefix="京政务预审")
    body = notice.to_json("http://testserver")
    assert set(body) >= {"service", "passed", "notice"}
    assert set(body["notice"]) >= {"number", "defects"}
    for d in body["notice"]["defects"]:
        assert set(d) >= {"file", "material", "code", "message", "fix"}
    assert body["notice"]["url"].startswith("http://testserver/prereview/notices/2026-000001-")


def test_working_days_skip_weekends() -> None:
    assert working_days_after(date(2026, 3, 6), 5) == date(2026, 3, 13)  # Friday + 5 working days
    assert working_days_after(date(2026, 3, 2), 0) == date(2026, 3, 2)
