"""Retrain the NLU from the editor: train a candidate, evaluate it on the held-out set, activate it only if
top-1 accuracy does not drop.

Runs in a background thread of the process that started it; the work itself happens in
subprocesses (``guide train --if-stale`` and ``python -m knowledge.retrain evaluate MODEL``,
which runs ``bot.evaluate``), so the web process never loads TensorFlow.  Progress, the
figures and the decision live in Redis, so every gateway shows the same job.

Activation is ``PUT /model`` on every Rasa server (``RASA_SERVERS``, default ``RASA_URL``):
``RASA_URL`` may be a router in front of several servers, which would update only one of
them.  The path sent is the model's place under ``MODEL_DIR``, which every Rasa server must
mount at the same path (the shared models volume, deploy/README.md); the job status lists
each server's result.  The one-job lock lives ``LOCK_TTL`` seconds and is renewed by a
heartbeat while the job runs, so a gateway that dies mid-job frees it within a minute.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import httpx

from guide.redis import get_redis
from guide.settings import ROOT, get_settings

STATUS = "guide:retrain:status"
LOCK = "guide:retrain:lock"
HISTORY = "guide:retrain:history"
METRICS = "guide:model:metrics"  # model file name → its held-out figures (JSON)
LOCK_TTL = 60  # seconds; a heartbeat renews it every HEARTBEAT_S while the job's process is alive
HEARTBEAT_S = 15.0
_RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
STAGES = {"queued": "排队中", "checking": "检查当前模型", "training": "训练候选模型", "evaluating": "在留出集上评测",
          "activating": "激活新模型", "done": "完成", "failed": "失败"}
EPOCHS = re.compile(r"Epochs:\s*(\d+)%")
TRAINED = re.compile(r"(?:训练完成|模型已是最新)：(\S+?\.tar\.gz)")


class RetrainBusy(Exception):
    pass


# ------------------------------------------------------------------ the decision


@dataclass(frozen=True)
class Decision:
    activate: bool
    reason: str


def decide(candidate: Dict[str, float], current: Optional[Dict[str, float]]) -> Decision:
    """Activate only if the candidate's top-1 on the held-out set is not lower than the current model's."""
    if current is None or "top1" not in current:
        return Decision(True, "当前没有已加载模型的评测数据，候选模型直接激活")
    new, old = round(float(candidate["top1"]), 4), round(float(current["top1"]), 4)
    if new >= old:
        return Decision(True, f"top-1 {new:.1%} ≥ 当前模型 {old:.1%}，激活新模型")
    return Decision(False, f"top-1 {new:.1%} < 当前模型 {old:.1%}，准确率下降，保留当前模型")


def training_percent(line: str) -> Optional[int]:
    """Progress (0–100) read from a line of Rasa's training output."""
    m = EPOCHS.search(line)
    return int(m.group(1)) if m else None


# ------------------------------------------------------------------ progress in Redis


class Progress:
    """One job's status as a JSON document in Redis; overall percent spans the stages."""

    SPAN = {"queued": (0, 0), "checking": (0, 5), "training": (5, 70), "evaluating": (70, 95), "activating": (95, 99),
            "done": (100, 100), "failed": (100, 100)}

    def __init__(self, job: str, actor: str, client: Any = None) -> None:
        self.redis = client or get_redis()
        self.lock: Optional[JobLock] = None  # released when the job finishes
        self.data: Dict[str, Any] = {"job": job, "actor": actor, "stage": "queued", "stage_name": STAGES["queued"],
                                     "percent": 0, "message": "", "started_at": time.time(), "finished_at": None,
                                     "candidate": None, "current": None, "numbers": {}, "activated": None}

    def update(self, stage: str | None = None, within: float = 0.0, message: str | None = None, **extra: Any) -> None:
        if stage is not None:
            self.data["stage"], self.data["stage_name"] = stage, STAGES[stage]
        lo, hi = self.SPAN[self.data["stage"]]
        self.data["percent"] = int(lo + (hi - lo) * max(0.0, min(1.0, within)))
        if message is not None:
            self.data["message"] = message
        self.data.update(extra)
        if self.data["stage"] in ("done", "failed"):
            self.data["finished_at"] = time.time()
        self.redis.set(STATUS, json.dumps(self.data, ensure_ascii=False))

    def finish(self, ok: bool, message: str, **extra: Any) -> None:
        self.update("done" if ok else "failed", 1.0, message, **extra)
        self.redis.lpush(HISTORY, json.dumps(self.data, ensure_ascii=False))
        self.redis.ltrim(HISTORY, 0, 19)
        if self.lock is not None:
            self.lock.release()
        else:
            self.redis.eval(_RELEASE, 1, LOCK, self.data["job"])


class JobLock(threading.Thread):
    """The one-retrain-at-a-time lock, held by a job and renewed while its process lives.

    A short TTL refreshed by this heartbeat (instead of hours): if the gateway running the job
    dies, the lock expires within ``LOCK_TTL`` seconds and editors can start again."""

    def __init__(self, job: str, client: Any, ttl: int, every: float) -> None:
        super().__init__(name=f"retrain-lock-{job}", daemon=True)
        self.job, self.redis, self.ttl, self.every = job, client, ttl, every
        self._halt = threading.Event()

    @classmethod
    def acquire(cls, job: str, client: Any = None, ttl: int | None = None, every: float | None = None) -> "JobLock":
        r = client or get_redis()
        ttl = ttl or LOCK_TTL
        if not r.set(LOCK, job, nx=True, ex=ttl):
            raise RetrainBusy("已有一个训练任务在进行，请等待它完成")
        lock = cls(job, r, ttl, every or HEARTBEAT_S)
        lock.start()
        return lock

    def run(self) -> None:
        while not self._halt.wait(self.every):
            try:
                if not self.redis.eval(_RENEW, 1, LOCK, self.job, self.ttl):
                    return  # no longer ours (expired while Redis was away, or released)
            except Exception:  # noqa: BLE001 - Redis away for a moment: try again at the next beat
                continue

    def release(self) -> None:
        self._halt.set()
        try:
            self.redis.eval(_RELEASE, 1, LOCK, self.job)
        except Exception:  # noqa: BLE001 - it expires by itself
            pass


def status(client: Any = None) -> Optional[Dict[str, Any]]:
    raw = (client or get_redis()).get(STATUS)
    return json.loads(raw) if raw else None


def history(client: Any = None) -> List[Dict[str, Any]]:
    return [json.loads(x) for x in (client or get_redis()).lrange(HISTORY, 0, 19)]


def record_metrics(model_name: str, numbers: Dict[str, float], client: Any = None) -> None:
    (client or get_redis()).hset(METRICS, model_name, json.dumps(numbers))


def recorded_metrics(model_name: str, client: Any = None) -> Optional[Dict[str, float]]:
    raw = (client or get_redis()).hget(METRICS, model_name)
    return json.loads(raw) if raw else None


# ------------------------------------------------------------------ the job


def _rasa_model(base: str) -> Optional[str]:
    """The model file the running Rasa server has loaded (None when no model); raises when Rasa is down."""
    r = httpx.get(f"{base}/status", timeout=5)
    r.raise_for_status()
    return r.json().get("model_file") or None


def _model_path(name: str) -> Path:
    p = Path(name)
    if p.is_absolute():
        return p
    for base in (ROOT, get_settings().model_dir):
        if (base / p).exists():
            return base / p
    return get_settings().model_dir / p.name


def _run(cmd: List[str], on_line: Callable[[str], None]) -> int:
    proc = subprocess.Popen(cmd, cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, bufsize=1)
    assert proc.stdout is not None
    for line in proc.stdout:
        on_line(line.rstrip("\n"))
    return proc.wait()


def evaluate_model(path: Path, on_line: Callable[[str], None] = lambda _: None) -> Dict[str, float]:
    """Held-out figures of one model, computed in a subprocess by ``bot.evaluate``."""
    result: Dict[str, float] = {}

    def read(line: str) -> None:
        on_line(line)
        if line.startswith("RETRAIN_RESULT "):
            result.update(json.loads(line.split(" ", 1)[1]))

    code = _run([sys.executable, "-m", "knowledge.retrain", "evaluate", str(path)], read)
    if code != 0 or "top1" not in result:
        raise RuntimeError(f"评测失败（exit {code}）")
    return result


def servers() -> List[str]:
    """Every Rasa server a new model must reach: ``RASA_SERVERS``, or ``RASA_URL`` alone."""
    listed = [u.strip().rstrip("/") for u in get_settings().rasa_servers.split(",") if u.strip()]
    return listed or [get_settings().rasa_base]


def shared_model_path(name: str) -> str:
    """Where every Rasa server finds the model: its file name under MODEL_DIR (the shared models volume)."""
    return str(get_settings().model_dir / Path(name).name)


def activate(model_name: str, urls: Optional[List[str]] = None, timeout: float = 600) -> List[Dict[str, Any]]:
    """``PUT /model`` on each server (in parallel); one result per server: url, ok, HTTP status or error."""
    path = shared_model_path(model_name)

    def one(url: str) -> Dict[str, Any]:
        try:
            r = httpx.put(f"{url}/model", json={"model_file": path}, timeout=timeout)
        except httpx.HTTPError as exc:
            return {"url": url, "ok": False, "status": None, "error": f"无法连接（{type(exc).__name__}）"}
        if r.status_code >= 300:
            return {"url": url, "ok": False, "status": r.status_code, "error": f"拒绝加载（HTTP {r.status_code}）：{r.text[:200]}"}
        return {"url": url, "ok": True, "status": r.status_code, "error": ""}

    targets = urls or servers()
    with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
        return list(pool.map(one, targets))


def run_job(progress: Progress, test_model: bool = False) -> None:
    base = servers()[0]
    try:
        progress.update("checking", 0.2, "读取 Rasa 服务当前加载的模型")
        try:
            current_name = _rasa_model(base)
        except (httpx.HTTPError, ValueError):
            progress.finish(False, f"无法连接 Rasa 服务（{base}），新模型无法激活；请先启动服务")
            return
        current_path = _model_path(current_name) if current_name else None
        progress.update("training", 0.0, "生成训练数据并训练候选模型", current=current_path.name if current_path else None)
        found: Dict[str, str] = {}
        tail: List[str] = []

        def on_train(line: str) -> None:
            tail.append(line)
            del tail[:-20]
            m = TRAINED.search(line)
            if m:
                found["model"] = m.group(1)
            pct = training_percent(line)
            if pct is not None:
                progress.update(within=pct / 100, message=f"训练中：{pct}%")

        cmd = [sys.executable, "-m", "guide.cli", "train", "--if-stale"] + (["--test-model"] if test_model else [])
        if _run(cmd, on_train) != 0 or "model" not in found:
            progress.finish(False, "训练失败：" + " / ".join(t for t in tail[-3:] if t.strip()))
            return
        candidate = _model_path(found["model"])
        progress.update("evaluating", 0.0, f"评测候选模型 {candidate.name}", candidate=candidate.name)
        if current_path is not None and candidate.resolve() == current_path.resolve():
            progress.finish(True, "知识库与训练数据没有变化，候选模型与当前模型相同，无需切换", activated=False)
            return
        cand_numbers = evaluate_model(candidate)
        record_metrics(candidate.name, cand_numbers)
        cur_numbers = None
        if current_path is not None:
            cur_numbers = recorded_metrics(current_path.name)
            if cur_numbers is None and current_path.exists():
                progress.update(within=0.5, message=f"评测当前模型 {current_path.name}")
                cur_numbers = evaluate_model(current_path)
                record_metrics(current_path.name, cur_numbers)
        numbers = {"candidate": cand_numbers, "current": cur_numbers}
        verdict = decide(cand_numbers, cur_numbers)
        if not verdict.activate:
            progress.finish(True, verdict.reason, numbers=numbers, activated=False)
            return
        progress.update("activating", 0.2, "Rasa 服务加载新模型", numbers=numbers)
        results = activate(candidate.name)
        progress.update(servers=results)
        failed = [x for x in results if not x["ok"]]
        if failed:
            names = "；".join(f"{x['url']}：{x['error']}" for x in failed)
            progress.finish(False, f"{len(results) - len(failed)}/{len(results)} 个 Rasa 服务已加载新模型，未成功：{names}",
                            numbers=numbers, activated=len(failed) < len(results), servers=results)
            return
        progress.finish(True, verdict.reason + f"（{len(results)} 个 Rasa 服务均已加载）", numbers=numbers, activated=True,
                        servers=results)
    except Exception as exc:  # noqa: BLE001 - the job must always end with a status an editor can read
        progress.finish(False, f"出错：{exc}")


def start(actor: str, test_model: bool = False, client: Any = None) -> str:
    """Start a background retrain; refuses while another one runs (any process)."""
    r = client or get_redis()
    job = uuid.uuid4().hex[:10]
    lock = JobLock.acquire(job, r)
    progress = Progress(job, actor, r)
    progress.lock = lock
    progress.update("queued", 0, "已排队")
    threading.Thread(target=run_job, args=(progress, test_model), name=f"retrain-{job}", daemon=True).start()
    return job


def _evaluate_main(model: str) -> int:
    from bot.evaluate import run

    numbers = run(Path(model), show_errors=0)
    print("RETRAIN_RESULT " + json.dumps({k: round(float(v), 4) for k, v in numbers.items()}), flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "evaluate":
        sys.exit(_evaluate_main(sys.argv[2]))
    print("用法：python -m knowledge.retrain evaluate MODEL", file=sys.stderr)
    sys.exit(2)
