"""``guide serve``: start Redis (embedded when REDIS_URL is unset), the action server, Rasa and the gateway.

One supervisor: waits for each health check, prints the URLs, restarts nothing
silently (a crash is reported and stops the stack), and stops everything on Ctrl-C.
Logs go to ``var/log/<process>.log``.  Running it twice is safe: a second copy finds
the ports taken and says so instead of starting half a stack.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple
from urllib.parse import urlparse

import httpx

from guide.settings import ROOT, Settings, get_settings


def port_busy(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def redis_env(url: str) -> Dict[str, str]:
    """Rasa's Redis stores take host/port/db/password, not a URL."""
    u = urlparse(url)
    return {
        "REDIS_URL": url,
        "REDIS_HOST": u.hostname or "127.0.0.1",
        "REDIS_PORT": str(u.port or 6379),
        "REDIS_DB": (u.path or "/0").lstrip("/") or "0",
        "REDIS_PASSWORD": u.password or "",
    }


class Process:
    def __init__(self, name: str, cmd: List[str], health: str, env: Dict[str, str], log_dir: Path, timeout: float) -> None:
        self.name, self.cmd, self.health, self.env, self.timeout = name, cmd, health, env, timeout
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cmd, cwd=str(ROOT), env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self) -> float:
        started = time.time()
        while time.time() - started < self.timeout:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} 启动失败（退出码 {self.proc.returncode}），日志：{self.log_path}")
            try:
                if httpx.get(self.health, timeout=1.0).status_code < 500:
                    return time.time() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{self.name} 在 {self.timeout:.0f} 秒内未就绪，日志：{self.log_path}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def build(settings: Settings, model: Path) -> Tuple[List[Process], Dict[str, str]]:
    from guide.redis import redis_url

    log_dir = settings.var_dir / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **redis_env(redis_url()), "ACTION_PORT": str(settings.action_port), "RASA_TELEMETRY_ENABLED": "false",
           "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    py = sys.executable
    bin_dir = Path(py).parent
    procs = [
        Process("actions", [py, "-m", "rasa_sdk", "--actions", "actions", "--port", str(settings.action_port)],
                f"http://127.0.0.1:{settings.action_port}/health", env, log_dir, 90),
        Process("rasa", [str(bin_dir / "rasa"), "run", "--enable-api", "--model", str(model), "--port", str(settings.rasa_port),
                         "--interface", settings.rasa_host, "--endpoints", "endpoints.yml", "--credentials", "credentials.yml"],
                f"http://{settings.rasa_host}:{settings.rasa_port}/status", env, log_dir, 180),
        Process("gateway", [py, "-m", "uvicorn", "channels.gateway:app", "--host", settings.gateway_host, "--port", str(settings.gateway_port)],
                f"http://{settings.gateway_host}:{settings.gateway_port}/healthz", env, log_dir, 90),
    ]
    return procs, env


def serve() -> int:
    from bot.train import latest_model
    from knowledge.base import current

    settings = get_settings()
    busy = [p for p in (settings.gateway_port, settings.rasa_port, settings.action_port) if port_busy(p)]
    if busy:
        print(f"端口 {busy} 已被占用：助手可能已在运行（打开 {settings.base_url}），或请用 GATEWAY_PORT/RASA_PORT/ACTION_PORT 换端口。", file=sys.stderr)
        return 1
    current()  # imports the YAML sources into the database before any server reads it
    model = latest_model() or latest_model(test=True)
    if model is None:
        print("没有训练好的模型，请先运行 make model", file=sys.stderr)
        return 1
    procs, _ = build(settings, model)
    started = time.time()
    stopping = False

    def stop_all(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop_all)
    signal.signal(signal.SIGTERM, stop_all)
    try:
        for p in procs:
            p.start()
        for p in procs:
            seconds = p.wait_ready()
            print(f"  ✓ {p.name} 就绪（{seconds:.1f} 秒）", flush=True)
        print(f"\n在线导办助手已启动（{time.time() - started:.0f} 秒，模型 {model.name}）", flush=True)
        print(f"  居民网页对话：   {settings.base_url}/", flush=True)
        print(f"  办事指南：       {settings.base_url}/guide", flush=True)
        print(f"  Rasa 服务：      {settings.rasa_base}", flush=True)
        print("  终端对话：       .venv/bin/guide chat", flush=True)
        print(f"  日志：           {settings.var_dir / 'log'}/\n按 Ctrl-C 停止。", flush=True)
        while not stopping:
            for p in procs:
                if p.proc is not None and p.proc.poll() is not None:
                    print(f"{p.name} 意外退出（退出码 {p.proc.returncode}），详见 {p.log_path}；正在停止全部进程。", file=sys.stderr)
                    stopping = True
            time.sleep(0.5)
    except RuntimeError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    finally:
        for p in reversed(procs):
            p.stop()
        print("已停止。", flush=True)
    return 0
