"""Text normalisation and tokenisation shared by search, NLU and the answer renderer.

Residents write in simplified and traditional characters, full-width digits, emoji and
voice-transcription filler; everything downstream sees one normal form.
"""

from __future__ import annotations

import logging as _logging
import re
import threading
import unicodedata
from functools import lru_cache
from typing import Iterable, List

import jieba
import opencc

jieba.setLogLevel(_logging.WARNING)

MAX_CHARS = 500

_FILLER = re.compile(r"[嗯呃额]+|(?<![\u4e00-\u9fff])[啊哈]+(?![\u4e00-\u9fff])")
_SPACES = re.compile(r"\s+")
_REPEAT_PUNCT = re.compile(r"([，。！？、,.!?~～…])\1+")
STOPWORDS = frozenset(
    "的 了 吗 呢 吧 啊 呀 么 嘛 我 你 他 她 我们 你们 请问 一下 怎么 怎么办 怎样 如何 什么 哪些 哪里 是 在 要 想 有 和 与 "
    "可以 能 能不能 需要 那个 这个 就是 然后 还有 给 办 办理 手续 一个 个 下 去 到 吗？ ， 。 ？ ！ , . ? ! 、 ：".split()
)

_converter_lock = threading.Lock()
# regional variants OpenCC keeps as they are
_VARIANTS = {"身分证": "身份证", "身分": "身份", "帐户": "账户", "帐号": "账号", "户囗": "户口"}
# homophone typos common in typed and voice-transcribed questions about government services
_TYPOS = {
    "护口": "户口", "户囗": "户口", "落护": "落户", "注消": "注销", "公基金": "公积金", "公机金": "公积金", "离昏": "离婚",
    "结昏": "结婚", "身份正": "身份证", "营业执找": "营业执照", "营业只照": "营业执照", "设保": "社保", "医宝": "医保",
    "退修": "退休", "驾使证": "驾驶证", "架驶证": "驾驶证", "驾照证": "驾驶证", "底保": "低保", "居注证": "居住证",
    "出身证明": "出生证明", "抚恤经": "抚恤金", "丧藏": "丧葬", "公组房": "公租房", "执找": "执照", "社报卡": "社保卡",
    "残急人": "残疾人", "养劳": "养老", "户藉": "户籍", "户集": "户籍", "迁户囗": "迁户口",
}
# English words residents mix in, mapped to the Chinese the guides use (applied after lower-casing)
_ENGLISH = {
    "id card": "身份证", "id卡": "身份证", "passport": "护照", "work permit": "工作许可", "residence permit": "居留许可",
    "driver's license": "驾驶证", "driving license": "驾驶证", "driver license": "驾驶证", "visa": "签证",
    "business license": "营业执照", "social security card": "社保卡", "social security": "社保", "hukou": "户口",
    "marriage certificate": "结婚证", "housing fund": "公积金", "pension": "养老金", "retire": "退休", "baby": "宝宝",
    "company": "公司", "foreigner": "外国人", "trademark": "商标", "patent": "专利", "copyright": "著作权",
}


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("tw2sp")  # Taiwan/HK vocabulary too: 軟體→软件


def _keep(ch: str) -> bool:
    cat = unicodedata.category(ch)
    if cat in ("So", "Sk", "Cs", "Co", "Cn"):  # emoji, symbols, surrogates, private use, unassigned
        return False
    if cat.startswith("C") and ch not in "\n\t":
        return False
    return True


def normalize(text: str, limit: int = MAX_CHARS) -> str:
    """Traditional → simplified, full-width → half-width, no emoji, filler or control characters."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text[: limit * 4])
    text = "".join(ch for ch in text if _keep(ch))
    with _converter_lock:
        text = _t2s().convert(text)
    for table in (_VARIANTS, _TYPOS):
        for old, new in table.items():
            if old in text:
                text = text.replace(old, new)
    text = _FILLER.sub("", text)
    text = _REPEAT_PUNCT.sub(r"\1", text)
    text = _SPACES.sub(" ", text).strip().lower()
    if any("a" <= ch <= "z" for ch in text):
        for en, zh in _ENGLISH.items():
            if en in text:
                text = text.replace(en, zh)
    return text[:limit]


def is_meaningful(text: str) -> bool:
    """True when the text has at least one letter, digit or Chinese character."""
    return any(ch.isalnum() for ch in text)


class Segmenter:
    """A private jieba dictionary (service names, aliases, materials stay whole)."""

    def __init__(self, words: Iterable[str] = ()) -> None:
        self._jieba = jieba.Tokenizer()
        self._jieba.initialize()
        self._lock = threading.Lock()
        self.add_words(words)

    def add_words(self, words: Iterable[str]) -> None:
        with self._lock:
            for w in words:
                w = w.strip()
                if 1 < len(w) <= 20:
                    self._jieba.add_word(w, freq=2000)

    def words(self, text: str) -> List[str]:
        with self._lock:
            return [w for w in self._jieba.lcut(text) if w.strip()]


_shared: "Segmenter | None" = None
_shared_lock = threading.Lock()


def shared_segmenter() -> Segmenter:
    """One jieba dictionary per process: loading it costs ~0.5 s, adding words costs microseconds."""
    global _shared
    if _shared is None:
        with _shared_lock:
            if _shared is None:
                _shared = Segmenter()
    return _shared


def char_ngrams(text: str, n: int = 2) -> List[str]:
    chars = [c for c in text if "\u4e00" <= c <= "\u9fff" or c.isalnum()]
    return ["".join(chars[i : i + n]) for i in range(len(chars) - n + 1)]


def search_tokens(seg: Segmenter, text: str) -> List[str]:
    """Words plus character bigrams: words for precision, bigrams for typos and odd segmentations."""
    text = normalize(text)
    words = [w for w in seg.words(text) if w not in STOPWORDS and is_meaningful(w)]
    return words + ["#" + g for g in char_ngrams(text)]
