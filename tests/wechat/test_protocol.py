"""Signatures, AES and XML handling against known vectors (no server needed)."""

from __future__ import annotations

import pytest
from wechatpy.crypto import WeChatCrypto

from channels.wechat.crypto import CryptoError, MessageCrypto, check, signature
from channels.wechat.messages import PASSIVE_LIMIT, BadMessage, parse, parse_xml, render, split, text_reply
from channels.wechat.simulator import Account, message_xml, read_reply, signed_request

# wechatpy's own test vector (token, EncodingAESKey, app id, an encrypted message and its msg_signature)
VEC_TOKEN = "123456"
VEC_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
VEC_APPID = "wx49f0ab532d5d035a"
VEC_ENCRYPT = ("RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6y"
               "dJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/T"
               "ywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5"
               "t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=")
VEC_SIGNATURE, VEC_TIMESTAMP, VEC_NONCE = "74d92dfeb87ba7c714f89d98870ae5eb62dff26d", "1411525903", "461056294"


def test_url_signature_matches_a_hand_computed_sha1() -> None:
    # sorted("guide-wechat-test-token", "1700000000", "123456") joined = "1234561700000000guide-wechat-test-token"
    assert signature("guide-wechat-test-token", "1700000000", "123456") == "7ced543e6da6c236c24b3951fe95668c36e918d0"
    assert check("7ced543e6da6c236c24b3951fe95668c36e918d0", "guide-wechat-test-token", "1700000000", "123456")
    assert not check("7ced543e6da6c236c24b3951fe95668c36e918d1", "guide-wechat-test-token", "1700000000", "123456")
    assert not check(None, "guide-wechat-test-token", "1700000000", "123456")


def test_decrypts_the_known_vector_and_checks_its_msg_signature() -> None:
    crypto = MessageCrypto(VEC_TOKEN, VEC_KEY, VEC_APPID)
    fields = parse_xml(crypto.decrypt(VEC_ENCRYPT, VEC_SIGNATURE, VEC_TIMESTAMP, VEC_NONCE))
    assert fields["Content"] == "test" and fields["FromUserName"] == "messense"
    with pytest.raises(CryptoError):
        crypto.decrypt(VEC_ENCRYPT, VEC_SIGNATURE, VEC_TIMESTAMP, "461056295")
    with pytest.raises(CryptoError):  # right signature over the wrong app id
        MessageCrypto(VEC_TOKEN, VEC_KEY, "wx0000000000000000").decrypt(VEC_ENCRYPT, VEC_SIGNATURE, VEC_TIMESTAMP, VEC_NONCE)


def test_our_encryption_is_what_wechatpy_reads_and_the_reverse() -> None:
    ours = MessageCrypto(VEC_TOKEN, VEC_KEY, VEC_APPID)
    theirs = WeChatCrypto(VEC_TOKEN, VEC_KEY, VEC_APPID)
    reply = text_reply("o_resident", "gh_account", "您好，居住证需要带身份证。")
    envelope = ours.encrypt(reply, "98765", "1700000000")
    assert theirs.decrypt_message(envelope, parse_xml(envelope)["MsgSignature"], "1700000000", "98765") == reply
    inbound = theirs.encrypt_message("<xml><Content>你好</Content></xml>", "111", "1700000001")
    f = parse_xml(inbound)
    assert parse_xml(ours.decrypt(f["Encrypt"], f["MsgSignature"], "1700000001", "111"))["Content"] == "你好"


def test_garbage_ciphertext_is_a_crypto_error_not_a_crash() -> None:
    crypto = MessageCrypto(VEC_TOKEN, VEC_KEY, VEC_APPID)
    for junk in ("not base64!!", "QUFBQQ==", VEC_ENCRYPT[:-8] + "AAAAAAA="):
        with pytest.raises(CryptoError):
            crypto.decrypt(junk, signature(VEC_TOKEN, "1", "2", junk), "1", "2")


def test_xml_with_entities_is_refused_before_anything_is_expanded() -> None:
    xxe = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
           "<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><MsgType>text</MsgType>"
           "<Content>&xxe;</Content></xml>")
    laughs = '<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><xml><Content>&b;</Content></xml>'
    for body in (xxe, laughs, "<xml><Content>unclosed", "", "<other/>", b"\xff\xfe<\x00x\x00"):
        with pytest.raises(BadMessage):
            parse_xml(body)


def test_events_dedupe_on_sender_and_time_messages_on_msgid() -> None:
    _, fields = message_xml("o_a", "text", "你好", msg_id=42)
    assert parse({k: str(v) for k, v in fields.items()}).dedupe_key == "m:42"
    xml, _ = message_xml("o_a", "subscribe", create_time=1700000000)
    event = parse(parse_xml(xml))
    assert event.msg_type == "event" and event.event == "subscribe"
    assert event.dedupe_key == "e:o_a:1700000000:subscribe:"


def test_buttons_become_numbered_options_and_other_payloads_get_the_next_numbers() -> None:
    text, numbers = render([{"kind": "bot", "text": "您想办哪一件？",
                             "buttons": [{"title": "1. 新生儿出生", "payload": "1"}, {"title": "2. 企业注销", "payload": "2"},
                                         {"title": "转人工", "payload": "/ask_human"}]}])
    assert text == "您想办哪一件？\n1. 新生儿出生\n2. 企业注销\n3. 转人工\n\n（回复 1、2、3 即可选择）"
    assert numbers == {"1": "1", "2": "2", "3": "/ask_human"}


def test_options_are_numbered_one_to_n_in_the_order_shown_across_messages() -> None:
    text, numbers = render([{"kind": "bot", "text": "选一个", "buttons": [{"title": "A", "payload": "/a"}, {"title": "2. B", "payload": "2"}]},
                            {"kind": "bot", "text": "或者", "buttons": [{"title": "1. 甲", "payload": "1"}, {"title": "3.5 万元以下", "payload": "9"}]}])
    assert text == "选一个\n1. A\n2. B\n\n或者\n3. 甲\n4. 3.5 万元以下\n\n（回复 1、2、3、4 即可选择）"
    assert numbers == {"1": "/a", "2": "2", "3": "1", "4": "9"}  # what the resident types → what the bot gets


def test_long_text_splits_under_the_passive_limit_without_losing_a_character() -> None:
    text = "\n".join("第%d项：申请人身份证、户口簿、出生医学证明原件及复印件，按窗口要求提交。" % i for i in range(120))
    text += "\n" + "无标点的超长行" * 400
    parts = split(text)
    assert len(parts) > 2
    assert all(len(p.encode("utf-8")) <= PASSIVE_LIMIT for p in parts)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")


def test_cdata_terminator_in_an_answer_cannot_break_the_reply_xml() -> None:
    xml = text_reply("o_a", "gh", "a]]><MsgType>news</MsgType>b")
    fields = parse_xml(xml)
    assert fields["Content"] == "a]]><MsgType>news</MsgType>b" and fields["MsgType"] == "text"


@pytest.mark.parametrize("mode", ["plain", "compat", "safe"])
def test_simulator_builds_requests_the_way_wechat_signs_them(mode: str) -> None:
    account = Account(VEC_TOKEN, VEC_APPID, VEC_KEY)
    xml, _ = message_xml("o_a", "text", "你好", msg_id=7)
    params, body = signed_request(account, xml, mode, timestamp=1700000000)
    assert check(params["signature"], VEC_TOKEN, params["timestamp"], params["nonce"])
    fields = parse_xml(body)
    if mode == "plain":
        assert "Encrypt" not in fields and fields["Content"] == "你好"
        return
    assert params["encrypt_type"] == "aes"
    assert ("Content" in fields) == (mode == "compat")
    inner = MessageCrypto(VEC_TOKEN, VEC_KEY, VEC_APPID).decrypt(fields["Encrypt"], params["msg_signature"], "1700000000",
                                                                params["nonce"])
    assert parse_xml(inner)["Content"] == "你好"
    assert read_reply(account, MessageCrypto(VEC_TOKEN, VEC_KEY, VEC_APPID).encrypt(text_reply("o_a", "gh", "好的"))) == "好的"
