"""Training: generate NLU data and the jieba dictionary from the knowledge base, then train Rasa.

The model file is named by a fingerprint of everything that goes into it (config,
domain, hand-written data, our components, the knowledge base), so "train if stale"
is a file lookup and the same inputs always give the same model name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Dict, List

import yaml

from bot.examples import element_examples, intent_service_examples
from guide.settings import ROOT, get_settings
from knowledge.base import KnowledgeBase, current
from knowledge.search import service_words

log = logging.getLogger(__name__)
TRAIN_DIR = ROOT / "var" / "training"
TEST_EPOCHS = 25


def _clean(text: str) -> str:
    """Rasa reads [..](..) as entity annotations; keep examples literal."""
    return " ".join(text.replace("[", "【").replace("]", "】").replace("(", "（").replace(")", "）").split())


def generated_nlu(kb: KnowledgeBase) -> Dict:
    services = kb.ordered()
    by_intent: Dict[str, List[str]] = {"ask_service": intent_service_examples(services)}
    for text, intent in element_examples(services):
        by_intent.setdefault(intent, []).append(text)
    nlu = []
    for intent, texts in by_intent.items():
        unique = list(dict.fromkeys(_clean(t) for t in texts if t.strip()))
        nlu.append({"intent": intent, "examples": "".join(f"- {t}\n" for t in unique)})
    return {"version": "3.1", "nlu": nlu}


def write_inputs(kb: KnowledgeBase, test: bool) -> Dict[str, Path]:
    """Write the generated files under var/training and return the paths Rasa needs."""
    TRAIN_DIR.mkdir(parents=True, exist_ok=True)
    jieba_dir = TRAIN_DIR / "jieba"
    jieba_dir.mkdir(exist_ok=True)
    words = sorted({w for s in kb.services.values() for w in service_words(s)} | {m.name for m in kb.materials.values()})
    (jieba_dir / "userdict.txt").write_text("".join(f"{w.replace(' ', '')} 2000 n\n" for w in words if len(w) > 1), encoding="utf-8")
    generated = TRAIN_DIR / "nlu_generated.yml"
    generated.write_text(yaml.safe_dump(generated_nlu(kb), allow_unicode=True, sort_keys=False, width=4096), encoding="utf-8")
    config = ROOT / "config.yml"
    if test:
        cfg = yaml.safe_load(config.read_text(encoding="utf-8"))
        for comp in cfg["pipeline"]:
            if "epochs" in comp:
                comp["epochs"] = TEST_EPOCHS
        config = TRAIN_DIR / "config.test.yml"
        config.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return {"config": config, "generated": generated, "domain": ROOT / "domain.yml", "data": ROOT / "bot" / "data"}


def fingerprint(kb: KnowledgeBase, test: bool) -> str:
    h = hashlib.sha256()
    files = [ROOT / "config.yml", ROOT / "domain.yml", *sorted((ROOT / "bot" / "data").rglob("*.yml"))]
    files += sorted((ROOT / "nlu").glob("*.py")) + [ROOT / "bot" / "examples.py", ROOT / "bot" / "train.py", ROOT / "knowledge" / "text.py", ROOT / "knowledge" / "search.py"]
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    for svc in kb.ordered():
        h.update(svc.json(ensure_ascii=False).encode("utf-8"))
    h.update(b"test" if test else b"full")
    return h.hexdigest()[:12]


def model_path(kb: KnowledgeBase, test: bool) -> Path:
    prefix = "test" if test else "guide"
    return get_settings().model_dir / f"{prefix}-{fingerprint(kb, test)}.tar.gz"


def latest_model(test: bool = False) -> Path | None:
    """The model for the current inputs if trained, else the newest one of its kind."""
    kb = current()
    exact = model_path(kb, test)
    if exact.exists():
        return exact
    prefix = "test" if test else "guide"
    found = sorted(get_settings().model_dir.glob(f"{prefix}-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def train(test: bool = False, if_stale: bool = True) -> Path:
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    kb = current()
    target = model_path(kb, test)
    if if_stale and target.exists():
        print(f"模型已是最新：{_shown(target)}")
        return target
    paths = write_inputs(kb, test)
    from rasa.api import train as rasa_train

    started = time.time()
    print(f"开始训练{'测试' if test else ''}模型（{len(kb.services)} 个事项）…", flush=True)
    result = rasa_train(
        domain=str(paths["domain"]),
        config=str(paths["config"]),
        training_files=[str(paths["data"]), str(paths["generated"])],
        output=str(target.parent),
        fixed_model_name=target.name.removesuffix(".tar.gz"),
        force_training=True,
    )
    if result.code != 0 or not result.model:
        raise SystemExit(f"训练失败（exit {result.code}）")
    elapsed = time.time() - started
    print(f"训练完成：{_shown(target)}，用时 {elapsed:.0f} 秒", flush=True)
    (TRAIN_DIR / "last_training.json").write_text(json.dumps({"model": target.name, "seconds": round(elapsed, 1), "test": test}), encoding="utf-8")
    return target
