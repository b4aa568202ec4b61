"""The deployment files stay in step with the code: every setting documented, nginx accepts the config,
every Kubernetes workload has its probes."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from guide.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def documented() -> dict:
    out = {}
    for line in (DEPLOY / "env.example").read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Z_0-9]+)=(.*?)\s+#\s*(\S.*)$", line)
        if m:
            out[m.group(1)] = m.group(3)
    return out


def test_env_example_documents_every_setting_with_a_comment() -> None:
    names = {n.upper() for n in Settings.__fields__}
    missing = names - set(documented())
    assert not missing, f"settings without a line in deploy/env.example: {sorted(missing)}"


def test_kubernetes_config_only_sets_known_settings_and_keeps_secrets_out_of_the_configmap() -> None:
    docs = [d for f in sorted((DEPLOY / "k8s").glob("*.yaml")) for d in yaml.safe_load_all(f.read_text(encoding="utf-8")) if d]
    known = {n.upper() for n in Settings.__fields__} | set(documented())
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "guide-env")
    assert set(config["data"]) <= known, set(config["data"]) - known
    secret_words = ("SECRET", "PASSWORD", "TOKEN", "AES_KEY", "DATABASE_URL", "REDIS_URL")
    assert not [k for k in config["data"] if any(w in k for w in secret_words)]
    secret = next(d for d in docs if d["kind"] == "Secret")
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "WECHAT_TOKEN"} <= set(secret["stringData"])


def test_every_workload_has_readiness_and_liveness_probes() -> None:
    expected = {"gateway": ("/readyz", "/healthz"), "rasa": ("/status", "/"), "actions": ("/health", "/health")}
    seen = set()
    for f in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for d in yaml.safe_load_all(f.read_text(encoding="utf-8")):
            if not d or d["kind"] not in ("Deployment", "StatefulSet"):
                continue
            for c in d["spec"]["template"]["spec"]["containers"]:
                assert "readinessProbe" in c and "livenessProbe" in c, (f.name, c["name"])
                assert c.get("resources", {}).get("limits", {}).get("memory"), (f.name, c["name"])
                if c["name"] in expected:
                    ready, live = expected[c["name"]]
                    assert c["readinessProbe"]["httpGet"]["path"] == ready
                    assert c["livenessProbe"]["httpGet"]["path"] == live
                    seen.add(c["name"])
    assert seen == set(expected)


def test_production_nginx_config_is_accepted_by_nginx(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.skip("nginx is not installed")
    conf = (DEPLOY / "nginx" / "guide.conf").read_text(encoding="utf-8")
    # the example host names and the internal address do not exist here: check the syntax against loopback
    conf = re.sub(r"server (gateway|rasa|actions)-\d+:", "server 127.0.0.1:", conf)
    conf = conf.replace("10.0.0.10:", "127.0.0.1:").replace("listen 80;", "listen 127.0.0.1:18080;")
    conf = conf.replace("listen 443 ssl http2;", "listen 127.0.0.1:18443;")
    conf = re.sub(r"\s*ssl_\w+ [^;]+;", "", conf)
    conf = conf.replace("/var/log/nginx/", f"{tmp_path}/")
    (tmp_path / "guide.conf").write_text(conf)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log; events {{}}\n"
        f"http {{ client_body_temp_path {tmp_path}/body; proxy_temp_path {tmp_path}/proxy; include {tmp_path}/guide.conf; }}\n")
    r = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "hash $guide_rasa_key consistent" in conf and "$http_x_guide_sender" in conf
