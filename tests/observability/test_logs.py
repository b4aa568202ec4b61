"""Structured logs: one JSON object a line, personal identifiers never in clear."""

from __future__ import annotations

import io
import json
import logging
from typing import Iterator

import pytest

from guide.logs import MaskingFilter, bind, setup_logging

ID = "110105199003071234"
MOBILE = "13812345678"


@pytest.fixture()
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    stream = io.StringIO()
    setup_logging("gateway", level="DEBUG", stream=stream)
    try:
        yield stream
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved_handlers:
            root.addHandler(h)
        root.setLevel(saved_level)


def lines(stream: io.StringIO) -> list:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_each_line_is_one_json_object_with_the_standard_fields(captured: io.StringIO) -> None:
    logging.getLogger("channels.hub").info("turn done in %d ms", 42, extra={"sender": "web-abc", "turn": 3})
    (entry,) = lines(captured)
    assert entry["msg"] == "turn done in 42 ms"
    assert entry["level"] == "INFO" and entry["logger"] == "channels.hub" and entry["process"] == "gateway"
    assert entry["sender"] == "web-abc" and entry["turn"] == 3 and isinstance(entry["pid"], int)
    assert entry["ts"].endswith("Z") and "T" in entry["ts"]


def test_id_numbers_and_phone_numbers_are_masked_everywhere(captured: io.StringIO) -> None:
    log = logging.getLogger("actions")
    log.warning("resident wrote %s and %s", ID, MOBILE, extra={"text": f"我的电话 {MOBILE}", "form": {"id": ID, "list": [MOBILE]}})
    with bind(note=f"身份证 {ID}"):
        log.error("bound")
    try:
        raise ValueError(f"bad id {ID}")
    except ValueError:
        log.exception("failed for %s", MOBILE)
    raw = captured.getvalue()
    assert ID not in raw and MOBILE not in raw
    first, second, third = lines(captured)
    assert first["msg"] == "resident wrote 110105********1234 and 138****5678"
    assert first["text"] == "我的电话 138****5678" and first["form"] == {"id": "110105********1234", "list": ["138****5678"]}
    assert second["note"] == "身份证 110105********1234"
    assert "ValueError: bad id 110105********1234" in third["exc"]


def test_uvicorn_access_lines_become_json_and_are_masked(captured: io.StringIO) -> None:
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", f"/guide?q={MOBILE}", "1.1", 200)
    (entry,) = lines(captured)
    assert entry["logger"] == "uvicorn.access" and "138****5678" in entry["msg"] and MOBILE not in entry["msg"]


def test_a_second_setup_keeps_one_handler(captured: io.StringIO) -> None:
    stream = io.StringIO()
    setup_logging("actions", level="INFO", stream=stream)
    logging.getLogger("x").info("once")
    assert len(logging.getLogger().handlers) == 1
    assert [e["process"] for e in lines(stream)] == ["actions"] and captured.getvalue() == ""


def test_masking_filter_for_plain_text_handlers() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "call %s", (MOBILE,), None)
    assert MaskingFilter().filter(record) and record.getMessage() == "call 138****5678"


def test_a_record_logged_while_the_interpreter_exits_still_gives_one_json_line(
    captured: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    import guide.logs

    monkeypatch.setattr(guide.logs, "time", None)  # what module teardown leaves behind when aiohttp's __del__ logs
    logging.getLogger("asyncio").error("Unclosed client session")
    (entry,) = lines(captured)
    assert entry["level"] == "ERROR" and entry["logger"] == "asyncio"
