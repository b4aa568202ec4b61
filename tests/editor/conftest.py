"""Fixtures for the editors' workspace: a store seeded with a few guides, an Editor over it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import List

import pytest

from knowledge.editing import Editor
from knowledge.importer import sync_sources
from knowledge.store import Store

DATA = Path(__file__).resolve().parents[2] / "knowledge" / "data"


@pytest.fixture()
def few_data(small_data: Path) -> Path:
    """T001 plus T148 (paid) and T150 (shares the 死亡殡葬 domain), with every material batch they cite."""
    for sid in ("T148", "T150"):
        shutil.copy(DATA / "services" / f"{sid}.yml", small_data / "services" / f"{sid}.yml")
    for f in (DATA / "materials").glob("*.yml"):
        shutil.copy(f, small_data / "materials" / f.name)
    return small_data


class Published(list):
    """Records what the editor announced, like every other process would hear it."""


@pytest.fixture()
def announced() -> List[List[str]]:
    return Published()


@pytest.fixture()
def editor(db_url: str, few_data: Path, announced: List[List[str]]) -> Editor:
    store = Store(db_url)
    sync_sources(store, few_data)
    return Editor(store, few_data, on_publish=announced.append)
