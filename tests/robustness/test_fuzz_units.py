"""Property-based fuzzing (hypothesis) of the code every resident message crosses first:
identifier masking, the input guard, and the WeChat XML parser and signature checks."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.guard import precheck
from channels.wechat.crypto import CryptoError, MessageCrypto, check, signature
from channels.wechat.messages import BadMessage, parse, parse_xml, text_reply
from guide.masking import mask
from knowledge.text import MAX_CHARS

FAST = settings(max_examples=150, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
ID_AREA = st.sampled_from(["110105", "310104", "440305", "510107"])


@st.composite
def id_numbers(draw) -> str:  # type: ignore[no-untyped-def]
    birth = draw(st.dates(min_value=__import__("datetime").date(1930, 1, 1), max_value=__import__("datetime").date(2025, 12, 31)))
    return draw(ID_AREA) + birth.strftime("%Y%m%d") + draw(st.from_regex(r"\A\d{3}[0-9X]\Z"))


mobiles = st.from_regex(r"\A1[3-9]\d{9}\Z")
chinese = st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x4FFF), max_size=12)
separators = st.sampled_from(["", " ", "：", "号码", "，", "\n"])


@FAST
@given(st.text(max_size=300))
def test_mask_is_length_preserving_and_idempotent(text: str) -> None:
    once = mask(text)
    assert len(once) == len(text)
    assert mask(once) == once


@FAST
@given(chinese, separators, id_numbers(), separators, mobiles, chinese)
def test_mask_hides_ids_and_mobiles_inside_any_text(head: str, s1: str, idn: str, s2: str, mobile: str, tail: str) -> None:
    text = f"{head}{s1}{idn}{s2 or ' '}{mobile}{tail}"
    out = mask(text)
    assert idn not in out and mobile not in out
    assert idn[:6] + "********" + idn[-4:] in out
    assert mobile[:3] + "****" + mobile[-4:] in out
    assert not re.search(r"(?<!\d)1[3-9]\d{9}(?!\d)", out)


@FAST
@given(st.one_of(st.text(max_size=3000), st.binary(max_size=200).map(lambda b: b.decode("utf-8", "replace")),
                 st.none(), st.integers(), st.lists(st.text(max_size=5), max_size=3)))
def test_precheck_never_raises_and_bounds_what_reaches_the_model(value: object) -> None:
    reply, text = precheck(value)
    if reply is None:
        assert isinstance(text, str) and text.strip() and len(text) <= MAX_CHARS * 2
    else:
        assert isinstance(reply, str) and reply and text == ""


@FAST
@given(st.binary(max_size=2000))
def test_wechat_parser_reads_or_refuses_arbitrary_bytes(body: bytes) -> None:
    try:
        fields = parse_xml(body)
    except BadMessage:
        return
    assert isinstance(fields, dict) and all(isinstance(v, str) for v in fields.values())


xml_names = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,15}\Z")
xml_text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=300)


@FAST
@given(st.dictionaries(xml_names, xml_text, max_size=12), st.booleans())
def test_wechat_documents_with_any_fields_parse_or_are_refused(fields: dict, with_required: bool) -> None:
    if with_required:
        fields = {**fields, "FromUserName": fields.get("FromUserName") or "o_resident", "MsgType": fields.get("MsgType") or "text"}
    body = text_reply("x", "y", "z").split("<xml>")[0] + "<xml>" + "".join(
        f"<{k}><![CDATA[{v.replace(']]>', '')}]]></{k}>" for k, v in fields.items()) + "</xml>"
    try:
        parsed = parse_xml(body.encode("utf-8"))
    except BadMessage:
        return
    try:
        msg = parse(parsed)
    except BadMessage:
        assert not parsed.get("FromUserName") or not parsed.get("MsgType")
        return
    assert msg.from_user and len(msg.from_user) <= 128 and len(msg.msg_id) <= 64 and msg.msg_type == msg.msg_type.lower()


@FAST
@given(st.text(max_size=8000))
def test_any_reply_content_makes_a_well_formed_document(content: str) -> None:
    content = "".join(ch for ch in content if ch in "\t\n\r" or (ord(ch) >= 0x20 and not 0xD800 <= ord(ch) <= 0xDFFF and ord(ch) not in (0xFFFE, 0xFFFF)))
    expected = content.replace("\r\n", "\n").replace("\r", "\n").strip()  # XML's own line-end normalisation
    assert parse_xml(text_reply("o_resident", "gh_account", content))["Content"] == expected


# Found by this test (now fixed in channels/wechat/crypto.check, which compares bytes): hmac.compare_digest raised
# TypeError for a non-ASCII str, so `?signature=%C2%80` on /wechat was a 500.
@FAST
@given(st.one_of(st.none(), st.text(max_size=60)), st.text(max_size=20), st.text(max_size=20), st.text(max_size=20))
def test_signature_check_is_a_plain_yes_or_no(given_sig, token: str, ts: str, nonce: str) -> None:  # type: ignore[no-untyped-def]
    assert check(given_sig, token, ts, nonce) in (True, False)
    assert check(signature(token, ts, nonce), token, ts, nonce) is True


CRYPTO = MessageCrypto("token", "a" * 43, "wx0123456789abcdef")


@settings(max_examples=150, deadline=1000)
@given(st.text(max_size=400), st.one_of(st.none(), st.text(max_size=50)), st.text(max_size=12), st.text(max_size=12))
def test_decrypting_garbage_is_refused_not_crashed(encrypted: str, msg_sig, ts: str, nonce: str) -> None:  # type: ignore[no-untyped-def]
    try:
        CRYPTO.decrypt(encrypted, msg_sig, ts, nonce)
    except CryptoError:
        return
    raise AssertionError("garbage decrypted without a CryptoError")
