"""Uploaded files at rest: random names under ``var/uploads`` (never a served folder), kept for the retention
period and then deleted together with the cached readings of their content (``prereview.retention`` runs it:
hourly in the gateway, or ``guide prereview --purge`` from cron).

The original file name is kept only in the metadata next to the file, so a name chosen by a resident
("../../etc/passwd", "身份证.jpg") never becomes a path.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from guide.settings import Settings, get_settings

UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class StoredUpload:
    id: str
    name: str  # the original name, for display only
    size: int
    sha256: str
    stored_at: float
    material: str | None = None


def upload_dir(settings: Settings | None = None) -> Path:
    d = (settings or get_settings()).var_dir / "uploads"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def _clean_name(name: str) -> str:
    base = os.path.basename(name.replace("\\", "/")).strip() or "upload"
    return base[:120]


def store(data: bytes, name: str, material: str | None = None, settings: Settings | None = None) -> StoredUpload:
    """Write ``data`` under a random 128-bit name; returns the reference the engine and notices keep."""
    root = upload_dir(settings)
    uid = secrets.token_hex(16)
    meta = StoredUpload(uid, _clean_name(name), len(data), hashlib.sha256(data).hexdigest(), time.time(), material)
    tmp = root / f".{uid}.part"
    tmp.write_bytes(data)
    os.chmod(tmp, 0o600)
    tmp.rename(root / f"{uid}.bin")
    (root / f"{uid}.json").write_text(json.dumps(asdict(meta), ensure_ascii=False), encoding="utf-8")
    return meta


def load(upload_id: str, settings: Settings | None = None) -> tuple[StoredUpload, bytes] | None:
    """The stored bytes for an id, or ``None`` (unknown, malformed or already purged)."""
    if not UPLOAD_ID.match(upload_id):
        return None
    root = upload_dir(settings)
    meta_path, data_path = root / f"{upload_id}.json", root / f"{upload_id}.bin"
    if not (meta_path.exists() and data_path.exists()):
        return None
    meta = StoredUpload(**json.loads(meta_path.read_text(encoding="utf-8")))
    return meta, data_path.read_bytes()


def submission(upload_id: str, settings: Settings | None = None):  # -> engine.Submission
    """A stored upload as an engine input."""
    from prereview.engine import Submission

    found = load(upload_id, settings)
    if found is None:
        raise FileNotFoundError(upload_id)
    meta, data = found
    return Submission(meta.name, data, meta.size, meta.material, meta.id)


def _entries(root: Path) -> Iterator[Path]:
    yield from (p for p in root.iterdir() if p.suffix in (".bin", ".json", ".part"))


def purge_files(settings: Settings, cutoff: float) -> int:
    """Delete stored uploads last written before ``cutoff`` (epoch seconds); returns the uploads removed."""
    removed = 0
    for path in _entries(upload_dir(settings)):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += path.suffix == ".bin"
        except FileNotFoundError:
            continue
    return removed


def purge(settings: Settings | None = None, now: float | None = None) -> int:
    """Delete uploads, cached readings and notice evidence older than the retention period (see
    ``prereview.retention``); returns the uploads removed."""
    from prereview.retention import purge_all

    return purge_all(settings, now)["uploads"]
