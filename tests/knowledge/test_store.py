"""Import is idempotent and all-or-nothing; every change is a version; export round-trips. SQLite and PostgreSQL."""

import json
from pathlib import Path

import pytest

from knowledge.base import from_store
from knowledge.elements import ELEMENTS
from knowledge.importer import ImportRefused, export_document, import_path, sync_sources
from knowledge.store import Store


def test_sync_is_idempotent(db_url: str, small_data: Path) -> None:
    store = Store(db_url)
    first = sync_sources(store, small_data)
    assert first.published and first.unchanged == 0
    second = sync_sources(store, small_data)
    assert second.published == [] and second.unchanged == len(first.published)


def test_unchanged_sources_are_not_parsed_again_at_start_up(db_url: str, small_data: Path) -> None:
    store = Store(db_url)
    assert sync_sources(store, small_data, force=False).published  # a fresh database: parsed and imported
    assert sync_sources(store, small_data, force=False).skipped  # same bytes: nothing parsed
    path = small_data / "services" / "T001.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("visits: 0", "visits: 1"), encoding="utf-8")
    changed = sync_sources(store, small_data, force=False)
    assert not changed.skipped and changed.published == [("T001", 2)]
    assert store.service("T001").document["visits"] == 1


def test_every_change_is_a_new_version_with_author_and_reason(db_url: str, small_data: Path, tmp_path: Path) -> None:
    store = Store(db_url)
    sync_sources(store, small_data)
    text = (small_data / "services" / "T001.yml").read_text(encoding="utf-8")
    changed = tmp_path / "T001.yml"
    changed.write_text(text.replace("visits: 0", "visits: 1"), encoding="utf-8")
    report = import_path(store, changed, small_data, author="editor-li", reason="到现场次数调整")
    assert report.published == [("T001", 2)]
    versions = store.versions("T001")
    assert [v.version for v in versions] == [2, 1]
    assert versions[0].author == "editor-li" and versions[0].reason == "到现场次数调整" and versions[0].state == "published"
    assert versions[1].state == "superseded"
    assert store.service("T001").document["visits"] == 1


def test_bad_import_changes_nothing(db_url: str, small_data: Path, tmp_path: Path) -> None:
    store = Store(db_url)
    sync_sources(store, small_data)
    before = store.service("T001").document
    text = (small_data / "services" / "T001.yml").read_text(encoding="utf-8")
    bad = tmp_path / "T001.yml"
    bad.write_text(text.replace("visits: 0", "visits: 1").replace("catalogue: bank_card", "catalogue: not_in_catalogue"), encoding="utf-8")
    with pytest.raises(ImportRefused) as exc:
        import_path(store, bad, small_data, author="x")
    assert any("not_in_catalogue" in p.message and p.line > 1 for p in exc.value.problems)
    assert store.service("T001").document == before
    assert len(store.versions("T001")) == 1


def test_malformed_json_import_is_refused(db_url: str, small_data: Path, tmp_path: Path) -> None:
    store = Store(db_url)
    sync_sources(store, small_data)
    bad = tmp_path / "export.json"
    bad.write_text('{"services": [', encoding="utf-8")
    with pytest.raises(ImportRefused) as exc:
        import_path(store, bad, small_data, author="x")
    assert "JSON" in exc.value.problems[0].message


def test_export_import_round_trip(db_url: str, small_data: Path, tmp_path: Path) -> None:
    store = Store(db_url)
    sync_sources(store, small_data)
    kb = from_store(store)
    doc = export_document(kb)
    for entry in doc["services"]:
        assert set(ELEMENTS) <= set(entry["guide"]) and all(entry["guide"][e] for e in ELEMENTS)
    path = tmp_path / "export.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    report = import_path(store, path, small_data, author="roundtrip")
    assert report.published == [] and report.unchanged == len(doc["services"])
    assert export_document(from_store(store)) == doc
