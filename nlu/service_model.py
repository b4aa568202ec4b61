"""The hybrid service ranker: a trained text classifier + live knowledge-base search + exact phrases.

The classifier (character and word TF-IDF → logistic regression) generalises from the
examples it was trained on; BM25 and alias phrases read the *current* knowledge base,
so a published alias or a new service is found without retraining.  A small logistic
calibrator, fitted on held-out folds, turns the combined evidence into the probability
that the top service is right.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy as np
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from knowledge.search import SearchIndex
from knowledge.text import Segmenter, normalize

NONE = "__none__"
W_CLF, W_BM25, W_PHRASE = 0.55, 0.30, 0.15


def split_words(text: str) -> List[str]:
    """Analyzer for pre-segmented text (module-level so the model pickles)."""
    return text.split(" ")


@dataclass
class Candidate:
    service_id: str
    score: float
    p_clf: float
    bm25: float
    phrase: str


@dataclass
class Ranking:
    candidates: List[Candidate]
    confidence: float  # calibrated P(top candidate is right)
    p_none: float  # classifier's probability that this is no service at all

    def top(self, k: int = 5) -> List[Candidate]:
        return self.candidates[:k]


class ServiceModel:
    """Picklable; holds the vectorisers, the classifier and the calibrator."""

    def __init__(self, seed: int = 7, none_weight: float = 1.0) -> None:
        self.seed = seed
        self.none_weight = none_weight
        self.char = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, min_df=1)
        self.word = TfidfVectorizer(analyzer=split_words, sublinear_tf=True, min_df=1)
        self.clf: LinearSVC | None = None
        self.temperature = 6.0
        self.calibrator: LogisticRegression | None = None
        self.labels: List[str] = []
        self._seg: Segmenter | None = None
        self.words: List[str] = []  # KB names added to jieba; kept so a loaded model segments as it trained

    # ------------------------------------------------------------------ features

    def _segmenter(self) -> Segmenter:
        if self._seg is None:
            self._seg = Segmenter(getattr(self, "words", []))
        return self._seg

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_seg"] = None
        return state

    def _words(self, texts: Sequence[str]) -> List[str]:
        seg = self._segmenter()
        return [" ".join(seg.words(t)) or "_" for t in texts]

    def _x(self, texts: Sequence[str], fit: bool = False):  # type: ignore[no-untyped-def]
        norm = [normalize(t) or "_" for t in texts]
        words = self._words(norm)
        if fit:
            return hstack([self.char.fit_transform(norm), self.word.fit_transform(words)]).tocsr()
        return hstack([self.char.transform(norm), self.word.transform(words)]).tocsr()

    def _fit_clf(self, texts: Sequence[str], labels: Sequence[str]) -> LinearSVC:
        """A linear SVM (one-vs-rest, liblinear): seconds for 200 classes where multinomial LR takes minutes."""
        x = self._x(texts, fit=True)
        weights = {NONE: self.none_weight} if NONE in labels else None
        clf = LinearSVC(C=0.5, random_state=self.seed, class_weight=weights)
        clf.fit(x, labels)
        return clf

    def _probs(self, texts: Sequence[str]) -> np.ndarray:
        """Softmax over SVM margins; the calibrator turns the combined score into a probability."""
        assert self.clf is not None
        margins = np.atleast_2d(self.clf.decision_function(self._x(texts)))
        if margins.shape[1] == 1:  # two classes: liblinear returns one column
            margins = np.hstack([-margins, margins])
        z = np.exp((margins - margins.max(axis=1, keepdims=True)) * self.temperature)
        return z / z.sum(axis=1, keepdims=True)

    # ------------------------------------------------------------------ training

    def fit(self, examples: List[Tuple[str, str]], negatives: List[str], index: SearchIndex, phrase_words: Sequence[str] = ()) -> ServiceModel:
        """Fit the classifier, then the calibrator on 3 held-out folds."""
        self.words = list(dict.fromkeys(phrase_words))
        self._seg = None
        data = list(examples) + [(t, NONE) for t in negatives]
        rng = random.Random(self.seed)
        rng.shuffle(data)
        feats: List[List[float]] = []
        target: List[int] = []
        folds = 3
        for k in range(folds):
            train = [d for i, d in enumerate(data) if i % folds != k]
            held = [d for i, d in enumerate(data) if i % folds == k][:600]
            self.clf = self._fit_clf([t for t, _ in train], [y for _, y in train])
            self.labels = list(self.clf.classes_)
            for text, label in held:
                ranking = self._rank(text, index)
                feats.append(self._calibration_features(ranking))
                top = ranking.candidates[0].service_id if ranking.candidates else NONE
                target.append(int(label != NONE and top == label))
        self.calibrator = LogisticRegression(C=1.0, max_iter=500)
        self.calibrator.fit(np.asarray(feats), np.asarray(target))
        self.clf = self._fit_clf([t for t, _ in data], [y for _, y in data])
        self.labels = list(self.clf.classes_)
        return self

    @staticmethod
    def _calibration_features(r: Ranking) -> List[float]:
        c = r.candidates
        top = c[0].score if c else 0.0
        second = c[1].score if len(c) > 1 else 0.0
        return [top, top - second, r.p_none, 1.0 if c and c[0].phrase else 0.0]

    # ------------------------------------------------------------------ inference

    def _rank(self, text: str, index: SearchIndex) -> Ranking:
        probs = self._probs([text])[0]
        p_clf: Dict[str, float] = {lab: float(p) for lab, p in zip(self.labels, probs)}
        p_none = p_clf.pop(NONE, 0.0)
        raw = index.bm25_scores(text)
        top_raw = float(raw.max()) if raw.size else 0.0
        # relative BM25, damped when even the best match is weak in absolute terms
        strength = min(1.0, top_raw / 8.0)
        phrases = index.phrase_matches(text)
        scores: Dict[str, Candidate] = {}
        for i, svc in enumerate(index.services):
            rel = float(raw[i]) / top_raw * strength if top_raw > 0 else 0.0
            pc = p_clf.get(svc.id, 0.0)
            phrase = phrases.get(i, "")
            score = W_CLF * pc + W_BM25 * rel + (W_PHRASE if phrase else 0.0)
            if score > 0:
                scores[svc.id] = Candidate(svc.id, score, pc, rel, phrase)
        ranked = sorted(scores.values(), key=lambda c: -c.score)[:10]
        return Ranking(ranked, confidence=0.0, p_none=p_none)

    def rank(self, text: str, index: SearchIndex) -> Ranking:
        ranking = self._rank(text, index)
        if not ranking.candidates:
            return ranking
        feats = np.asarray([self._calibration_features(ranking)])
        if self.calibrator is not None and getattr(self.calibrator, "n_features_in_", feats.shape[1]) == feats.shape[1]:
            ranking.confidence = float(self.calibrator.predict_proba(feats)[0][1])
        else:  # a model pickled by an older version of this class: fall back to the raw score
            ranking.confidence = float(ranking.candidates[0].score)
        return ranking
