"""Fixtures for the pre-review tests: the knowledge base straight from the YAML sources (no database needed
for judging), one OCR engine and one reading cache for the whole session, and the synthetic corpus."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Dict

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "knowledge" / "data"
# This folder is named like the package it tests; with ``tests/`` on sys.path (the root conftest puts it
# there) ``import prereview`` could find this folder as a namespace package.  The project root goes first.
if str(ROOT) not in sys.path[:1]:
    sys.path.insert(0, str(ROOT))
if "prereview" in sys.modules and getattr(sys.modules["prereview"], "__file__", None) is None:
    del sys.modules["prereview"]

from knowledge.base import KnowledgeBase  # noqa: E402
from knowledge.loader import load_sources  # noqa: E402
from prereview.corpus import Case, cases  # noqa: E402

SERVICES = ("T068", "T092", "T182")  # the services the corpus submits to


def small_data(dest: Path) -> Path:
    """City profile, the whole material catalogue and only the guides the tests use."""
    (dest / "services").mkdir(parents=True)
    shutil.copytree(DATA / "materials", dest / "materials")
    shutil.copy(DATA / "city.yml", dest / "city.yml")
    shutil.copy(DATA / "catalogue.csv", dest / "catalogue.csv")
    for sid in SERVICES:
        shutil.copy(DATA / "services" / f"{sid}.yml", dest / "services" / f"{sid}.yml")
    return dest


@pytest.fixture(scope="session")
def kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    """Typed guides straight from YAML: judging needs no database."""
    src = load_sources(small_data(tmp_path_factory.mktemp("kb") / "data"))
    return KnowledgeBase(
        profile=src.profile,
        materials={m.id: m for m, _, _ in src.materials},
        services={s.id: s for s, _, _ in src.services},
        base_url="http://testserver",
    )


@pytest.fixture(scope="session")
def reading_cache():  # type: ignore[no-untyped-def]
    """Readings by content hash, shared across tests exactly as across a resident's resubmissions."""
    from prereview.engine import MemoryCache

    return MemoryCache()


@pytest.fixture(scope="session")
def corpus() -> Dict[str, Case]:
    return {c.name: c for c in cases(seed=7)}


@pytest.fixture()
def small_kb_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Environment for a process (or this one) whose knowledge base holds only the test services: the CLI and the
    gateway then seed their own SQLite database in a few seconds instead of importing all 200 guides."""
    data = small_data(tmp_path / "data")
    monkeypatch.setenv("DATA_DIR", str(data))
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'guide.db'}")
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://testserver")
    return tmp_path
