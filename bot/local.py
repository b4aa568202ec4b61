"""A whole bot in one process tree: the trained model in-process plus a real action server subprocess.

Used by ``guide chat`` (terminal chat), the conversation tests and the benchmarks; the
production stack runs the same pieces as separate servers (``guide serve``).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import httpx

from bot.runner import quiet_logs
from guide.settings import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_action_server(port: int, env: Dict[str, str] | None = None, log_path: Path | None = None) -> subprocess.Popen:
    """Start ``rasa_sdk`` serving our ``actions`` package and wait until /health answers."""
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "actions.server", "--actions", "actions", "--port", str(port)],
        cwd=str(ROOT),
        env={**os.environ, **(env or {})},
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 180  # importing Rasa SDK, spaCy and the knowledge base takes a while on a busy 2-core machine
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"action server exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError("action server did not become ready in 180 s")


class LocalBot:
    def __init__(self, model: Path | None = None, test: bool = False, action_url: str | None = None) -> None:
        quiet_logs()
        from rasa.core.agent import Agent
        from rasa.utils.endpoints import EndpointConfig

        from bot.train import latest_model

        path = model or latest_model(test=test) or latest_model(test=not test)
        if path is None:
            raise SystemExit("还没有训练好的模型：请先运行 make model（或 guide train）")
        self.action_proc: subprocess.Popen | None = None
        if action_url is None:
            port = free_port()
            self.action_proc = start_action_server(port)
            action_url = f"http://127.0.0.1:{port}/webhook"
        self.agent = Agent.load(str(path), action_endpoint=EndpointConfig(url=action_url))
        self.loop = asyncio.new_event_loop()

    def send(self, sender: str, text: str) -> List[Dict[str, Any]]:
        return self.loop.run_until_complete(self.agent.handle_text(text, sender_id=sender)) or []

    def texts(self, sender: str, text: str) -> List[str]:
        return [m.get("text", "") for m in self.send(sender, text) if m.get("text")]

    def tracker(self, sender: str) -> Any:
        return self.loop.run_until_complete(self.agent.tracker_store.retrieve(sender))

    def close(self) -> None:
        from knowledge.events import stop_listening

        stop_listening()  # the in-process model started it; its Redis may be about to stop
        if not self.loop.is_closed():
            from nlu.rasa_speedups import close_sessions

            self.loop.run_until_complete(close_sessions())  # the pooled action-server connection
            self.loop.close()
        if self.action_proc is not None:
            self.action_proc.terminate()
            try:
                self.action_proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.action_proc.kill()
            self.action_proc = None

    def __enter__(self) -> LocalBot:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
