"""Search over the guides: BM25 (bm25s) on jieba words and character bigrams, plus exact alias phrases.

It is the knowledge-base half of routing and the baseline that ``make eval`` prints
beside the full router.  Built in memory from the published guides in well under a
second, and rebuilt whenever a guide is published.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Dict, Iterable, List, Sequence, Tuple

import bm25s
import numpy as np

from knowledge.schema import Service
from knowledge.text import Segmenter, normalize, search_tokens, shared_segmenter

logging.getLogger("bm25s").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Hit:
    service_id: str
    name: str
    score: float
    bm25: float
    phrase: str  # the alias or name found verbatim in the question, if any


def service_words(svc: Service) -> List[str]:
    """Names that should never be split by the segmenter."""
    words = [svc.name, svc.name.removesuffix("一件事"), *svc.aliases, *(i.name for i in svc.single_items)]
    words += [m.name for m in svc.materials]
    return words


def _document(svc: Service) -> str:
    """The text a service is found by; names and aliases repeated to weigh more than FAQ prose."""
    core = [svc.name.removesuffix("一件事")] * 3 + list(svc.aliases) * 2
    parts = core + [i.name for i in svc.single_items] * 2 + list(svc.resident_questions)
    parts += [svc.summary, svc.domain] + [f.q for f in svc.faqs] + [m.name for m in svc.materials]
    return "。".join(parts)


class SearchIndex:
    """BM25 over services; ``search`` returns the top services with scores in [0, 1]."""

    def __init__(self, services: Sequence[Service], segmenter: Segmenter | None = None) -> None:
        self.services = list(services)
        self.segmenter = segmenter or shared_segmenter()
        self.segmenter.add_words(w for s in self.services for w in service_words(s))
        corpus = [search_tokens(self.segmenter, _document(s)) for s in self.services]
        self.retriever = bm25s.BM25()
        self.retriever.index(corpus, show_progress=False)
        self.vocab = set(self.retriever.vocab_dict)
        self.phrases: List[Tuple[str, int]] = []
        for idx, svc in enumerate(self.services):
            for phrase in {normalize(svc.name), normalize(svc.name.removesuffix("一件事")), *map(normalize, svc.aliases)}:
                if len(phrase) >= 2:
                    self.phrases.append((phrase, idx))
        self.phrases.sort(key=lambda p: -len(p[0]))

    def bm25_scores(self, text: str) -> np.ndarray:
        tokens = [t for t in search_tokens(self.segmenter, text) if t in self.vocab]
        if not tokens:
            return np.zeros(len(self.services), dtype=np.float32)
        return np.asarray(self.retriever.get_scores(tokens), dtype=np.float32)

    def phrase_matches(self, text: str) -> Dict[int, str]:
        """Services whose name or alias appears verbatim; the longest phrase per service."""
        norm = normalize(text)
        found: Dict[int, str] = {}
        for phrase, idx in self.phrases:
            if idx not in found and phrase in norm:
                found[idx] = phrase
        return found

    def search(self, text: str, k: int = 5) -> List[Hit]:
        raw = self.bm25_scores(text)
        phrases = self.phrase_matches(text)
        top = float(raw.max()) if raw.size else 0.0
        scores = raw / top if top > 0 else raw.copy()
        for idx, phrase in phrases.items():
            scores[idx] = min(1.0, scores[idx] + 0.5 + 0.02 * len(phrase))
        order = np.argsort(-scores)[:k]
        return [
            Hit(self.services[i].id, self.services[i].name, round(float(scores[i]), 4), round(float(raw[i]), 4), phrases.get(int(i), ""))
            for i in order
            if scores[i] > 0
        ]


def build_index(services: Iterable[Service]) -> SearchIndex:
    return SearchIndex(sorted(services, key=lambda s: s.id))
