"""Staff accounts, sessions and CSRF for the agent workbench and the editor.

Passwords are hashed with argon2.  A session is a random token in an HttpOnly,
SameSite=Strict cookie whose data lives in Redis (so any gateway copy can serve the
next request and logging out anywhere ends it everywhere).  Every state-changing
request must also carry the session's CSRF token (header ``X-CSRF-Token`` or form
field ``csrf_token``): the cookie alone never authorises a change.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Iterable, List, Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Boolean, Column, DateTime, Integer, MetaData, String, Table, select

from guide.redis import get_redis
from guide.settings import get_settings
from knowledge.store import engine_with

ROLES = ("agent", "supervisor", "editor", "reviewer", "admin")
ROLE_NAMES = {"agent": "引导专员", "supervisor": "值班长", "editor": "内容编辑", "reviewer": "内容审核", "admin": "管理员"}
TIERS = {"guide": "引导专员", "expert": "深度咨询专员"}
COOKIE = "guide_staff"
SESSION_TTL = 12 * 3600
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

metadata = MetaData()
users = Table(
    "staff_users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), unique=True, nullable=False),
    Column("display_name", String(64), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("roles", String(128), nullable=False),
    Column("tier", String(16), nullable=False, default="guide"),
    Column("skills", String(255), nullable=False, default=""),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", DateTime, nullable=False),
)
_hasher = PasswordHasher()


def _engine():  # type: ignore[no-untyped-def]
    return engine_with(metadata, get_settings().db_url)


@dataclass
class Staff:
    """The signed-in person as a request sees them."""

    id: int
    username: str
    display_name: str
    roles: List[str]
    tier: str = "guide"
    skills: List[str] = field(default_factory=list)
    csrf: str = ""
    token: str = ""

    def has(self, *roles: str) -> bool:
        return "admin" in self.roles or any(r in self.roles for r in roles)

    def public(self) -> Dict[str, Any]:
        return {"id": self.id, "username": self.username, "display_name": self.display_name,
                "roles": self.roles, "tier": self.tier, "skills": self.skills}


class AuthError(ValueError):
    """A user-facing account problem (message in Chinese)."""


def create_user(username: str, password: str, roles: Iterable[str], display_name: str = "",
                tier: str = "guide", skills: Iterable[str] = ()) -> int:
    roles = [r.strip() for r in roles if r.strip()]
    bad = [r for r in roles if r not in ROLES]
    if bad or not roles:
        raise AuthError(f"未知角色：{'、'.join(bad) or '（空）'}；可选 {'、'.join(ROLES)}")
    if tier not in TIERS:
        raise AuthError(f"未知坐席层级：{tier}；可选 {'、'.join(TIERS)}")
    if len(password) < 8:
        raise AuthError("密码至少 8 位")
    if not username or len(username) > 64 or not username.replace("_", "").replace("-", "").isalnum():
        raise AuthError("用户名只能包含字母、数字、下划线和连字符")
    with _engine().begin() as conn:
        if conn.execute(select(users.c.id).where(users.c.username == username)).first():
            raise AuthError(f"用户名 {username} 已存在")
        result = conn.execute(users.insert().values(
            username=username, display_name=display_name or username, password_hash=_hasher.hash(password),
            roles=",".join(roles), tier=tier, skills=",".join(skills), active=True,
            created_at=datetime.now(timezone.utc).replace(tzinfo=None)))
        return int(result.inserted_primary_key[0])


def set_password(username: str, password: str) -> None:
    if len(password) < 8:
        raise AuthError("密码至少 8 位")
    with _engine().begin() as conn:
        done = conn.execute(users.update().where(users.c.username == username)
                            .values(password_hash=_hasher.hash(password))).rowcount
    if not done:
        raise AuthError(f"没有用户 {username}")


def list_users() -> List[Staff]:
    with _engine().connect() as conn:
        rows = conn.execute(select(users).where(users.c.active.is_(True)).order_by(users.c.id)).mappings().all()
    return [_staff(r) for r in rows]


def has_users() -> bool:
    with _engine().connect() as conn:
        return conn.execute(select(users.c.id).limit(1)).first() is not None


def _staff(row: Any, csrf: str = "", token: str = "") -> Staff:
    return Staff(id=row["id"], username=row["username"], display_name=row["display_name"],
                 roles=[r for r in row["roles"].split(",") if r], tier=row["tier"] or "guide",
                 skills=[s for s in (row["skills"] or "").split(",") if s], csrf=csrf, token=token)


def authenticate(username: str, password: str) -> Optional[Staff]:
    with _engine().connect() as conn:
        row = conn.execute(select(users).where(users.c.username == username, users.c.active.is_(True))).mappings().first()
    if row is None:
        _hasher.hash(password)  # same cost either way: no user enumeration by timing
        return None
    try:
        _hasher.verify(row["password_hash"], password)
    except (VerificationError, InvalidHashError):
        return None
    return _staff(row)


def start_session(staff: Staff) -> Staff:
    token = secrets.token_urlsafe(32)
    staff.token, staff.csrf = token, secrets.token_urlsafe(24)
    get_redis().set(f"guide:session:{token}", json.dumps({**staff.public(), "csrf": staff.csrf}), ex=SESSION_TTL)
    return staff


def end_session(token: str) -> None:
    get_redis().delete(f"guide:session:{token}")


def session_staff(token: Optional[str]) -> Optional[Staff]:
    if not token or len(token) > 100:
        return None
    raw = get_redis().get(f"guide:session:{token}")
    if not raw:
        return None
    data = json.loads(raw)
    get_redis().expire(f"guide:session:{token}", SESSION_TTL)
    return Staff(id=data["id"], username=data["username"], display_name=data["display_name"], roles=data["roles"],
                 tier=data.get("tier", "guide"), skills=data.get("skills", []), csrf=data["csrf"], token=token)


class LoginRequired(Exception):
    """Raised for a page request without a session: the handler redirects to the login page."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


async def _check_csrf(request: Request, staff: Staff) -> None:
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get("x-csrf-token")
    if not sent and request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        sent = str(form.get("csrf_token") or "")
    if not sent or not secrets.compare_digest(sent, staff.csrf):
        raise HTTPException(403, "请求缺少有效的安全令牌（CSRF），请刷新页面后重试")


def require_roles(*roles: str) -> Callable[..., Any]:
    """FastAPI dependency: the signed-in staff member holding one of ``roles`` (admin holds all)."""

    async def dependency(request: Request) -> Staff:
        staff = session_staff(request.cookies.get(COOKIE))
        if staff is None:
            if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
                raise LoginRequired(str(request.url.path))
            raise HTTPException(401, "请先登录")
        if roles and not staff.has(*roles):
            raise HTTPException(403, "您的账号没有此项权限")
        await _check_csrf(request, staff)
        request.state.staff = staff
        return staff

    return dependency


def staff_from_websocket(cookies: Dict[str, str], *roles: str) -> Optional[Staff]:
    """WebSockets carry no CSRF header; SameSite=Strict cookies plus an Origin check guard them."""
    staff = session_staff(cookies.get(COOKIE))
    if staff is None or (roles and not staff.has(*roles)):
        return None
    return staff


# ------------------------------------------------------------------ pages

router = APIRouter()

_LOGIN_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>工作人员登录</title>
<style>body{{font-family:"WenQuanYi Zen Hei",sans-serif;background:#f5f6f8;display:flex;justify-content:center;padding-top:10vh}}
form{{background:#fff;padding:24px 28px;border-radius:8px;width:300px;box-shadow:0 1px 4px #0002}}
h1{{font-size:1.2rem;color:#0b3d80}}label{{display:block;margin:10px 0 4px}}input{{width:100%;padding:8px;box-sizing:border-box}}
button{{margin-top:16px;width:100%;padding:10px;background:#0b4ea2;color:#fff;border:0;border-radius:6px;font-size:1rem}}
.err{{color:#b00020}}</style></head><body>
<form method="post" action="/login"><h1>12345 在线导办 · 工作人员登录</h1>
<p class="err" role="alert">{error}</p>
<input type="hidden" name="next" value="{next}">
<label for="username">用户名</label><input id="username" name="username" autocomplete="username" required>
<label for="password">密码</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">登录</button></form></body></html>"""


def _safe_next(next_url: str) -> str:
    """A page on this site to go to after signing in ("" for none: an offsite or missing target)."""
    return next_url if next_url.startswith("/") and not next_url.startswith("//") else ""


def home_page(staff: Staff) -> str:
    """Where a member of staff lands after signing in without a target: the page their role works in."""
    if staff.has("agent"):
        return "/workbench"
    if staff.has("supervisor"):
        return "/supervisor"
    return "/editor"  # editors and reviewers


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(next: str = "") -> HTMLResponse:
    from html import escape

    return HTMLResponse(_LOGIN_PAGE.format(error="", next=escape(_safe_next(next))))


@router.post("/login", include_in_schema=False)
def login(username: str = Form(""), password: str = Form(""), next: str = Form("")) -> Response:
    from html import escape

    from channels.audit import audit

    staff = authenticate(username.strip(), password)
    if staff is None:
        audit(username[:64] or "?", "login_failed", "staff", "")
        return HTMLResponse(_LOGIN_PAGE.format(error="用户名或密码不正确", next=escape(_safe_next(next))), status_code=401)
    start_session(staff)
    audit(staff.username, "login", "staff", "")
    response = RedirectResponse(_safe_next(next) or home_page(staff), status_code=303)
    response.set_cookie(COOKIE, staff.token, httponly=True, samesite="strict", max_age=SESSION_TTL,
                        secure=get_settings().base_url.startswith("https"))
    return response


@router.post("/logout", include_in_schema=False)
def logout(staff: Staff = Depends(require_roles())) -> Response:
    from channels.audit import audit

    end_session(staff.token)
    audit(staff.username, "logout", "staff", "")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/api/me")
def me(staff: Staff = Depends(require_roles())) -> Dict[str, Any]:
    return {**staff.public(), "csrf": staff.csrf}


DEMO_STAFF = (
    ("agent1", "王晓敏", "agent", "guide", ""),
    ("agent2", "李明", "agent", "guide", ""),
    ("expert1", "陈静", "agent", "expert", ""),
    ("supervisor", "张华", "supervisor,agent", "expert", ""),
    ("editor", "赵雪", "editor", "guide", ""),
    ("reviewer", "刘洋", "reviewer,editor", "guide", ""),
    ("admin", "系统管理员", "admin", "expert", ""),
)


def seed_demo_staff(password: str) -> List[str]:
    """First start on an empty database: create the demo team so the workbench can be tried at once."""
    if has_users():
        return []
    made = []
    for username, name, roles, tier, skills in DEMO_STAFF:
        create_user(username, password, roles.split(","), name, tier, skills.split(",") if skills else ())
        made.append(username)
    return made
