"""Staff sign-in: argon2 hashes, Redis sessions, CSRF on every change, roles."""

import uuid

from fastapi import Depends
from fastapi.testclient import TestClient

from channels.auth import AuthError, Staff, _engine, authenticate, create_user, require_roles, users
from channels.gateway import app
from guide.masking import mask


@app.post("/api/_test/agent-only")
def _agent_only(staff: Staff = Depends(require_roles("agent"))) -> dict:
    return {"ok": staff.username}


def _user(roles: str) -> str:
    name = f"u{uuid.uuid4().hex[:8]}"
    create_user(name, "correct-horse", roles.split(","), "测试")
    return name


def test_password_is_hashed_and_checked() -> None:
    name = _user("agent")
    from sqlalchemy import select

    with _engine().connect() as conn:
        stored = conn.execute(select(users.c.password_hash).where(users.c.username == name)).scalar_one()
    assert stored.startswith("$argon2") and "correct-horse" not in stored
    assert authenticate(name, "correct-horse") is not None
    assert authenticate(name, "wrong-horse") is None
    assert authenticate("nobody-" + name, "correct-horse") is None


def test_bad_accounts_are_refused_in_chinese() -> None:
    for args in (("x1", "short", ["agent"]), ("x2", "long-enough", ["pilot"]), ("bad name", "long-enough", ["agent"])):
        try:
            create_user(*args)
        except AuthError as exc:
            assert any("\u4e00" <= ch <= "\u9fff" for ch in str(exc))
        else:
            raise AssertionError(f"accepted {args}")


def test_login_session_csrf_and_roles() -> None:
    client = TestClient(app)
    agent, editor = _user("agent"), _user("editor")
    assert client.post("/api/_test/agent-only").status_code == 401
    page = client.get("/workbench-nowhere", headers={"accept": "text/html"})
    assert page.status_code == 404
    r = client.post("/login", data={"username": agent, "password": "wrong-horse"}, follow_redirects=False)
    assert r.status_code == 401 and "用户名或密码不正确" in r.text
    r = client.post("/login", data={"username": agent, "password": "correct-horse", "next": "//evil.example"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/workbench"
    me = client.get("/api/me").json()
    assert me["username"] == agent and me["csrf"]
    assert client.post("/api/_test/agent-only").status_code == 403  # no CSRF token
    assert client.post("/api/_test/agent-only", headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert client.post("/api/_test/agent-only", headers={"X-CSRF-Token": me["csrf"]}).json() == {"ok": agent}
    other = TestClient(app)
    other.post("/login", data={"username": editor, "password": "correct-horse"})
    assert other.post("/api/_test/agent-only", headers={"X-CSRF-Token": other.get("/api/me").json()["csrf"]}).status_code == 403
    client.post("/logout", headers={"X-CSRF-Token": me["csrf"]})
    assert client.get("/api/me").status_code == 401


def test_signing_in_without_a_target_lands_on_the_page_the_role_works_in() -> None:
    for roles, home in (("agent", "/workbench"), ("supervisor", "/supervisor"), ("editor", "/editor"),
                        ("reviewer", "/editor"), ("admin", "/workbench")):
        r = TestClient(app).post("/login", data={"username": _user(roles), "password": "correct-horse"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == home, roles
    r = TestClient(app).post("/login", data={"username": _user("editor"), "password": "correct-horse", "next": "/editor/review"},
                             follow_redirects=False)
    assert r.headers["location"] == "/editor/review"  # an explicit target on this site still wins


def test_masking_ids_and_phones() -> None:
    assert mask("身份证11010519491231002X") == "身份证110105********002X"
    assert mask("电话13812345678") == "电话138****5678"
    assert mask("订单号 20261123") == "订单号 20261123"
