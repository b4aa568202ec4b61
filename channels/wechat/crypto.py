"""Signatures and the AES message encryption of the 公众号 server protocol.

``signature`` is sha1 over the sorted parts (token, timestamp, nonce[, Encrypt]);
AES-256-CBC with PKCS#7 (block 32) comes from wechatpy's ``PrpCrypto``.  Comparisons
are constant-time, and a body that fails to decrypt raises ``CryptoError`` whatever
went wrong inside (bad base64, bad padding, another app id).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Optional

from wechatpy.crypto import PrpCrypto, WeChatCrypto


class CryptoError(ValueError):
    """The message is not from WeChat (signature, app id) or is not decryptable."""


def signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(str(p) for p in parts)).encode("utf-8")).hexdigest()


def check(given: Optional[str], *parts: str) -> bool:
    # compare bytes: compare_digest refuses non-ASCII str, and a forged signature may be anything
    return bool(given) and hmac.compare_digest(signature(*parts).encode(), str(given).encode("utf-8", "surrogatepass"))


def nonce() -> str:
    return str(secrets.randbelow(10**10))


class MessageCrypto:
    """Safe/compatible mode for one account (token, EncodingAESKey, AppID)."""

    def __init__(self, token: str, aes_key: str, appid: str) -> None:
        try:
            self._crypto = WeChatCrypto(token, aes_key, appid)
        except (AssertionError, ValueError, TypeError) as exc:
            raise CryptoError("WECHAT_AES_KEY 须为 43 个字符的 EncodingAESKey") from exc
        self.token, self.appid = token, appid

    def decrypt(self, encrypted: str, msg_signature: Optional[str], timestamp: str, nonce_: str) -> str:
        """The plaintext XML inside ``<Encrypt>``, after checking ``msg_signature``."""
        if not check(msg_signature, self.token, timestamp, nonce_, encrypted):
            raise CryptoError("msg_signature mismatch")
        try:
            return str(PrpCrypto(self._crypto.key).decrypt(encrypted, self.appid))
        except Exception as exc:  # noqa: BLE001 - any failure inside means "not a message from WeChat"
            raise CryptoError("cannot decrypt") from exc

    def encrypt(self, xml: str, nonce_: Optional[str] = None, timestamp: Optional[str] = None) -> str:
        """The ``<xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>`` envelope of a reply."""
        return str(self._crypto.encrypt_message(xml, nonce_ or nonce(), timestamp or str(int(time.time()))))

    def encrypt_field(self, xml: str) -> str:
        """Only the base64 ``Encrypt`` value (what WeChat puts in an inbound safe-mode body)."""
        return PrpCrypto(self._crypto.key).encrypt(xml, self.appid).decode("ascii")
