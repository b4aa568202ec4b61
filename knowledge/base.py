"""The knowledge base as running processes see it: typed guides, catalogue, profile and search index.

Loaded from the database (which is seeded from the YAML sources), swapped atomically
when a guide is published, so a reader never sees half an update.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, List

from guide.settings import Settings, get_settings
from knowledge.elements import Context, element_texts
from knowledge.schema import CityProfile, MaterialType, Service
from knowledge.search import SearchIndex, build_index
from knowledge.store import Store

log = logging.getLogger(__name__)


@dataclass
class KnowledgeBase:
    profile: CityProfile
    materials: Dict[str, MaterialType]
    services: Dict[str, Service]
    base_url: str = ""
    loaded_at: float = field(default_factory=time.time)
    _index: SearchIndex | None = None

    @property
    def index(self) -> SearchIndex:
        if self._index is None:
            self._index = build_index(self.services.values())
        return self._index

    @property
    def context(self) -> Context:
        return Context(self.profile, self.materials, self.base_url)

    def service(self, service_id: str) -> Service | None:
        return self.services.get(service_id)

    def by_name(self, name: str) -> Service | None:
        return next((s for s in self.services.values() if s.name == name), None)

    def elements(self, service_id: str, scenario: str | None = None) -> Dict[str, str]:
        return element_texts(self.services[service_id], self.context, scenario)

    def guide_url(self, service_id: str) -> str:
        return f"{self.base_url}/guide/{service_id}"

    def ordered(self) -> List[Service]:
        return [self.services[k] for k in sorted(self.services)]


def from_store(store: Store, base_url: str = "") -> KnowledgeBase:
    profile_doc = store.profile()
    if profile_doc is None:
        raise RuntimeError("知识库为空：请先运行 guide kb import 或启动服务自动导入")
    return KnowledgeBase(
        profile=CityProfile.parse_obj(profile_doc),
        materials={d["id"]: MaterialType.parse_obj(d) for d in store.materials()},
        services={d["id"]: Service.parse_obj(d) for d in store.published_services()},
        base_url=base_url,
    )


class KnowledgeHolder:
    """Process-wide current knowledge base; ``reload`` swaps it in one assignment."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self._lock = threading.Lock()
        self._kb: KnowledgeBase | None = None
        self.store = Store(self.settings.db_url)

    def get(self) -> KnowledgeBase:
        if self._kb is None:
            with self._lock:
                if self._kb is None:
                    self._kb = self._load()
        return self._kb

    def _load(self) -> KnowledgeBase:
        from sqlalchemy.exc import IntegrityError, OperationalError

        from knowledge.importer import ImportRefused, sync_sources

        try:
            try:
                sync_sources(self.store, self.settings.data_dir, force=False)
            except (IntegrityError, OperationalError) as race:
                # several processes starting together on a fresh database: another one imported first; its rows stand
                log.warning("YAML sync raced with another process (%s); syncing again", type(race).__name__)
                import time

                time.sleep(1.0)
                sync_sources(self.store, self.settings.data_dir, force=False)
        except ImportRefused as exc:
            if self.store.is_empty():
                raise RuntimeError("知识库源文件有错误，无法导入：\n" + "\n".join(map(str, exc.problems[:20]))) from exc
            log.error("YAML sources not imported (%d problems); serving the database content", len(exc.problems))
        kb = from_store(self.store, self.settings.base_url)
        _ = kb.index  # build now, not on the first resident's question
        log.info("knowledge base loaded: %d services", len(kb.services))
        return kb

    def reload(self) -> KnowledgeBase:
        kb = from_store(self.store, self.settings.base_url)
        _ = kb.index
        self._kb = kb
        return kb


_holder: KnowledgeHolder | None = None


def holder() -> KnowledgeHolder:
    global _holder
    if _holder is None:
        _holder = KnowledgeHolder()
    return _holder


def current() -> KnowledgeBase:
    return holder().get()
