"""Fields from OCR lines as OCR returns them: a label and its value as separate boxes, and numbers with letters
that only look like digits."""

from __future__ import annotations

from typing import List, Tuple

from prereview import corpus, ocr
from prereview.checksums import check_credit_code
from prereview.fields import extract, pair_labels, repair_credit, repair_id

NAME_LABELS = ["姓名", "申请人", "法定代表人"]
VALIDITY = ["有效期限", "营业期限"]


def box(text: str, x0: float, y0: float, x1: float, y1: float, score: float = 0.99) -> ocr.Line:
    return ocr.Line(text, [[x0, y0], [x1, y0], [x1, y1], [x0, y1]], score)


def card_lines(dy: float = 0.0) -> List[ocr.Line]:
    """An ID card's portrait side as OCR returns it for a real card: every label its own box; ``dy`` tilts the
    right-hand column as a photo taken at a slight angle does."""
    return [
        box("姓名", 85, 94, 137, 125), box("张三丰", 211, 89 + dy, 300, 132 + dy),
        box("性别", 85, 170, 139, 201), box("男", 211, 165 + dy, 251, 205 + dy),
        box("公民身份号码", 89, 500, 226, 530), box("11010519491231002X", 312, 499 + 2 * dy, 679, 528 + 2 * dy),
    ]


def test_a_name_in_its_own_box_is_paired_with_its_label() -> None:
    for dy in (0.0, 9.0):
        fields = extract(card_lines(dy), NAME_LABELS, VALIDITY)
        assert [(p.name, p.id_number) for p in fields.persons] == [("张三丰", "11010519491231002X")]
    # the same text without geometry (labels and values as lone strings) cannot be paired
    loose = extract([ln.text for ln in card_lines()], NAME_LABELS, VALIDITY)
    assert [p.name for p in loose.persons] == [""]


def test_values_printed_below_their_label_are_paired() -> None:
    lines = [box("统一社会信用代码", 70, 170, 290, 200), box("91110105MA01ABCD5Q", 70, 215, 420, 245),
             box("营业期限", 70, 300, 180, 330), box("2016年05月03日至长期", 70, 345, 400, 375),
             box("法定代表人", 500, 300, 640, 330), box("李四", 500, 345, 560, 375)]
    texts = pair_labels(lines, [*NAME_LABELS, *VALIDITY, "统一社会信用代码"])
    assert texts == ["统一社会信用代码91110105MA01ABCD5Q", "营业期限2016年05月03日至长期", "法定代表人李四"]
    fields = extract(lines, NAME_LABELS, VALIDITY)
    assert fields.credit_codes == ["91110105MA01ABCD5Q"]
    assert [(v.label, v.long_term) for v in fields.validity] == [("营业期限", True)]
    assert [p.name for p in fields.persons] == ["李四"]


def test_real_ocr_of_a_card_printed_with_labels_apart() -> None:
    w = corpus.world(7)
    lines = ocr.read(corpus.photograph(corpus.id_front(w.applicant, labels_apart=True)))
    assert any(ln.text == "姓名" for ln in lines), "OCR did return the label as a box of its own"
    fields = extract(lines, NAME_LABELS, VALIDITY)
    assert [(p.name, p.id_number) for p in fields.persons] == [(w.applicant.name, w.applicant.id_number)]


CONFUSED: List[Tuple[str, str]] = [
    ("11O1O5l9491231002x", "11010519491231002X"),  # O and l for 0 and 1, a small x
    ("1101051949I231DO2X", "11010519491231002X"),
    ("1101051949|2310021", "110105194912310021"),  # a bar for a 1
    ("11010S1949B231Z021", "110105194982312021"),
]


def test_id_number_look_alikes_are_repaired_where_a_digit_must_stand() -> None:
    for read, meant in CONFUSED:
        assert repair_id(read) == meant
    assert repair_id("BJ2026022000318XYZ") is None, "letters that are no digit's look-alike: not an ID number"
    assert repair_id("1101051949123100") is None
    assert repair_id("11O1O5l94912310O2X") is None, "more look-alikes than digits a misread would garble"
    fields = extract(["公民身份号码 11O1O5l9491231002x"], NAME_LABELS, VALIDITY)
    assert fields.id_numbers == ["11010519491231002X"]


def test_credit_codes_keep_their_letters_and_lose_impossible_ones() -> None:
    code = corpus.make_credit_code(__import__("random").Random(3))
    assert check_credit_code(code).ok
    misread = code[:2] + code[2:8].replace("0", "O").replace("1", "I") + code[8:]
    assert repair_credit(misread) == code
    assert repair_credit("91110105MA01BD8Q5S")[:17] == "91110105MA01BD8Q5", "B and D are real credit-code letters"
    assert repair_credit("91110105MA01BD8Q5S")[17] == "5", "S never is"
    fields = extract([f"统一社会信用代码 {misread}"], NAME_LABELS, VALIDITY)
    assert fields.credit_codes == [code] and fields.id_numbers == [], "a credit code is never taken for an ID number"


def test_other_numbers_are_left_alone() -> None:
    fields = extract(["回执编号  BJ2026022000318", "联系电话  13800138000"], NAME_LABELS, VALIDITY)
    assert fields.id_numbers == [] and fields.credit_codes == []
