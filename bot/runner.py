"""Load the trained Rasa model once and parse text with it, outside a running Rasa server.

``guide route``, ``guide eval`` and the editor's hit test use this, so they run the
exact pipeline the Rasa server runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Any, Dict, List

from bot.routing import RouteDecision, decide


def quiet_logs() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    os.environ.setdefault("LOG_LEVEL_LIBRARIES", "ERROR")
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    for name in ("rasa", "tensorflow", "absl", "jieba", "matplotlib", "asyncio"):
        logging.getLogger(name).setLevel(logging.ERROR)


class NLURunner:
    def __init__(self, model: Path | None = None, test: bool = False) -> None:
        quiet_logs()
        from rasa.core.agent import Agent

        from bot.train import latest_model

        path = model or latest_model(test=test) or latest_model(test=not test)
        if path is None:
            raise SystemExit("还没有训练好的模型：请先运行 make model（或 guide train）")
        started = time.time()
        self.model_path = path
        self.agent = Agent.load(str(path))
        self.load_seconds = time.time() - started
        self.loop = asyncio.new_event_loop()

    def parse(self, text: str) -> Dict[str, Any]:
        return self.loop.run_until_complete(self.agent.parse_message(text))

    def route(self, text: str) -> RouteDecision:
        return decide(self.parse(text))

    def route_many(self, texts: List[str]) -> List[RouteDecision]:
        return [self.route(t) for t in texts]
