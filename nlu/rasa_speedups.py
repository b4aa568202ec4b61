"""Two measured fixes to Rasa 3.6 itself, applied when Rasa loads our components.

1. Rasa validates every action-server response against its event schema with
   ``jsonschema.validate``, which re-checks the (constant) schema itself on every call:
   46 ms of a 77 ms turn on this machine (cProfile of ``Agent.handle_text``), i.e. most of
   the cost of having custom actions at all.  We build the validator once, after checking
   the schema once, and validate each response against it: the same schema, the same
   ``ValidationError`` with Rasa's own hint appended.
2. ``EndpointConfig.request`` opens a new aiohttp session — a new TCP connection to the
   action server — for every custom action (py-spy: ~3.5 ms of the Rasa process per turn
   in connection set-up, plus the action server accepting it).  We keep one session per
   event loop and endpoint, with idle connections dropped after ``KEEPALIVE_S`` (shorter
   than the action server's own 5 s keep-alive, so a request never lands on a connection
   the server is closing).  Headers, parameters, TLS, errors and the JSON result are as in
   Rasa's own method.
``GUIDE_RASA_SPEEDUPS=0`` switches both off (to measure Rasa as it ships).
"""

from __future__ import annotations

import logging
import os
import ssl
from functools import lru_cache
from typing import Any, Dict, Optional

from guide.loops import PerLoop

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


KEEPALIVE_S = 3.0
_sessions: PerLoop[Dict[str, Any]] = PerLoop(dict)  # per event loop: endpoint → pooled aiohttp session


def _session(endpoint: Any) -> Any:
    """This event loop's pooled session for ``endpoint`` (created on first use, rebuilt if closed)."""
    import aiohttp
    from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT

    sessions = _sessions.get()
    key = f"{endpoint.url}|{sorted(endpoint.basic_auth.items())}"
    session = sessions.get(key)
    if session is None or session.closed:
        auth = aiohttp.BasicAuth(endpoint.basic_auth["username"], endpoint.basic_auth["password"]) if endpoint.basic_auth else None
        connector = aiohttp.TCPConnector(limit=64, keepalive_timeout=KEEPALIVE_S)
        session = aiohttp.ClientSession(connector=connector, auth=auth, timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT))
        sessions[key] = session
    return session


async def close_sessions() -> None:
    """Close this event loop's pooled sessions (tests; a server's loop ends with its process)."""
    sessions = _sessions.peek() or {}
    for key in list(sessions):
        await sessions.pop(key).close()


async def _request(self: Any, method: str = "post", subpath: Optional[str] = None,
                   content_type: Optional[str] = "application/json", compress: bool = False, **kwargs: Any) -> Optional[Any]:
    """``EndpointConfig.request`` on a pooled session (see the module docstring)."""
    from aiohttp import ContentTypeError
    from rasa.shared.exceptions import FileNotFoundException
    from rasa.utils.endpoints import ClientResponseError, concat_url

    headers: Dict[str, Any] = {"Content-Type": content_type} if content_type else {}
    headers.update(kwargs.pop("headers", None) or {})
    headers.update(self.headers or {})
    sslcontext = None
    if self.cafile:
        try:
            sslcontext = ssl.create_default_context(cafile=self.cafile)
        except FileNotFoundError as e:
            raise FileNotFoundException(f"Failed to find certificate file, '{os.path.abspath(self.cafile)}' does not exist.") from e
    async with _session(self).request(method, concat_url(self.url, subpath), headers=headers,
                                      params=self.combine_parameters(kwargs), compress=compress, ssl=sslcontext,
                                      **kwargs) as response:
        if response.status >= 400:
            raise ClientResponseError(response.status, response.reason, await response.content.read())
        try:
            return await response.json()
        except ContentTypeError:
            return None


def apply() -> None:
    """Idempotent; a no-op outside a Rasa process that has the class."""
    global _applied
    if _applied or os.environ.get("GUIDE_RASA_SPEEDUPS", "1") == "0":
        return
    try:
        from rasa.core.actions.action import RemoteAction
    except ImportError:
        return
    from rasa.utils.endpoints import EndpointConfig

    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    EndpointConfig.request = _request  # type: ignore[method-assign]
    _applied = True
    log.info("rasa speed-ups applied: prebuilt action-response validator, pooled action-server connections")
