"""The editors' API rules over HTTP (in-process app, the session's database and Redis): who may withdraw, what an
import may weigh, which fields the catalogue fixes, how dashboard days are counted, how long an alias may be."""

from __future__ import annotations

import io
import uuid
import zipfile
from datetime import datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from channels.auth import create_user
from channels.auth import router as auth_router
from channels.editor import editor_router
from guide import analytics

app = FastAPI()  # the editor's routes and sign-in only, as the gateway mounts them
app.include_router(auth_router)
app.include_router(editor_router)


def signed_in(*roles: str) -> TestClient:
    name = f"ed{uuid.uuid4().hex[:8]}"
    create_user(name, "correct-horse", list(roles), "测试编辑")
    c = TestClient(app)
    c.post("/login", data={"username": name, "password": "correct-horse"})
    c.headers["X-CSRF-Token"] = c.get("/api/me").json()["csrf"]
    return c


def _submit_change(c: TestClient, sid: str) -> int:
    doc = c.get(f"/api/editor/services/{sid}").json()
    doc = (doc["open"] or {}).get("document") or doc["published"]
    doc["aliases"] = list(doc["aliases"]) + [f"测试别名{uuid.uuid4().hex[:4]}"]
    saved = c.put(f"/api/editor/services/{sid}/draft", json={"document": doc, "reason": "撤回测试"}).json()
    assert c.post(f"/api/editor/services/{sid}/versions/{saved['version']}/submit", json={}).status_code == 200
    return int(saved["version"])


def test_only_the_author_or_an_admin_may_withdraw_a_submitted_change() -> None:
    author, other, admin = signed_in("editor"), signed_in("editor"), signed_in("admin")
    version = _submit_change(author, "T001")
    r = other.post(f"/api/editor/services/T001/versions/{version}/withdraw")
    assert r.status_code == 409 and "只有这次修改的作者" in r.json()["error"]
    assert author.get("/api/editor/services/T001").json()["open"]["state"] == "in_review"  # nothing changed
    assert author.post(f"/api/editor/services/T001/versions/{version}/withdraw").status_code == 200
    assert author.get("/api/editor/services/T001").json()["open"]["state"] == "draft"
    version = _submit_change(author, "T001")
    assert admin.post(f"/api/editor/services/T001/versions/{version}/withdraw").status_code == 200


def test_an_import_over_the_size_cap_is_refused_while_reading() -> None:
    c = signed_in("editor")
    big = b"x" * (10 * 1024 * 1024 + 1)  # EDITOR_MAX_IMPORT_MB = 10
    r = c.post("/api/editor/import", files={"file": ("guides.xlsx", big)})
    assert r.status_code == 413 and "超过 10 MB" in r.json()["error"]


def test_an_xlsx_zip_bomb_is_refused_before_it_is_opened() -> None:
    c = signed_in("editor")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", b"\0" * (120 * 1024 * 1024))  # 120 MB of zeros, ~120 KB packed
    data = buf.getvalue()
    assert len(data) < 1024 * 1024
    r = c.post("/api/editor/import", files={"file": ("guides.xlsx", data)})
    assert r.status_code == 413 and "压缩炸弹" in r.json()["error"]
    r = c.post("/api/editor/import", files={"file": ("guides.xlsx", b"PK\x03\x04 not really a workbook")})
    assert r.status_code == 413 and "不是有效的 .xlsx" in r.json()["error"]


def test_catalogue_fields_are_read_only_with_the_reason() -> None:
    spec = signed_in("editor").get("/api/editor/spec").json()
    assert set(spec["fixed"]) == {"id", "name", "domain", "audience", "lead_department"}
    assert "事项目录" in spec["fixed_why"]["name"] and "联系管理员" in spec["fixed_why"]["lead_department"]


def test_a_too_long_alias_is_refused_with_the_reason_not_cut() -> None:
    c = signed_in("editor")
    long_text = "我家老人在外地医院去世了，遗体要运回北京火化，请问需要办哪些手续和证明"
    assert len(long_text) > 30
    r = c.post("/api/editor/gaps/adopt", json={"service_id": "T148", "text": long_text, "as": "alias"})
    assert r.status_code == 422 and f"这句有 {len(long_text)} 个字" in r.json()["error"]
    opened = c.get("/api/editor/services/T148").json()["open"]
    assert opened is None or long_text[:30] not in opened["document"]["aliases"]


def test_dashboard_days_are_beijing_days() -> None:
    """A question at 01:00 Beijing time on 1 March (17:00 UTC on 28 February) counts on 1 March."""
    c = signed_in("editor")
    analytics._write([{"at": datetime(2021, 2, 28, 17, 0), "kind": "routed", "sender": "web-tz", "channel": "web",
                       "service_id": "T148", "text": "殡仪馆接遗体", "code": "", "score": 0.9}])
    march = c.get("/api/editor/dashboard", params={"start": "2021-03-01", "end": "2021-03-01"}).json()
    feb = c.get("/api/editor/dashboard", params={"start": "2021-02-28", "end": "2021-02-28"}).json()
    assert march["timezone"] == "Asia/Shanghai"
    assert march["questions"] == 1 and dict((d, n) for d, n, _, _ in march["series"]) == {"03-01": 1}
    assert feb["questions"] == 0
    page = c.get("/editor/dashboard", params={"start": "2021-03-01", "end": "2021-03-01"}).text
    assert "北京时间" in page and 'value="2021-03-01"' in page


@pytest.mark.parametrize("sid", ["T148"])
def test_preview_includes_every_faq_and_scenario_in_wechat_parts(sid: str) -> None:
    c = signed_in("editor")
    doc = c.get(f"/api/editor/services/{sid}").json()["published"]
    blocks = c.post(f"/api/editor/services/{sid}/preview", json={"document": doc}).json()["wechat"]
    titles = [b["title"] for b in blocks]
    assert [t for t in titles if t.startswith("常见问题：")] == [f"常见问题：{f['q']}" for f in doc["faqs"]]
    assert len([t for t in titles if t.startswith("选择情形")]) == len(doc["scenarios"])
    assert all(m and len(m.encode("utf-8")) <= 2048 for b in blocks for m in b["messages"])
    overview = "\n".join(blocks[0]["messages"])
    assert "1. " in overview and "即可选择）" in overview  # numbered options, as WeChat shows buttons
