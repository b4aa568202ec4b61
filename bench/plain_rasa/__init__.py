"""Plain Rasa for the benchmark: our NLU pipeline and NLU data, fixed responses, no custom actions.

``build(test=True)`` writes the project under ``var/bench/plain_rasa/`` (config with our pipeline and a
RulePolicy, a domain with our intents and entities and one ``utter_*`` per intent, one rule per intent) and
trains it once; the model is cached by a fingerprint of its inputs.  ``test=True`` trains with ``BENCH_EPOCHS``
epochs: epochs change training time and accuracy, not the cost of a prediction (the networks have the same size
and every turn of plain Rasa ends in a fixed response whatever the intent).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from guide.settings import ROOT

HERE = Path(__file__).resolve().parent
BENCH_EPOCHS = 5
OUT = ROOT / "var" / "bench" / "plain_rasa"


def project(test: bool = True) -> dict:
    """The files of the plain project as dicts: config, domain, rules."""
    ours_cfg = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    pipeline = ours_cfg["pipeline"]
    if test:
        for comp in pipeline:
            if "epochs" in comp:
                comp["epochs"] = BENCH_EPOCHS
    config = {"recipe": "default.v1", "language": ours_cfg["language"], "assistant_id": "plain-rasa-bench",
              "pipeline": pipeline,
              "policies": [{"name": "RulePolicy", "core_fallback_threshold": 0.3,
                            "core_fallback_action_name": "utter_nlu_fallback", "enable_fallback_prediction": True}]}
    ours = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    fixed = yaml.safe_load((HERE / "responses.yml").read_text(encoding="utf-8"))
    responses = {k: [{"text": v}] for k, v in fixed.items()}
    responses.update({k: v for k, v in ours["responses"].items() if k.startswith("utter_chitchat/")})
    intents = [i if isinstance(i, str) else next(iter(i)) for i in ours["intents"]]
    domain = {"version": "3.1", "intents": intents, "entities": ours.get("entities", []), "responses": responses,
              "session_config": ours.get("session_config", {})}
    rules = []
    for intent in intents:
        action = "utter_chitchat" if intent == "chitchat" else f"utter_{intent}"
        if intent == "nlu_fallback" or action == "utter_chitchat" or action in responses:
            rules.append({"rule": intent, "steps": [{"intent": intent}, {"action": action}]})
    return {"config": config, "domain": domain, "rules": {"version": "3.1", "rules": rules}}


def build(test: bool = True) -> Path:
    """Train (once per input fingerprint) and return the model path."""
    from bot.train import write_inputs
    from knowledge.base import current

    kb = current()
    inputs = write_inputs(kb, test=True)  # our generated NLU data and the jieba dictionary, as `guide train` writes them
    files = project(test)
    OUT.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, content in files.items():
        paths[name] = OUT / f"{name}.yml"
        paths[name].write_text(yaml.safe_dump(content, allow_unicode=True, sort_keys=False), encoding="utf-8")
    nlu_files = [ROOT / "bot" / "data" / "nlu.yml", ROOT / "bot" / "data" / "nlu_out_of_scope.yml", inputs["generated"]]
    h = hashlib.sha256()
    for f in [*paths.values(), *nlu_files, *sorted((ROOT / "nlu").glob("*.py"))]:
        h.update(f.read_bytes())
    model = OUT / f"plain-{h.hexdigest()[:12]}.tar.gz"
    if model.exists():
        return model
    from rasa.api import train as rasa_train

    data_dir = OUT / "data"
    data_dir.mkdir(exist_ok=True)
    for f in nlu_files:
        (data_dir / f.name).write_bytes(f.read_bytes())
    (data_dir / "rules.yml").write_bytes(paths["rules"].read_bytes())
    result = rasa_train(domain=str(paths["domain"]), config=str(paths["config"]), training_files=[str(data_dir)],
                        output=str(OUT), fixed_model_name=model.name.removesuffix(".tar.gz"), force_training=True)
    if result.code != 0 or not Path(result.model or "").exists():
        raise RuntimeError(f"plain Rasa training failed (exit {result.code})")
    return model
