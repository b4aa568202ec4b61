"""Structured logs: one JSON object a line, ID numbers and phone numbers masked.

``setup_logging("gateway")`` at process start (the gateway's startup, the action
server's package import) sends every logger — ours, uvicorn's, Rasa SDK's — through one
handler that writes lines like::

    {"ts": "2026-11-23T08:15:02.413Z", "level": "INFO", "logger": "channels.hub", "msg": "…",
     "process": "gateway", "pid": 4121, "sender": "web-3f…"}

Every string that reaches the line (the message, its arguments, extra fields, the
traceback) passes through ``guide.masking.mask`` first, so a resident who types an ID
number or a phone number never leaves it in clear in a log file or a log collector.
Fields given with ``log.info("…", extra={...})`` or bound for a block with ``bind(...)``
are added to the object.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any, Dict, Iterator, Mapping, Optional, TextIO

from guide.masking import mask

# attributes every LogRecord has; anything else on a record came from ``extra=``
_STANDARD = set(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {"message", "asctime", "taskName"}
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar("guide_log_context", default=MappingProxyType({}))
_HANDLER_FLAG = "_guide_json_handler"
MAX_FIELD = 4000


def masked(value: Any) -> Any:
    """``value`` with every string inside it masked (dicts, lists and tuples are walked)."""
    if isinstance(value, str):
        return mask(value[:MAX_FIELD])
    if isinstance(value, dict):
        return {str(k): masked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [masked(v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return mask(str(value)[:MAX_FIELD])


@contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every line logged inside the block (this task / thread only)."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        try:
            return self._format(record)
        except Exception:  # noqa: BLE001 - at interpreter exit module globals are already None (aiohttp's __del__ logs then)
            return '{"level": "%s", "logger": "%s", "msg": "(logged during interpreter exit, not formatted)"}' % (
                record.levelname,
                record.name,
            )

    def _format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the line
            message = f"{record.msg!r} {record.args!r}"
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        out: Dict[str, Any] = {
            "ts": ts,
            "level": record.levelname,
            "logger": record.name,
            "msg": mask(message),
            "process": self.service,
            "pid": record.process,
        }
        for key, value in _context.get().items():
            out.setdefault(key, masked(value))
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in out:
                out[key] = masked(value)
        if record.exc_info:
            out["exc"] = mask(self.formatException(record.exc_info))
        elif record.stack_info:
            out["stack"] = mask(record.stack_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class MaskingFilter(logging.Filter):
    """For handlers that keep a plain-text format: masks the message and its arguments in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.msg = mask(record.getMessage())
            record.args = None
        except Exception:  # noqa: BLE001
            pass
        return True


def setup_logging(service_name: str, level: Optional[str] = None, stream: Optional[TextIO] = None) -> logging.Handler:
    """Route every logger of this process through one JSON handler (idempotent; returns the handler).

    ``level`` defaults to the LOG_LEVEL setting.  Handlers already on the root logger and
    Uvicorn's and Sanic's own handlers are removed so their lines (access log included) come out as JSON too.
    """
    if level is None:
        from guide.settings import get_settings

        level = get_settings().log_level
    root = logging.getLogger()
    for h in list(root.handlers):  # basicConfig's or an earlier call's: one handler, one format
        root.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(service_name))
    setattr(handler, _HANDLER_FLAG, True)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "sanic.root", "sanic.access", "sanic.error", "rasa_sdk"):
        lg = logging.getLogger(name)
        lg.handlers = []
        lg.propagate = True
    return handler
