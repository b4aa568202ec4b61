"""Every HTML page escapes what it is given; every state-changing staff route refuses a request without its CSRF token.

The routes are read from the app itself, so a page or route added later is checked too.
In-process on ``channels.gateway.app`` with real Redis (REDIS_URL) and a throw-away SQLite
database; staff requests are made as the seeded demo admin.
"""

from __future__ import annotations

import re
import tempfile
from typing import Dict, Iterator, List, Tuple

import pytest
from fastapi.routing import APIRoute  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from channels.gateway import app  # noqa: E402
from guide.settings import get_settings  # noqa: E402

PASSWORD = "sec-probe-pass-2026"
PROBE = "\"'><script>alert(1)</script><img src=x onerror=alert(1)>"
RAW = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>")
SAMPLE = {"service_id": "T001", "version": "1", "sender": "web-0123456789abcdef01234567", "number": "GD20260101000001",
          "rect_id": "1", "conversation_id": "web-0123456789abcdef01234567"}
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
STAFF_PREFIXES = ("/api/workbench/", "/api/editor/", "/api/handoff/", "/api/prereview/admin")


def _fill(path: str, value: str = "") -> str:
    return re.sub(r"\{([^}:]+)(:[^}]*)?\}", lambda m: value or SAMPLE.get(m.group(1), "x1"), path)


def html_pages() -> List[Tuple[str, List[str]]]:
    """GET routes that answer HTML, with their declared query parameter names."""
    out = []
    for r in app.routes:
        if not isinstance(r, APIRoute) or "GET" not in r.methods or r.path.startswith("/api/") or r.path in ("/healthz", "/readyz", "/metrics"):
            continue
        params = [p.name for p in r.dependant.query_params]
        out.append((r.path, params))
    return out


def state_changing_staff_routes() -> List[Tuple[str, str]]:
    out = []
    for r in app.routes:
        if isinstance(r, APIRoute) and r.path.startswith(STAFF_PREFIXES):
            for m in sorted(r.methods & STATE_CHANGING):
                out.append((m, r.path))
    return out


@pytest.fixture(scope="module", autouse=True)
def _own_database_and_no_bot() -> Iterator[None]:
    """Its own staff accounts in a throw-away database, and Rasa unreachable so turns fail fast.

    Set for this module only: an import-time change of the environment would leak into
    every test collected after it (and did: other tests seeded their staff into this database).
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RASA_URL", "http://127.0.0.1:9")
        mp.setenv("DATABASE_URL", f"sqlite:///{tempfile.mkdtemp(prefix='guide-sec-')}/sec.db")
        get_settings.cache_clear()
        yield
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def staff() -> Iterator[Dict[str, object]]:
    from channels.auth import has_users, seed_demo_staff

    get_settings.cache_clear()
    if not has_users():
        seed_demo_staff(PASSWORD)
    client = TestClient(app, raise_server_exceptions=False)
    r = client.post("/login", data={"username": "admin", "password": PASSWORD, "next": "/workbench"}, follow_redirects=False)
    assert r.status_code == 303, r.text[:200]
    me = client.get("/api/me")
    assert me.status_code == 200
    yield {"client": client, "csrf": me.json()["csrf"]}


def assert_escaped(text: str, where: str) -> None:
    for raw in RAW:
        assert raw not in text, f"{where} reflects {raw!r} unescaped"


def test_pages_are_found() -> None:
    paths = {p for p, _ in html_pages()}
    assert {"/", "/guide", "/guide/{service_id}"} <= paths


@pytest.mark.parametrize("path,params", html_pages(), ids=[p for p, _ in html_pages()])
def test_page_escapes_injected_query_strings(path: str, params: List[str], staff: Dict[str, object]) -> None:
    client: TestClient = staff["client"]  # type: ignore[assignment]
    query = {name: PROBE for name in {*params, "q", "next", "after", "error", "service", "text"}}
    r = client.get(_fill(path), params=query, headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code < 500, (path, r.status_code, r.text[:300])
    assert_escaped(r.text, path)
    if "text/html" in r.headers.get("content-type", ""):
        assert_escaped(r.text, path)
    # the probe as the path parameter itself (service ids, versions, senders)
    if "{" in path:
        r = client.get(_fill(path, "x" + PROBE.replace("/", "")), headers={"Accept": "text/html"}, follow_redirects=False)
        assert r.status_code < 500, (path, r.status_code)
        assert_escaped(r.text, path + " (path parameter)")


def test_search_results_escape_the_query(staff: Dict[str, object]) -> None:
    client: TestClient = staff["client"]  # type: ignore[assignment]
    r = client.get("/guide", params={"q": "出生" + PROBE})
    assert r.status_code == 200
    assert_escaped(r.text, "/guide?q=")


def test_login_page_escapes_next_and_refuses_offsite_redirects() -> None:
    client = TestClient(app, raise_server_exceptions=False)
    r = client.get("/login", params={"next": "/workbench" + PROBE})
    assert_escaped(r.text, "/login?next=")
    r = client.post("/login", data={"username": "nobody", "password": "x", "next": "//evil.example/" + PROBE}, follow_redirects=False)
    assert r.status_code == 401 and "evil.example" not in r.headers.get("location", "")
    assert_escaped(r.text, "POST /login")


@pytest.mark.parametrize("method,path", state_changing_staff_routes() or [("POST", "/api/workbench/none")])
def test_state_changing_staff_route_refuses_missing_or_wrong_csrf(method: str, path: str, staff: Dict[str, object]) -> None:
    if not state_changing_staff_routes():
        pytest.skip("no workbench/editor routes in this build")
    client: TestClient = staff["client"]  # type: ignore[assignment]
    url = _fill(path)
    r = client.request(method, url, json={})
    assert r.status_code == 403, (method, url, r.status_code, r.text[:200])
    r = client.request(method, url, json={}, headers={"X-CSRF-Token": "forged-" + str(staff["csrf"])[:8]})
    assert r.status_code == 403, (method, url, r.status_code)
    anonymous = TestClient(app, raise_server_exceptions=False)
    assert anonymous.request(method, url, json={}).status_code in (401, 403)


def test_a_valid_csrf_token_is_accepted(staff: Dict[str, object]) -> None:
    """The 403s above are the CSRF check, not a route that refuses everything."""
    routes = dict((p, m) for m, p in state_changing_staff_routes())
    if "/api/workbench/presence" not in routes:
        pytest.skip("no presence route in this build")
    client: TestClient = staff["client"]  # type: ignore[assignment]
    r = client.post("/api/workbench/presence", json={}, headers={"X-CSRF-Token": str(staff["csrf"])})
    assert r.status_code != 403, r.text[:200]


def test_resident_api_cannot_be_driven_by_a_cross_site_form() -> None:
    """A cross-site HTML form can only send form or text/plain bodies; the JSON API must not act on them."""
    client = TestClient(app, raise_server_exceptions=False)
    r = client.post("/api/chat", content=b'{"text": "\xe8\xbd\xac\xe4\xba\xba\xe5\xb7\xa5"}', headers={"Content-Type": "text/plain"})
    assert r.status_code in (400, 415, 422), r.status_code
    r = client.post("/api/chat", data={"text": "转人工"})
    assert r.status_code in (400, 415, 422), r.status_code


def test_web_chat_socket_refuses_another_origin() -> None:
    from starlette.websockets import WebSocketDisconnect

    client = TestClient(app, raise_server_exceptions=False)
    client.get("/")  # the resident cookie
    with pytest.raises(WebSocketDisconnect) as refused:
        with client.websocket_connect("/ws/chat", headers={"Origin": "https://evil.example"}) as ws:
            ws.receive_json()
    assert refused.value.code == 4401


def test_wechat_requires_a_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WECHAT_TOKEN", "sec-token")
    get_settings.cache_clear()
    try:
        client = TestClient(app, raise_server_exceptions=False)
        body = b"<xml><FromUserName>o1</FromUserName><MsgType>text</MsgType><Content>hi</Content></xml>"
        assert client.post("/wechat", content=body).status_code == 403
        assert client.post("/wechat", params={"signature": "0" * 40, "timestamp": "1", "nonce": "1"}, content=body).status_code == 403
        assert client.get("/wechat", params={"echostr": "x"}).status_code == 403
    finally:
        monkeypatch.delenv("WECHAT_TOKEN")
        get_settings.cache_clear()
