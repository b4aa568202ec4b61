"""Limits on what an editor may upload for import: the file's size while it is read, and an .xlsx's unpacked size.

An .xlsx is a zip: a few kilobytes can unpack to gigabytes, which openpyxl would inflate in
memory.  The zip's directory states every part's size, so the whole can be judged before
anything is decompressed (and a part that lies about its size is caught while reading).
"""

from __future__ import annotations

import io
import zipfile
import zlib
from typing import Optional

from fastapi import UploadFile

from guide.settings import get_settings

CHUNK = 64 * 1024
MAX_PARTS = 2000  # a workbook of 200 guides has a few dozen parts


class UploadRefused(ValueError):
    """The upload is over a limit or unreadable; the message is for the editor."""


async def read_capped(file: UploadFile, limit_mb: Optional[float] = None) -> bytes:
    """The upload's bytes, refused as soon as they pass ``EDITOR_MAX_IMPORT_MB``."""
    limit_mb = limit_mb if limit_mb is not None else get_settings().editor_max_import_mb
    limit = int(limit_mb * 1024 * 1024)
    data = bytearray()
    while True:
        chunk = await file.read(CHUNK)
        if not chunk:
            return bytes(data)
        data.extend(chunk)
        if len(data) > limit:
            raise UploadRefused(f"文件超过 {limit_mb:g} MB，无法导入；请分批导出、导入")


def check_xlsx(data: bytes, limit_mb: Optional[float] = None) -> None:
    """Refuse an .xlsx that is not a zip, has too many parts, or unpacks to more than ``EDITOR_MAX_UNPACKED_MB``."""
    limit_mb = limit_mb if limit_mb is not None else get_settings().editor_max_unpacked_mb
    limit = int(limit_mb * 1024 * 1024)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            parts = z.infolist()
            if len(parts) > MAX_PARTS:
                raise UploadRefused(f"Excel 文件包含 {len(parts)} 个部件，超出正常工作簿，已拒绝")
            declared = sum(p.file_size for p in parts)
            if declared > limit:
                raise UploadRefused(f"Excel 文件解压后约 {declared / 1024 / 1024:.0f} MB，超过 {limit_mb:g} MB 的上限，已拒绝（可能是压缩炸弹）")
            total = 0
            for p in parts:  # the directory may lie: count what really comes out, and stop at the limit
                with z.open(p) as f:
                    while True:
                        block = f.read(CHUNK)
                        if not block:
                            break
                        total += len(block)
                        if total > limit:
                            raise UploadRefused(f"Excel 文件解压后超过 {limit_mb:g} MB 的上限，已拒绝（可能是压缩炸弹）")
    except UploadRefused:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, zlib.error) as exc:
        raise UploadRefused("这不是有效的 .xlsx 文件（无法按 Excel 格式读取），请用 Excel 或 WPS 另存为 .xlsx 后重新导入") from exc
