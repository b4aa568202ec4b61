"""The knowledge base covers all 200 catalogue services at the depth the guides promise."""

import re
from pathlib import Path

import pytest

from knowledge.base import current
from knowledge.elements import ELEMENTS
from knowledge.importer import export_document
from knowledge.loader import read_catalogue

SHARED = Path(__file__).resolve().parents[3] / "shared" / "catalogue" / "themed-services.csv"
PLACEHOLDER = re.compile(r"TODO|TBD|待补充|待完善|占位|示例|XXX|××|lorem|其他材料|法律法规规定的其他")


@pytest.fixture(scope="module")
def export() -> dict:
    return export_document(current())


def test_repository_catalogue_is_the_published_one() -> None:
    if not SHARED.exists():
        pytest.skip("shared/ catalogue not beside this clone")
    ours = (Path(__file__).resolve().parents[2] / "knowledge/data/catalogue.csv").read_text(encoding="utf-8")
    assert ours == SHARED.read_text(encoding="utf-8")


def test_all_200_services_with_exact_ids_and_names(export: dict) -> None:
    rows = {r.id: r.name for r in read_catalogue()}
    got = {s["id"]: s["name"] for s in export["services"]}
    assert got == rows and len(got) == 200


def test_every_service_has_all_26_elements_aliases_and_faqs(export: dict) -> None:
    for s in export["services"]:
        assert list(s["guide"]) == ELEMENTS, s["id"]
        assert all(isinstance(v, str) and v.strip() for v in s["guide"].values()), s["id"]
        assert len(s["aliases"]) >= 5 and len(s["faqs"]) >= 3, s["id"]
        assert len(s["single_items"]) >= 1


def test_no_placeholder_text_anywhere(export: dict) -> None:
    import json

    text = json.dumps(export, ensure_ascii=False)
    assert not PLACEHOLDER.search(text), PLACEHOLDER.search(text)


def test_single_items_match_the_catalogue(export: dict) -> None:
    rows = {r.id: set(r.single_items) for r in read_catalogue()}
    for s in export["services"]:
        assert {i["name"] for i in s["single_items"]} == rows[s["id"]], s["id"]


def test_search_finds_every_service_by_its_alias() -> None:
    from knowledge.search import build_index

    kb = current()
    index = build_index(kb.services.values())
    for svc in kb.ordered():
        hits = index.search(svc.aliases[0], k=5)
        assert svc.id in [h.service_id for h in hits], (svc.id, svc.aliases[0])
