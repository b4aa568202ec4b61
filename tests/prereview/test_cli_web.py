"""The doors: ``guide prereview`` (its JSON contract, via a real subprocess), the HTTP API and notice pages,
and upload storage with retention."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from prereview.corpus import id_back, id_front, jpg, photograph, world

ROOT = Path(__file__).resolve().parents[2]


def test_cli_json_contract(small_kb_env: Path, tmp_path: Path) -> None:
    w = world()
    front, back, fake = tmp_path / "正面.jpg", tmp_path / "反面.jpg", tmp_path / "回执.jpg"
    front.write_bytes(jpg(photograph(id_front(w.applicant))))
    back.write_bytes(jpg(photograph(id_back(date(2016, 4, 1), None))))
    fake.write_text("这是一段文字，不是照片", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "prereview.cli", "--service", "T068", "--scenario", "own_house", "--json",
         "--applicant-name", w.applicant.name, "--applicant-id", w.applicant.id_number,
         str(front), str(back), f"数码相片回执={fake}"],
        cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    body = json.loads(proc.stdout)
    assert body["service"] == "T068" and body["passed"] is False
    assert body["notice"]["number"] == "〔{}〕京政务预审第000001号".format(date.today().year)
    defects = body["notice"]["defects"]
    assert all({"file", "material", "code", "message", "fix"} <= set(d) for d in defects)
    codes = {(d["file"], d["code"]) for d in defects}
    assert ("回执.jpg", "wrong_format") in codes
    assert ("", "missing_material") in codes  # the household register and the application form
    assert not any(d["file"] in ("正面.jpg", "反面.jpg") for d in defects), "the ID card is complete and valid"
    sides = {d["file"]: d["sides"] for d in body["documents"]}
    assert sides == {"正面.jpg": ["人像面"], "反面.jpg": ["国徽面"], "回执.jpg": []}
    detected = {d["file"]: (d["declared"], d["detected"]) for d in body["documents"]}
    assert detected == {"正面.jpg": ("", "居民身份证"), "反面.jpg": ("", "居民身份证"), "回执.jpg": ("数码相片回执", "")}, \
        "what was read, not what was declared (a text file is no photo receipt)"


def test_cli_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "prereview.cli", "--service", "T068", str(tmp_path / "无.jpg")],
                          cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "无.jpg" in proc.stderr


@pytest.fixture()
def client(small_kb_env: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A FastAPI app with the pre-review routers, on the small knowledge base and a private database."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    import knowledge.base
    from guide.settings import get_settings
    from prereview.web import agent_router, router

    monkeypatch.setenv("PREREVIEW_MAX_UPLOAD_MB", "1")
    get_settings.cache_clear()
    monkeypatch.setattr(knowledge.base, "_holder", None)  # a knowledge base for this environment
    app = FastAPI()
    app.include_router(router)
    app.include_router(agent_router)
    yield TestClient(app)
    get_settings.cache_clear()


def test_http_review_notice_pages_and_agent_view(client, small_kb_env: Path) -> None:  # type: ignore[no-untyped-def]
    files = [
        ("files", ("回执.jpg", "纯文本冒充图片".encode() * 20, "image/jpeg")),
        ("files", ("扫描件.pdf", b"%PDF-1.4\n" + b"0" * 1_500_000, "application/pdf")),
    ]
    r = client.post("/api/prereview", data={"service_id": "T068", "scenario": "own_house",
                                            "materials": ["数码相片回执", "投靠人居民身份证"]}, files=files)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["passed"] is False and body["messages"]
    codes = {(d["file"], d["code"]) for d in body["notice"]["defects"]}
    assert ("回执.jpg", "wrong_format") in codes and ("扫描件.pdf", "file_too_large") in codes
    path = body["notice"]["url"].replace("http://testserver", "")
    page = client.get(path)
    assert page.status_code == 200 and body["notice"]["number"] in page.text
    pdf = client.get(path + ".pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert client.get("/prereview/notices/2026-000001-guessed").status_code == 404
    listing = client.get("/api/prereview/notices").json()["notices"]
    assert listing[0]["number"] == body["notice"]["number"]
    trail = client.get(f"/api/prereview/notices/{body['notice']['number']}/trail").json()["trail"]
    assert [e["action"] for e in trail] == ["issued", "viewed", "viewed_pdf"]
    stored = list((small_kb_env / "var" / "uploads").glob("*.bin"))
    assert len(stored) == 1, "the readable upload is kept, the refused one is not"
    assert "回执" not in stored[0].name, "stored under a random name"


def test_http_unknown_service_is_404(client) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/api/prereview", data={"service_id": "T999"}, files=[("files", ("a.jpg", b"x", "image/jpeg"))])
    assert r.status_code == 404


def test_uploads_are_random_named_and_purged_after_retention(small_kb_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from guide.settings import Settings
    from prereview import uploads

    settings = Settings()
    kept = uploads.store(b"new", "../../etc/passwd", settings=settings)
    old = uploads.store(b"old", "身份证.jpg", "投靠人居民身份证", settings=settings)
    assert kept.name == "passwd" and uploads.load(kept.id, settings)[1] == b"new"  # type: ignore[index]
    sub = uploads.submission(old.id, settings)
    assert sub.name == "身份证.jpg" and sub.material == "投靠人居民身份证" and sub.data == b"old"
    stale = time.time() - (settings.prereview_upload_retention_days + 1) * 86400
    for p in (settings.var_dir / "uploads").glob(f"{old.id}.*"):
        os.utime(p, (stale, stale))
    assert uploads.purge(settings) == 1
    assert uploads.load(old.id, settings) is None and uploads.load(kept.id, settings) is not None
    assert uploads.load("../guide", settings) is None


def _receipt(name: str = "回执.jpg") -> tuple:
    return ("files", (name, "纯文本冒充图片".encode() * 20, "image/jpeg"))


def test_only_the_owner_may_supersede_a_notice(client) -> None:  # type: ignore[no-untyped-def]
    form = {"service_id": "T068", "scenario": "own_house", "materials": ["数码相片回执"]}
    first = client.post("/api/prereview", data=form, files=[_receipt()])
    assert first.status_code == 200, first.text
    number, key = first.json()["notice"]["number"], first.json()["owner_key"]
    assert len(key) >= 16, "an API caller without a key is given one"

    stranger = client.post("/api/prereview", data={**form, "previous_number": number}, files=[_receipt()])
    assert stranger.status_code == 403 and "不能用它替代" in stranger.json()["detail"]
    assert "defects" not in stranger.text and "纯文本" not in stranger.text, "nothing of the notice leaks"
    other_key = client.post("/api/prereview", data={**form, "previous_number": number, "owner_key": "x" * 20},
                            files=[_receipt()])
    assert other_key.status_code == 403
    from guide.settings import get_settings
    from prereview.notices import NoticeStore

    store = NoticeStore(get_settings().db_url)
    assert store.get(number).superseded_by is None  # type: ignore[union-attr]

    mine = client.post("/api/prereview", data={**form, "previous_number": number, "owner_key": key}, files=[_receipt()])
    assert mine.status_code == 200, mine.text
    assert mine.json()["notice"]["previous"] == number and "owner_key" not in mine.json()
    assert store.get(number).superseded_by == mine.json()["notice"]["number"]  # type: ignore[union-attr]


def test_a_web_chat_resident_owns_notices_by_their_cookie(client) -> None:  # type: ignore[no-untyped-def]
    from channels.webchat import COOKIE, _serializer

    form = {"service_id": "T068", "scenario": "own_house"}
    client.cookies.set(COOKIE, _serializer().dumps("web-" + "a" * 24))
    first = client.post("/api/prereview", data=form, files=[_receipt()])
    assert first.status_code == 200 and "owner_key" not in first.json()
    again = client.post("/api/prereview", data={**form, "previous_number": first.json()["notice"]["number"]}, files=[_receipt()])
    assert again.status_code == 200 and again.json()["notice"]["previous"] == first.json()["notice"]["number"]
    client.cookies.set(COOKIE, _serializer().dumps("web-" + "b" * 24))
    other = client.post("/api/prereview", data={**form, "previous_number": again.json()["notice"]["number"]}, files=[_receipt()])
    assert other.status_code == 403


def test_files_per_request_are_capped_with_a_clear_message(client, monkeypatch: pytest.MonkeyPatch, small_kb_env: Path) -> None:  # type: ignore[no-untyped-def]
    from guide.settings import get_settings

    monkeypatch.setenv("PREREVIEW_MAX_FILES", "2")
    get_settings.cache_clear()
    r = client.post("/api/prereview", data={"service_id": "T068"}, files=[_receipt(f"{i}.jpg") for i in range(3)])
    assert r.status_code == 413 and r.json()["detail"].startswith("一次预审最多上传2个文件，您上传了3个")
    assert not list((small_kb_env / "var" / "uploads").glob("*.bin")), "nothing was stored"


def test_same_named_uploads_are_two_documents(client) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/api/prereview", data={"service_id": "T068", "scenario": "own_house"},
                    files=[_receipt("image.jpg"), _receipt("image.jpg")])
    assert r.status_code == 200
    assert [d["file"] for d in r.json()["documents"]] == ["image.jpg（第1个文件）", "image.jpg（第2个文件）"]
    on_files = sorted(d["file"] for d in r.json()["notice"]["defects"] if d["file"])
    assert on_files == ["image.jpg（第1个文件）", "image.jpg（第2个文件）"]
