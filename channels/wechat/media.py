"""Images residents send: downloaded at once (WeChat deletes media after 3 days) and stored for pre-review."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict

from channels.wechat import client
from guide.settings import get_settings

log = logging.getLogger(__name__)

SUFFIX = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp", "image/bmp": ".bmp"}


class MediaTooLarge(ValueError):
    pass


def mask(sender: str) -> str:
    """An OpenID shortened for logs."""
    return sender[:7] + "…" if len(sender) > 10 else sender


async def fetch_media(media_id: str, sender: str) -> Dict[str, Any]:
    """Download ``media_id`` (media/get) and store the bytes with ``prereview.uploads.store``.

    Returns ``{"upload_id", "filename", "media_type", "size"}`` — the hub's ``Inbound.upload``
    (plus the byte size).  The file lands under ``var/uploads/`` with a random name, outside
    every served folder.  Raises ``WeChatAPIError`` when WeChat refuses (e.g. 40007, media
    expired) and ``MediaTooLarge`` above ``MAX_UPLOAD_MB``.  ``sender`` is only used for logs.
    """
    media = await client.download_media(media_id)
    limit = get_settings().max_upload_mb * 1024 * 1024
    if len(media.content) > limit:
        raise MediaTooLarge(f"{len(media.content)} bytes")
    media_type = media.content_type if media.content_type.startswith("image/") else "image/jpeg"
    filename = f"微信图片_{media_id[-12:]}{SUFFIX.get(media_type, '.jpg')}"
    from prereview import uploads  # the gateway's import path; kept out of module import for light CLI/test use

    stored = await asyncio.to_thread(uploads.store, media.content, filename)
    log.info("wechat image from %s stored as %s (%d bytes)", mask(sender), stored.id[:8], stored.size)
    return {"upload_id": stored.id, "filename": filename, "media_type": media_type, "size": stored.size}
