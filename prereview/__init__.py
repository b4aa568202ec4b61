"""Pre-review (网上预审) of uploaded materials: OCR, a rule catalogue, and correction notices.

Entry points for the bot, the gateway and the CLI::

    result = review("T068", [Submission(name, data, material=...)], scenario="own_house", applicant=("张三", "1101…"))
    notice = issue_notice(result)              # numbered, stored, audited
    chat_messages(notice, base_url)            # list of ≤600-character messages
    notice_url(notice.slug, base_url)          # HTML page; + ".pdf" for the PDF
"""

from __future__ import annotations

from typing import Any

from prereview.engine import Applicant, ReviewResult, Submission, UnknownService, review
from prereview.notices import Notice, NoticeStore, NotYourNotice, notice_url
from prereview.render import chat_messages


def issue_notice(result: ReviewResult, kb: Any = None, actor: str = "system", db_url: str | None = None,
                 owner: str | None = None) -> Notice:
    """Number and store ``result`` as a notice (prefix from the city profile), owned by ``owner`` (the resident's
    conversation or the API caller; ``None`` for trusted callers such as the CLI)."""
    from guide.settings import get_settings

    if kb is None:
        from knowledge.base import current

        kb = current()
    return NoticeStore(db_url or get_settings().db_url).issue(result, prefix=kb.profile.notice_prefix, actor=actor,
                                                              owner=owner)


__all__ = ["Applicant", "Notice", "NoticeStore", "NotYourNotice", "ReviewResult", "Submission", "UnknownService", "chat_messages",
           "issue_notice", "notice_url", "review"]
