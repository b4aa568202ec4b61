"""The prebuilt action-response validator accepts and refuses exactly what Rasa's own check does."""

import pytest
from jsonschema import ValidationError, validate
from rasa.core.actions.action import RemoteAction

from nlu import rasa_speedups

GOOD = {"events": [{"event": "slot", "name": "service", "value": "T003"}], "responses": [{"text": "好的"}]}
BAD = {"events": [{"event": "slot", "name": 3}], "responses": "not a list"}


def test_same_verdicts_as_rasa_and_the_same_hint() -> None:
    rasa_speedups.apply()
    action = RemoteAction.__new__(RemoteAction)
    schema = RemoteAction.action_response_format_spec()
    validate(GOOD, schema)
    assert action._validate_action_result(GOOD) is True
    with pytest.raises(ValidationError):
        validate(BAD, schema)
    with pytest.raises(ValidationError) as caught:
        action._validate_action_result(BAD)
    assert "Failed to validate Action server response" in caught.value.message
    assert RemoteAction._validate_action_result is rasa_speedups._validate_action_result
