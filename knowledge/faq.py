"""Match a resident's question to a service's FAQ, live from the knowledge base.

Character-bigram cosine similarity: robust to word order, particles and typos, and it
needs no training, so an FAQ an editor publishes is answerable at once.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Optional, Tuple

from knowledge.schema import FAQ, Service
from knowledge.text import char_ngrams, normalize

MIN_SIMILARITY = 0.45


def _vector(text: str) -> Counter:
    norm = normalize(text)
    return Counter(char_ngrams(norm, 2) + char_ngrams(norm, 1))


def similarity(a: str, b: str) -> float:
    va, vb = _vector(a), _vector(b)
    dot = sum(v * vb.get(k, 0) for k, v in va.items())
    na, nb = math.sqrt(sum(v * v for v in va.values())), math.sqrt(sum(v * v for v in vb.values()))
    return dot / (na * nb) if na and nb else 0.0


def best_faq(svc: Service, question: str, threshold: float = MIN_SIMILARITY) -> Optional[Tuple[FAQ, float]]:
    scored = [(f, similarity(question, f.q)) for f in svc.faqs]
    if not scored:
        return None
    faq, score = max(scored, key=lambda x: x[1])
    return (faq, score) if score >= threshold else None
