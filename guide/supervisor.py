"""``guide serve``: start Redis (embedded when REDIS_URL is unset), the action server, Rasa and the gateway.

One supervisor: waits for each health check, warms the bot up, prints the URLs, restarts
a crashed process (reported on stderr; a process that keeps crashing stops the stack, see
``guide.restart``), and stops everything on Ctrl-C.
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
    def __init__(self, name: str, cmd: List[str], health: str, env: Dict[str, str], log_dir: Path, timeout: float,
                 nice: int = 0) -> None:
        self.name, self.cmd, self.health, self.env, self.timeout, self.nice = name, cmd, health, env, timeout, nice
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")
        nice = self.nice
        self.proc = subprocess.Popen(self.cmd, cwd=str(ROOT), env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=(lambda: os.nice(nice)) if nice > 0 else None)

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
           "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1",
           # a lock left behind by a killed Rasa server frees after 20 s instead of 60
           "TICKET_LOCK_LIFETIME": os.environ.get("TICKET_LOCK_LIFETIME", "20")}
    py = sys.executable
    bin_dir = Path(py).parent
    rasa_env = {**env, "SANIC_WORKERS": str(settings.rasa_workers)}  # one Rasa process per core serves more residents
    # the bot's number crunching yields the CPU to the gateway, which must acknowledge WeChat and feed agents at once
    nice = settings.worker_nice
    procs = [
        Process("actions", [py, "-m", "actions.server", "--actions", "actions", "--port", str(settings.action_port)],
                f"http://127.0.0.1:{settings.action_port}/health", env, log_dir, 90, nice),
        Process("rasa", [str(bin_dir / "rasa"), "run", "--enable-api", "--model", str(model), "--port", str(settings.rasa_port),
                         "--interface", settings.rasa_host, "--endpoints", "endpoints.yml", "--credentials", "credentials.yml"],
                f"http://{settings.rasa_host}:{settings.rasa_port}/status", rasa_env, log_dir, 180, nice),
        Process("gateway", [py, "-m", "uvicorn", "channels.gateway:app", "--host", settings.gateway_host, "--port", str(settings.gateway_port)],
                f"http://{settings.gateway_host}:{settings.gateway_port}/healthz", env, log_dir, 90),
    ]
    return procs, env


WARMUP_SENDER = "guide-warmup"


def warm_up(rasa_base: str, timeout: float = 180) -> float:
    """One real turn through Rasa and the action server before residents arrive.

    The first turn pays for TensorFlow graph tracing, the knowledge-base index and the
    jieba dictionary (about 25 s on a 2-core machine); a resident should never wait for it.
    """
    started = time.time()
    httpx.post(f"{rasa_base}/webhooks/rest/webhook", json={"sender": WARMUP_SENDER, "message": "居住证怎么办"}, timeout=timeout)
    return time.time() - started


def demo_staff_password(settings: Settings) -> str:
    """On a machine with no staff yet, a generated password for the demo team (kept in var/, mode 600).

    A deployment creates real accounts with ``guide user add`` and sets no demo password.
    """
    if settings.demo_staff_password:
        return settings.demo_staff_password
    from channels.auth import has_users

    path = settings.var_dir / "demo-staff.txt"
    if path.exists():
        return path.read_text().split()[-1]
    if has_users():
        return ""
    import secrets

    password = secrets.token_urlsafe(9)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(f"演示账号 agent1 agent2 expert1 supervisor editor reviewer admin 的密码：\n{password}\n")
    path.chmod(0o600)
    return password


DEMO_WECHAT = {"WECHAT_APPID": "wxdemo0000000001", "WECHAT_SECRET": "demo-secret", "WECHAT_TOKEN": "demo-token",
               "WECHAT_AES_KEY": "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "WECHAT_SIMULATOR": "1"}


def demo_wechat_process(settings: Settings, env: Dict[str, str]) -> "Process | None":
    """With no WeChat account configured, run the fake WeChat API so the simulator works out of the box.

    A real deployment sets WECHAT_APPID/SECRET/TOKEN(/AES_KEY) and nothing fake is started.
    """
    if os.environ.get("WECHAT_APPID") or os.environ.get("WECHAT_TOKEN"):
        return None
    from bot.local import free_port

    port = free_port()
    wx_env = {**env, **DEMO_WECHAT, "WECHAT_API_BASE": f"http://127.0.0.1:{port}"}
    return Process("wechat-fake", [sys.executable, "-m", "channels.wechat.fake_server", "--port", str(port),
                                   "--appid", DEMO_WECHAT["WECHAT_APPID"], "--secret", DEMO_WECHAT["WECHAT_SECRET"]],
                   f"http://127.0.0.1:{port}/fake/health", wx_env, settings.var_dir / "log", 30)


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
    procs, env = build(settings, model)
    demo_password = demo_staff_password(settings)
    if demo_password:
        env = {**env, "DEMO_STAFF_PASSWORD": demo_password}
    demo_wechat = demo_wechat_process(settings, env)
    if demo_wechat is not None:
        procs.insert(0, demo_wechat)
        env = demo_wechat.env
    for p in procs:
        p.env = env
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
        print(f"  ✓ 预热完成（{warm_up(settings.rasa_base):.1f} 秒）", flush=True)
        print(f"\n在线导办助手已启动（{time.time() - started:.0f} 秒，模型 {model.name}）", flush=True)
        print(f"  居民网页对话：   {settings.base_url}/", flush=True)
        print(f"  办事指南：       {settings.base_url}/guide", flush=True)
        print(f"  坐席工作台：     {settings.base_url}/workbench", flush=True)
        print(f"  值班长监控：     {settings.base_url}/supervisor", flush=True)
        print(f"  内容编辑：       {settings.base_url}/editor", flush=True)
        print(f"  微信模拟器：     {settings.base_url}/wechat/simulator", flush=True)
        if demo_password:
            print(f"  演示账号：       agent1 / expert1 / supervisor / editor / reviewer / admin，密码见 {settings.var_dir / 'demo-staff.txt'}", flush=True)
        print(f"  Rasa 服务：      {settings.rasa_base}", flush=True)
        print("  终端对话：       .venv/bin/guide chat", flush=True)
        print(f"  日志：           {settings.var_dir / 'log'}/\n按 Ctrl-C 停止。", flush=True)
        from guide.restart import Restarter

        restarter = Restarter(procs, on_event=lambda event: print(f"  ! {event}", file=sys.stderr, flush=True)).start()
        try:
            while not stopping:
                if restarter.failed:
                    print(f"{restarter.failed}：反复崩溃，正在停止全部进程（日志见 {settings.var_dir / 'log'}/）。", file=sys.stderr)
                    stopping = True
                time.sleep(0.5)
        finally:
            restarter.stop()
    except RuntimeError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    finally:
        for p in reversed(procs):
            p.stop()
        print("已停止。", flush=True)
    return 0
