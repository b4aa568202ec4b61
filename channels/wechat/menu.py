"""The custom menu: one YAML file (``menu.yml``) read for publishing and for answering clicks."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml

from guide.settings import get_settings

MENU_FILE = Path(__file__).with_name("menu.yml")
LOCAL_KEYS = ("ask", "reply")
TYPES = {"click", "view", "scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album",
         "pic_weixin", "location_select", "media_id", "article_id", "article_view_limited", "miniprogram"}


class MenuError(ValueError):
    pass


def load(path: Optional[Path] = None) -> Dict[str, Any]:
    doc = yaml.safe_load((path or MENU_FILE).read_text(encoding="utf-8"))
    problems = check(doc)
    if problems:
        raise MenuError("；".join(problems))
    return dict(doc)


def _leaves(doc: Dict[str, Any]) -> List[Dict[str, Any]]:
    out: List[Dict[str, Any]] = []
    for top in doc.get("button") or []:
        out.extend(top.get("sub_button") or [top])
    return out


def check(doc: Any) -> List[str]:
    """WeChat's rules plus ours (every click has an ``ask`` or a ``reply``), as Chinese messages."""
    if not isinstance(doc, dict) or not isinstance(doc.get("button"), list) or not doc["button"]:
        return ["菜单文件须有 button 列表"]
    problems: List[str] = []
    if len(doc["button"]) > 3:
        problems.append("一级菜单最多 3 个")
    keys = set()
    for top in doc["button"]:
        name = str(top.get("name") or "")
        if not name or len(name.encode("utf-8")) > 16:
            problems.append(f"一级菜单名称“{name}”须为 1–16 字节")
        subs = top.get("sub_button")
        if subs is not None and not 1 <= len(subs) <= 5:
            problems.append(f"“{name}”的二级菜单须为 1–5 个")
        for sub in subs or []:
            sub_name = str(sub.get("name") or "")
            if not sub_name or len(sub_name.encode("utf-8")) > 60:
                problems.append(f"二级菜单名称“{sub_name}”须为 1–60 字节")
    for leaf in _leaves(doc):
        kind = leaf.get("type")
        if kind not in TYPES:
            problems.append(f"“{leaf.get('name')}”的类型 {kind!r} 无效")
        if kind == "click":
            key = str(leaf.get("key") or "")
            if not key or len(key.encode("utf-8")) > 128 or key in keys:
                problems.append(f"“{leaf.get('name')}”的 key 须唯一且不超过 128 字节")
            keys.add(key)
            if not (leaf.get("ask") or leaf.get("reply")):
                problems.append(f"“{leaf.get('name')}”须写 ask 或 reply")
        if kind == "view" and not str(leaf.get("url") or "").startswith(("http", "{base}")):
            problems.append(f"“{leaf.get('name')}”须写 url")
    return problems


def for_wechat(doc: Dict[str, Any]) -> Dict[str, Any]:
    """The menu/create body: local keys dropped, ``{base}`` filled in."""
    base = get_settings().base_url

    def clean(button: Dict[str, Any]) -> Dict[str, Any]:
        out = {k: v for k, v in button.items() if k not in LOCAL_KEYS}
        if "url" in out:
            out["url"] = str(out["url"]).replace("{base}", base)
        if "sub_button" in out:
            out["sub_button"] = [clean(b) for b in out["sub_button"]]
        return out

    return {"button": [clean(b) for b in doc["button"]]}


@lru_cache(maxsize=1)
def _clicks() -> Dict[str, Dict[str, str]]:
    return {str(leaf["key"]): {k: str(leaf[k]) for k in LOCAL_KEYS if leaf.get(k)}
            for leaf in _leaves(load()) if leaf.get("type") == "click"}


def click(key: str) -> Dict[str, str]:
    """``{"ask": text}`` or ``{"reply": text}`` for a click key; ``{}`` for a key this file does not know."""
    return _clicks().get(key, {})


async def publish(path: Optional[Path] = None) -> Dict[str, Any]:
    from channels.wechat import client

    return await client.create_menu(for_wechat(load(path)))
