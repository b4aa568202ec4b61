"""One measured fix to Rasa 3.6 itself, applied when Rasa loads our components.

Rasa validates every action-server response against its event schema with
``jsonschema.validate``, which re-checks the (constant) schema itself on every call:
46 ms of a 77 ms turn on this machine (cProfile of ``Agent.handle_text``), i.e. most of
the cost of having custom actions at all.  We build the validator once, after checking
the schema once, and validate each response against it: the same schema, the same
``ValidationError`` with Rasa's own hint appended.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any, Dict

log = logging.getLogger(__name__)
_applied = False


@lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _validate_action_result(self: Any, result: Dict[str, Any]) -> bool:
    from jsonschema import ValidationError
    from jsonschema.exceptions import best_match
    from rasa.shared.constants import DOCS_BASE_URL

    error = best_match(_validator().iter_errors(result))
    if error is None:
        return True
    assert isinstance(error, ValidationError)
    error.message += (". Failed to validate Action server response from API, make sure your response from the Action "
                      f"endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions")
    raise error


def apply() -> None:
    """Idempotent; a no-op outside a Rasa process that has the class."""
    global _applied
    if _applied:
        return
    try:
        from rasa.core.actions.action import RemoteAction
    except ImportError:
        return
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    _applied = True
    log.info("rasa speed-up applied: action responses validated with a prebuilt schema validator")
