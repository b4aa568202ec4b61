"""Rasa component: normalise the message text before tokenisation.

Traditional → simplified (OpenCC), full-width → half-width, emoji, filler and control
characters removed, length capped — the same ``knowledge.text.normalize`` that search
uses, so the model and the search index see identical text.  The original text stays
in the tracker; the normalised one is also kept under ``normalized_text``.
"""

from __future__ import annotations

from typing import Any, Dict, List

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from knowledge.text import normalize

NORMALIZED = "normalized_text"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER], is_trainable=False)
class TextNormalizer(GraphComponent):
    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {}

    @classmethod
    def create(
        cls, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource, execution_context: ExecutionContext
    ) -> TextNormalizer:
        return cls()

    def _apply(self, message: Message) -> None:
        text = message.get(TEXT)
        if not isinstance(text, str):
            return
        clean = normalize(text) or " "
        message.set(TEXT, clean)
        message.set(NORMALIZED, clean, add_to_output=True)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for message in training_data.training_examples:
            self._apply(message)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._apply(message)
        return messages
