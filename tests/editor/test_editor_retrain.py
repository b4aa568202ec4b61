"""Retrain from the editor: the activation rule, progress in Redis, one job at a time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from guide.redis import get_redis
from guide.settings import get_settings
from knowledge import retrain


def test_activate_only_if_top1_does_not_drop() -> None:
    assert retrain.decide({"top1": 0.957}, {"top1": 0.957}).activate
    assert retrain.decide({"top1": 0.961}, {"top1": 0.957}).activate
    kept = retrain.decide({"top1": 0.949}, {"top1": 0.957})
    assert not kept.activate and "94.9%" in kept.reason and "95.7%" in kept.reason and "保留当前模型" in kept.reason
    assert retrain.decide({"top1": 0.5}, None).activate  # nothing loaded to compare with


def test_training_progress_is_read_from_rasa_output() -> None:
    assert retrain.training_percent("Epochs:  34%|███▍      | 34/100 [00:10<00:20, t_loss=2.1]") == 34
    assert retrain.training_percent("开始训练模型（200 个事项）…") is None
    assert retrain.TRAINED.search("训练完成：models/guide-abc123.tar.gz，用时 266 秒").group(1) == "models/guide-abc123.tar.gz"


def test_progress_is_shared_through_redis_and_the_lock_is_released() -> None:
    r = get_redis()
    r.delete(retrain.LOCK)
    r.set(retrain.LOCK, "other-job")
    with pytest.raises(retrain.RetrainBusy):
        retrain.start("reviewer")
    r.delete(retrain.LOCK)
    p = retrain.Progress("job1", "reviewer")
    p.update("training", 0.5, "训练中：50%")
    assert retrain.status()["percent"] == 5 + int(65 * 0.5) and retrain.status()["stage_name"] == "训练候选模型"
    r.set(retrain.LOCK, "job1")
    p.finish(True, "top-1 96.0% ≥ 当前模型 95.7%，激活新模型", numbers={"candidate": {"top1": 0.96}, "current": {"top1": 0.957}}, activated=True)
    assert retrain.status()["percent"] == 100 and retrain.history()[0]["job"] == "job1" and not r.exists(retrain.LOCK)
    retrain.record_metrics("guide-x.tar.gz", {"top1": 0.957, "top3": 0.99})
    assert retrain.recorded_metrics("guide-x.tar.gz") == {"top1": 0.957, "top3": 0.99}


def test_a_job_without_a_running_rasa_fails_with_a_clear_message() -> None:
    try:
        httpx.get(f"{get_settings().rasa_base}/status", timeout=1)
        pytest.skip("a Rasa server is running here: starting a job would really train")
    except httpx.HTTPError:
        pass
    get_redis().delete(retrain.LOCK)
    job = retrain.start("reviewer")
    for _ in range(100):
        s = retrain.status()
        if s and s["job"] == job and s["stage"] == "failed":
            break
        time.sleep(0.1)
    assert s["stage"] == "failed" and "无法连接 Rasa 服务" in s["message"]
    assert not get_redis().exists(retrain.LOCK)


def _serve(port: int, *flags: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("model_servers.py")), "--port", str(port), *flags],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/status", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("stand-in model server did not start")


def test_activation_reaches_every_rasa_server_and_reports_each(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.local import free_port

    ports = [free_port(), free_port(), free_port()]
    dead = free_port()  # nothing listens here
    procs = [_serve(ports[0]), _serve(ports[1]), _serve(ports[2], "--refuse")]
    try:
        urls = [f"http://127.0.0.1:{p}" for p in ports] + [f"http://127.0.0.1:{dead}"]
        monkeypatch.setenv("RASA_SERVERS", ",".join(urls[:2]))
        monkeypatch.setenv("RASA_URL", "http://127.0.0.1:1")  # a router: never the one activated
        get_settings.cache_clear()
        assert retrain.servers() == urls[:2]
        results = retrain.activate("models/guide-new.tar.gz")
        shared = str(get_settings().model_dir / "guide-new.tar.gz")  # MODEL_DIR, the volume every server mounts
        assert [r["ok"] for r in results] == [True, True]
        for url in urls[:2]:
            assert httpx.get(url + "/activations").json()["activations"] == [shared]

        results = retrain.activate("guide-new.tar.gz", urls)
        assert [r["ok"] for r in results] == [True, True, False, False]
        assert "HTTP 400" in results[2]["error"] and "无法连接" in results[3]["error"]

        # the job status names every server's result
        get_redis().delete(retrain.LOCK)
        p = retrain.Progress("job-servers", "reviewer")
        p.update("activating", 0.2, "Rasa 服务加载新模型", servers=results)
        shown = retrain.status()
        assert [s["url"] for s in shown["servers"]] == urls and shown["servers"][2]["ok"] is False
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
        monkeypatch.undo()
        get_settings.cache_clear()


def test_the_lock_of_a_job_whose_process_died_expires_quickly() -> None:
    r = get_redis()
    r.delete(retrain.LOCK)
    code = ("import time, sys\nfrom knowledge import retrain\n"
            "retrain.JobLock.acquire('dying-job', ttl=2, every=0.5)\nprint('held', flush=True)\ntime.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        time.sleep(3.5)  # longer than the TTL: the heartbeat keeps it while the job's process lives
        assert r.get(retrain.LOCK) == "dying-job"
        with pytest.raises(retrain.RetrainBusy):
            retrain.start("reviewer")
        proc.send_signal(signal.SIGKILL)  # the gateway dies mid-job
        proc.wait(timeout=10)
        deadline = time.time() + 5
        while r.exists(retrain.LOCK) and time.time() < deadline:
            time.sleep(0.1)
        assert not r.exists(retrain.LOCK)  # free again within the TTL, not after hours
    finally:
        if proc.poll() is None:
            proc.kill()
        r.delete(retrain.LOCK)


def test_a_finished_job_releases_only_its_own_lock() -> None:
    r = get_redis()
    r.delete(retrain.LOCK)
    lock = retrain.JobLock.acquire("job-a", ttl=30, every=10)
    p = retrain.Progress("job-a", "reviewer")
    p.lock = lock
    assert 0 < r.ttl(retrain.LOCK) <= 30
    r.set(retrain.LOCK, "job-b")  # e.g. job-a's lock expired while Redis was away and job-b started
    p.finish(False, "出错：测试")
    assert r.get(retrain.LOCK) == "job-b"
    r.delete(retrain.LOCK)
