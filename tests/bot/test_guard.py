"""Odd input gets a friendly Chinese answer, never reaches the model, never raises."""

import pytest

from bot.guard import EMPTY_REPLY, NOISE_REPLY, long_note, precheck


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty(text: str) -> None:
    assert precheck(text)[0] == EMPTY_REPLY


@pytest.mark.parametrize("text", ["😀😀😀", "🎉👍", "\x00\x01\x02binary", "\ufffd\ufffd\ufffd\ufffd", "！！！？？？"])
def test_noise(text: str) -> None:
    assert precheck(text)[0] == NOISE_REPLY


def test_not_a_string() -> None:
    assert precheck(b"\x89PNG")[0] == NOISE_REPLY  # type: ignore[arg-type]


def test_ten_thousand_characters_are_capped_and_noted() -> None:
    text = "我想问一下新生儿落户的事情" * 800
    reply, clean = precheck(text)
    assert reply is None and 0 < len(clean) <= 1000
    assert long_note(text)


def test_ordinary_question_passes() -> None:
    assert precheck("宝宝刚出生要办什么") == (None, "宝宝刚出生要办什么")
