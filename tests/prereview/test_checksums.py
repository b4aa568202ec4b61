"""Check digits by the standards: GB 11643-1999 (ID numbers) and GB 32100-2015 (credit codes)."""

from datetime import date

import pytest

from prereview.checksums import (
    check_credit_code,
    check_id_number,
    check_registration_number,
    credit_check_char,
    id_check_char,
    mask_id,
)


@pytest.mark.parametrize("number", ["11010519491231002X", "11010519491231002x", "440524188001010014", "110101199003070134"])
def test_valid_id_numbers(number: str) -> None:
    assert check_id_number(number).ok


@pytest.mark.parametrize("number,reason", [
    ("110105194912310021", "check_digit"),   # the standard's example with a wrong last digit
    ("110105194913310027", "birth_date"),    # month 13
    ("110105190002300025", "birth_date"),    # 30 February
    ("990105194912310028", "region"),        # no province 99
    ("11010519491231002", "format"),         # 17 characters
    ("1101051949123100AX", "format"),
])
def test_invalid_id_numbers(number: str, reason: str) -> None:
    verdict = check_id_number(number)
    assert not verdict.ok and verdict.reason == reason


def test_wrong_check_digit_names_the_right_one() -> None:
    assert check_id_number("110105194912310021").expected == "X" == id_check_char("11010519491231002")


def test_birth_date_in_the_future_is_invalid() -> None:
    body = "11010520990101001"
    assert check_id_number(body + id_check_char(body), today=date(2026, 1, 1)).reason == "birth_date"


@pytest.mark.parametrize("code", ["91350100M000100Y43", "91110000600037341L", "91440300708461136T"])
def test_valid_credit_codes(code: str) -> None:
    verdict = check_credit_code(code)
    assert verdict.ok and not verdict.legacy


def test_invalid_credit_codes() -> None:
    assert check_credit_code("91350100M000100Y42").reason == "check_digit"
    assert check_credit_code("91350100M000100Y42").expected == "3"
    assert check_credit_code("91350100M00010OY43").reason == "format"  # letter O is not in the character set
    assert check_credit_code("9135010").reason == "format"


def test_pilot_code_with_wrong_embedded_org_code_is_a_legacy_pass() -> None:
    body = "91350100M00010010"  # embedded org code M0001001 with check character 0, which GB 11714 says is wrong
    code = body + credit_check_char(body)
    verdict = check_credit_code(code)
    assert verdict.ok and verdict.legacy and verdict.reason == "pilot_org_code"


def test_legacy_registration_number() -> None:
    assert check_registration_number("110108000000016").legacy
    assert check_registration_number("110108000000016").ok
    assert not check_registration_number("110108000000017").ok


def test_mask_keeps_region_and_tail_only() -> None:
    assert mask_id("11010519491231002X") == "110105********002X"
