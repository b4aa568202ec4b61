"""Retrain from the editor: the activation rule, progress in Redis, one job at a time."""

from __future__ import annotations

import time

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
