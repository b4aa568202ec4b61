"""Rasa component: rank the 200 themed services for every message (``service_ranking`` in the parse data).

Trained with the model from examples generated from the knowledge base; at prediction
time it combines its classifier with the live search index (see ``service_model``).
"""

from __future__ import annotations

import logging
import pickle
from typing import Any, Dict, List

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from knowledge.base import current
from nlu import rasa_speedups
from nlu.service_model import Ranking, ServiceModel

rasa_speedups.apply()  # Rasa imports this module when it loads the model: the fix is in place before the first turn

log = logging.getLogger(__name__)

RANKING = "service_ranking"
CONFIDENCE = "service_confidence"
NONE_PROB = "service_none"
NEGATIVE_INTENTS = ("out_of_scope", "greet", "goodbye", "thanks", "affirm", "deny", "chitchat", "ask_human", "bot_challenge")
FILE = "service_model.pkl"


def ranking_payload(ranking: Ranking, names: Dict[str, str], k: int = 5) -> List[Dict[str, Any]]:
    return [
        {"id": c.service_id, "name": names.get(c.service_id, c.service_id), "score": round(c.score, 4), "phrase": c.phrase}
        for c in ranking.top(k)
    ]


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class ServiceRouter(GraphComponent):
    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {"per_service": 30, "seed": 7, "none_weight": 0.5}

    def __init__(self, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource, model: ServiceModel | None = None) -> None:
        self.config = config
        self.model_storage = model_storage
        self.resource = resource
        self.model = model

    @classmethod
    def create(cls, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource, execution_context: ExecutionContext) -> ServiceRouter:
        return cls(config, model_storage, resource)

    @classmethod
    def load(cls, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource, execution_context: ExecutionContext, **kwargs: Any) -> ServiceRouter:
        model = None
        try:
            with model_storage.read_from(resource) as path:
                with open(path / FILE, "rb") as fh:
                    model = pickle.load(fh)
        except (ValueError, FileNotFoundError) as exc:
            log.warning("service router has no trained model: %s", exc)
        router = cls(config, model_storage, resource, model)
        router.warm()
        return router

    def warm(self) -> None:
        """Load the knowledge base and its search index and rank one question while the model loads
        (Rasa accepts no messages until then): "ready" then means ready, and the first resident is
        answered in milliseconds, not after seconds of loading.  A failure only moves the cost."""
        if self.model is None:
            return
        try:
            self.model.rank("宝宝刚出生要办什么", current().index)
        except Exception as exc:  # noqa: BLE001 - e.g. the database is not reachable yet
            log.warning("service router not warmed at load time: %s", exc)

    def train(self, training_data: TrainingData) -> Resource:
        from bot.examples import service_examples
        from knowledge.search import service_words

        kb = current()
        examples = service_examples(kb.services.values(), per_service=self.config["per_service"])
        negatives = [m.get(TEXT) for m in training_data.intent_examples if (m.get(INTENT) or "").split("/")[0] in NEGATIVE_INTENTS]
        words = [w for s in kb.services.values() for w in service_words(s)]
        log.info("training service router: %d service examples, %d negatives", len(examples), len(negatives))
        self.model = ServiceModel(seed=self.config["seed"], none_weight=self.config["none_weight"]).fit(examples, negatives, kb.index, words)
        with self.model_storage.write_to(self.resource) as path:
            with open(path / FILE, "wb") as fh:
                pickle.dump(self.model, fh)
        return self.resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        if self.model is None:
            return messages
        kb = current()
        names = {sid: s.name for sid, s in kb.services.items()}
        for message in messages:
            text = message.get(TEXT) or ""
            ranking = self.model.rank(text, kb.index)
            message.set(RANKING, ranking_payload(ranking, names), add_to_output=True)
            message.set(CONFIDENCE, round(ranking.confidence, 4), add_to_output=True)
            message.set(NONE_PROB, round(ranking.p_none, 4), add_to_output=True)
        return messages
