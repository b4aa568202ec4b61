"""Rasa component: tag service, material and place names with a spaCy PhraseMatcher built from the knowledge base.

spaCy runs as a blank ``zh`` pipeline with the jieba segmenter; every phrase is also
added to jieba's dictionary so it is segmented whole.  The matcher is rebuilt when the
knowledge base is reloaded (a published edit), so a new alias is recognised at once.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Dict, Iterable, List, Tuple

import jieba
import spacy
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from spacy.matcher import PhraseMatcher

from knowledge.base import KnowledgeBase, current
from knowledge.text import normalize

log = logging.getLogger(__name__)
EXTRACTOR = "KBPhraseEntityExtractor"


def phrase_table(kb: KnowledgeBase) -> Dict[str, List[Tuple[str, str]]]:
    """label → [(phrase, value)]; values are service ids, catalogue material names, place names."""
    table: Dict[str, List[Tuple[str, str]]] = {"service": [], "material": [], "place": []}
    for svc in kb.services.values():
        for phrase in {svc.name, svc.name.removesuffix("一件事"), *svc.aliases}:
            table["service"].append((normalize(phrase), svc.id))
        for m in svc.materials:
            entry = kb.materials.get(m.catalogue)
            table["material"].append((normalize(m.name), entry.name if entry else m.name))
    for entry in kb.materials.values():
        table["material"].append((normalize(entry.name), entry.name))
    for hall in kb.profile.halls.values():
        table["place"].append((normalize(hall.name), hall.name))
    for district in kb.profile.districts:
        table["place"].append((normalize(district), district))
        if district.endswith("区") and len(district) > 2:
            table["place"].append((normalize(district[:-1]), district))
    return table


class PhraseTagger:
    """The spaCy pipeline and matcher for one knowledge-base generation."""

    def __init__(self, table: Dict[str, List[Tuple[str, str]]]) -> None:
        for phrases in table.values():
            for phrase, _ in phrases:
                if len(phrase) > 1:
                    jieba.add_word(phrase, freq=2000)
        self.nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
        self.matcher = PhraseMatcher(self.nlp.vocab)
        self.values: Dict[str, str] = {}
        for label, phrases in table.items():
            docs = []
            for phrase, value in phrases:
                if len(phrase) < 2:
                    continue
                key = f"{label}|{phrase}"
                self.values[key] = value
                docs.append(self.nlp.make_doc(phrase))
            if docs:
                self.matcher.add(label, docs)

    def tag(self, text: str) -> List[Dict[str, Any]]:
        doc = self.nlp.make_doc(text)
        spans = []
        for match_id, start, end in self.matcher(doc):
            label = self.nlp.vocab.strings[match_id]
            span = doc[start:end]
            value = self.values.get(f"{label}|{span.text}")
            if value is not None:
                spans.append((span.start_char, span.end_char, label, span.text, value))
        # keep the longest non-overlapping spans
        spans.sort(key=lambda s: (-(s[1] - s[0]), s[0]))
        chosen: List[Tuple[int, int, str, str, str]] = []
        for s in spans:
            if all(s[1] <= c[0] or s[0] >= c[1] for c in chosen):
                chosen.append(s)
        chosen.sort()
        return [
            {"entity": label, "start": start, "end": end, "value": value, "text": text_, "extractor": EXTRACTOR, "confidence_entity": 1.0}
            for start, end, label, text_, value in chosen
        ]


class TaggerCache:
    """Rebuilds the tagger when the knowledge base object changes (after a reload)."""

    def __init__(self, kb_provider: Any = current) -> None:
        self._provider = kb_provider
        self._lock = threading.Lock()
        self._kb: KnowledgeBase | None = None
        self._tagger: PhraseTagger | None = None

    def get(self) -> PhraseTagger:
        kb = self._provider()
        if kb is not self._kb or self._tagger is None:
            with self._lock:
                if kb is not self._kb or self._tagger is None:
                    self._tagger = PhraseTagger(phrase_table(kb))
                    self._kb = kb
        assert self._tagger is not None
        return self._tagger


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class KBPhraseEntityExtractor(GraphComponent):
    def __init__(self) -> None:
        self.cache = TaggerCache()

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {}

    @classmethod
    def create(
        cls, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource, execution_context: ExecutionContext
    ) -> KBPhraseEntityExtractor:
        from knowledge.events import start_listening

        try:
            start_listening()
        except Exception as exc:  # Redis down: still serve, reload on restart
            log.warning("knowledge change listener not started: %s", exc)
        extractor = cls()
        extractor.warm()
        return extractor

    def warm(self) -> None:
        """Build the matcher while the model loads (Rasa accepts no messages until then), so the first
        resident does not wait seconds for the knowledge base, spaCy and jieba; a failure here only
        moves that cost to the first message."""
        try:
            self.cache.get().tag("宝宝出生后要办出生医学证明")
        except Exception as exc:  # noqa: BLE001 - e.g. the database is not reachable yet
            log.warning("phrase matcher not built at load time: %s", exc)

    def process(self, messages: List[Message]) -> List[Message]:
        tagger = self.cache.get()
        for message in messages:
            text = message.get(TEXT) or ""
            found = tagger.tag(text)
            if found:
                message.set(ENTITIES, list(message.get(ENTITIES, [])) + found, add_to_output=True)
        return messages


def tag_text(text: str, cache: TaggerCache | None = None) -> List[Dict[str, Any]]:
    """Tag outside Rasa (CLI, editor hit test) with the same matcher."""
    return (cache or _default_cache()).get().tag(normalize(text))


_cache: TaggerCache | None = None


def _default_cache() -> TaggerCache:
    global _cache
    if _cache is None:
        _cache = TaggerCache()
    return _cache


def iter_phrases(kb: KnowledgeBase) -> Iterable[str]:
    for phrases in phrase_table(kb).values():
        for phrase, _ in phrases:
            yield phrase
