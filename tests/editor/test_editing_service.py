"""The editing service layer on SQLite and PostgreSQL: validation, review, publish, rollback, diffs, change log."""

from __future__ import annotations

import copy
import threading
from pathlib import Path
from typing import List

import pytest

from actions.answers import element_answer
from guide.settings import Settings
from knowledge.base import KnowledgeHolder
from knowledge.editing import Editor, EditRefused, diff_documents, field_label
from knowledge.events import ChangeListener


def paid(editor: Editor, amount: object) -> dict:
    doc = copy.deepcopy(editor.published("T148"))
    doc["fee"]["items"][0]["amount"] = amount
    return doc


def test_a_fee_of_abc_is_refused_in_chinese_on_its_field_and_nothing_is_written(editor: Editor) -> None:
    before = len(editor.history("T148"))
    with pytest.raises(EditRefused) as exc:
        editor.save_draft("T148", paid(editor, "abc"), "editor")
    [problem] = exc.value.problems
    assert problem.path == "fee.items.0.amount" and problem.message == "须为数字"
    assert problem.label == "收费 › 收费项目 第1项 › 金额"
    assert len(editor.history("T148")) == before and editor.open_change("T148") is None


def test_cross_reference_and_placeholder_problems_point_at_their_fields(editor: Editor) -> None:
    doc = copy.deepcopy(editor.published("T148"))
    doc["materials"][0]["catalogue"] = "no_such_material"
    doc["summary"] += "具体收费待补充。"
    doc["aliases"].append(editor.published("T150")["aliases"][0])
    _, problems = editor.validate(doc)
    where = {p.path: p.message for p in problems}
    assert "no_such_material" in where["materials.0.catalogue"]
    assert "待补充" in where["summary"]
    alias_path = f"aliases.{len(doc['aliases']) - 1}"
    assert "T150" in where[alias_path] and "路由歧义" in where[alias_path]


def test_draft_review_publish_with_a_reviewer_who_is_not_the_author(editor: Editor, announced: List[List[str]]) -> None:
    out = editor.save_draft("T148", paid(editor, 1200), "editor", "2026 年调价")
    assert editor.open_change("T148").state == "draft"
    assert editor.published("T148")["fee"]["items"][0]["amount"] == 1000  # a draft is not live
    editor.submit("T148", out.version, "editor")
    with pytest.raises(EditRefused, match="不能审核自己"):
        editor.approve("T148", out.version, "editor")
    with pytest.raises(EditRefused, match="正在审核中"):
        editor.save_draft("T148", paid(editor, 1300), "editor2")
    published = editor.approve("T148", out.version, "reviewer")
    assert editor.published("T148")["fee"]["items"][0]["amount"] == 1200
    assert announced == [["T148"]]
    top = editor.history("T148")[0]
    assert (top.version, top.state, top.author, top.reviewer, top.reason) == (published.version, "published", "editor", "reviewer", "2026 年调价")
    actions = [e.action for e in editor.change_log("T148")]
    assert actions == ["approve", "submit", "save"]


def test_everyone_who_edited_a_draft_is_barred_from_approving_it(editor: Editor) -> None:
    out = editor.save_draft("T148", paid(editor, 1100), "editor")
    editor.save_draft("T148", paid(editor, 1150), "reviewer", "顺手改了金额")
    editor.submit("T148", out.version, "editor")
    assert editor.contributors("T148", out.version) == ["editor", "reviewer"]
    with pytest.raises(EditRefused):
        editor.approve("T148", out.version, "reviewer")
    assert editor.approve("T148", out.version, "reviewer2").version


def test_reject_needs_a_reason_and_a_new_draft_starts_afterwards(editor: Editor) -> None:
    out = editor.save_draft("T148", paid(editor, 1200), "editor", "调价")
    editor.submit("T148", out.version, "editor")
    with pytest.raises(EditRefused, match="原因"):
        editor.reject("T148", out.version, "reviewer", " ")
    editor.reject("T148", out.version, "reviewer", "缺少物价部门文件依据")
    assert editor.version("T148", out.version).state == "rejected"
    assert editor.change_log("T148")[0].detail == "缺少物价部门文件依据"
    again = editor.save_draft("T148", paid(editor, 1200), "editor", "补充依据后再提交")
    assert again.version == out.version + 1


def test_rollback_publishes_an_old_version_again_through_the_same_path(editor: Editor, announced: List[List[str]]) -> None:
    first = editor.published("T148")
    out = editor.save_draft("T148", paid(editor, 1200), "editor", "调价")
    editor.submit("T148", out.version, "editor")
    editor.approve("T148", out.version, "reviewer")
    back = editor.rollback("T148", 1, "reviewer", "调价文件尚未生效")
    assert editor.published("T148") == first
    assert editor.history("T148")[0].reason == "回滚到第 1 版：调价文件尚未生效"
    assert back.version == editor.history("T148")[0].version and announced[-1] == ["T148"]
    with pytest.raises(EditRefused, match="相同"):
        editor.rollback("T148", 1, "reviewer")
    with pytest.raises(EditRefused, match="发布过"):
        editor.rollback("T148", out.version, "reviewer")  # the draft itself was never published


def test_a_draft_overtaken_by_another_publish_cannot_be_approved(editor: Editor) -> None:
    out = editor.save_draft("T148", paid(editor, 1200), "editor")
    with pytest.raises(EditRefused, match="修改说明"):
        editor.submit("T148", out.version, "editor")
    editor.submit("T148", out.version, "editor", "调价")
    editor.publish_documents([paid(editor, 900)], "admin", "紧急更正")  # another change to this guide went live meanwhile
    with pytest.raises(EditRefused, match="此后已发布"):
        editor.approve("T148", out.version, "reviewer")


def test_diff_is_field_level_with_chinese_labels(editor: Editor) -> None:
    before = editor.published("T148")
    after = paid(editor, 1200)
    after["aliases"] = after["aliases"] + ["殡仪馆收费"]
    after["faqs"] = after["faqs"][1:]
    changes = {c.label: c for c in diff_documents(before, after)}
    fee = changes["收费 › 收费项目「市属殡仪馆基本殡仪服务组合」 › 金额"]
    assert (fee.kind, fee.before, fee.after) == ("changed", "1000", "1200")
    assert changes["别名"].after.endswith("殡仪馆收费")
    assert any(c.kind == "removed" and c.label.startswith("常见问题「") for c in changes.values())
    assert field_label(["deferral", "materials", 0]) == "容缺受理 › 容缺材料 第1项"


def test_publish_reaches_another_process_knowledge_base_over_redis(db_url: str, few_data: Path) -> None:
    """A second 'process' (its own holder and listener) answers with the new fee without a restart."""
    from knowledge.events import announce_change

    other = KnowledgeHolder(Settings(database_url=db_url, data_dir=few_data))  # type: ignore[call-arg]
    other.get()
    editor = Editor(other.store, few_data, on_publish=lambda ids: announce_change(ids))
    reloaded = threading.Event()

    def on_change(ids: List[str]) -> None:
        other.reload()
        reloaded.set()

    listener = ChangeListener(on_change)
    listener.start()
    try:
        import time

        from guide.redis import get_redis
        from knowledge.events import channel_for

        for _ in range(100):
            if get_redis().pubsub_numsub(channel_for(get_redis()))[0][1] >= 1:
                break
            time.sleep(0.05)
        assert "1000元" in element_answer(other.get().services["T148"], other.get(), "ask_fee")
        out = editor.save_draft("T148", paid(editor, 1200), "editor", "调价")
        editor.submit("T148", out.version, "editor")
        editor.approve("T148", out.version, "reviewer")
        assert reloaded.wait(5)
        kb = other.get()
        assert "1200元/具" in element_answer(kb.services["T148"], kb, "ask_fee")
        assert kb.index.search("殡仪馆接遗体")[0].service_id == "T148"
    finally:
        listener.stop()
