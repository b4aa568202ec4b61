"""Pre-review in the conversation, actions run on real rasa_sdk trackers (as tests/bot does), with real uploads,
the real engine and a real database: the flow resumes when the service is named, the materials answer offers
pre-review, files are kept by upload id, the applicant comes from the ID card and only a notice of this
conversation is replaced."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from prereview.corpus import blur, id_back, id_front, jpg, photograph, world

T068 = [{"id": "T068", "name": "婚后夫妻投靠落户一件事", "score": 0.92, "phrase": ""}]
SENDER = "web-" + "f" * 24


def tracker(text: str, intent: str, slots: Optional[Dict[str, Any]] = None, ranking: Optional[List[Dict[str, Any]]] = None,
            confidence: float = 0.0, entities: Optional[List[Dict[str, Any]]] = None) -> Tracker:
    parse = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "intent_ranking": [{"name": intent, "confidence": 0.9}],
             "entities": entities or [], "service_ranking": ranking or [], "service_confidence": confidence}
    return Tracker(SENDER, dict(slots or {}), parse, [], False, None, None, "action_listen")


def apply(slots: Dict[str, Any], events: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The slots after the events, as Rasa would keep them."""
    out = dict(slots)
    out.update({e["name"]: e["value"] for e in events if e.get("event") == "slot"})
    return out


def texts(d: CollectingDispatcher) -> str:
    return "\n".join(m.get("text") or "" for m in d.messages)


@pytest.fixture()
def flow(small_kb_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The small knowledge base, a private database and upload folder for this test."""
    import knowledge.base
    from guide.settings import get_settings

    get_settings.cache_clear()
    monkeypatch.setattr(knowledge.base, "_holder", None)
    yield small_kb_env
    get_settings.cache_clear()


def upload(data: bytes, name: str) -> Dict[str, Any]:
    """What the gateway does with a file: store it, then tell the bot with an ``upload`` entity."""
    from prereview import uploads

    stored = uploads.store(data, name)
    return {"entity": "upload", "value": json.dumps({"upload_id": stored.id, "filename": stored.name})}


def test_naming_the_service_resumes_pre_review_and_keeps_the_uploads(flow: Path) -> None:
    from actions.actions import ActionChooseOption, ActionRoute
    from actions.prereview_flow import ActionReceiveUpload, ActionStartPrereview

    d = CollectingDispatcher()
    slots = apply({}, ActionStartPrereview().run(d, tracker("我要预审", "start_prereview"), {}))
    assert slots["pending"] == {"type": "prereview_service"} and "请先告诉我您要办理的事项" in texts(d)
    a = world(7).applicant
    d = CollectingDispatcher()
    slots = apply(slots, ActionReceiveUpload().run(d, tracker("", "upload_received", slots, entities=[
        upload(jpg(photograph(id_front(a))), "image.jpg")]), {}))
    assert len(slots["prereview"]["files"]) == 1 and slots["pending"] == {"type": "prereview_service"}

    d = CollectingDispatcher()
    slots = apply(slots, ActionRoute().run(d, tracker("我想办夫妻投靠落户", "ask_service", slots, T068, 0.92), {}))
    assert "预审【婚后夫妻投靠落户一件事】前，请先选择您的情形" in texts(d), "pre-review goes on, not an overview"
    assert slots["service"] == "T068" and slots["pending"] == {"type": "scenario", "then": "prereview"}
    assert len(slots["prereview"]["files"]) == 1, "the photo sent before the service was named is kept"

    d = CollectingDispatcher()
    slots = apply(slots, ActionChooseOption().run(d, tracker("1", "choose_option", slots), {}))
    assert "预审请上传以下材料" in texts(d) and "投靠人居民身份证" in texts(d)
    assert slots["scenario"] == "own_house" and len(slots["prereview"]["files"]) == 1


def test_a_choice_between_services_also_resumes_pre_review(flow: Path) -> None:
    from actions.actions import ActionChooseOption, ActionRoute

    close = [{"id": "T068", "name": "婚后夫妻投靠落户一件事", "score": 0.41, "phrase": ""},
             {"id": "T092", "name": "无犯罪记录证明开具一件事", "score": 0.38, "phrase": ""}]
    slots: Dict[str, Any] = {"pending": {"type": "prereview_service"}}
    d = CollectingDispatcher()
    slots = apply(slots, ActionRoute().run(d, tracker("我要办个证明", "ask_service", slots, close, 0.45), {}))
    assert slots["pending"] == {"type": "service_choice", "element": None, "then": "prereview"}
    d = CollectingDispatcher()
    slots = apply(slots, ActionChooseOption().run(d, tracker("2", "choose_option", slots), {}))
    assert "预审【无犯罪记录证明开具一件事】前，请先选择您的情形" in texts(d) and slots["service"] == "T092"


def test_the_materials_answer_ends_with_an_offer_that_starts_pre_review(flow: Path) -> None:
    from actions.actions import ActionAnswerElement
    from actions.prereview_flow import ActionStartPrereview

    d = CollectingDispatcher()
    ActionAnswerElement().run(d, tracker("要带什么材料", "ask_materials", {"service": "T092", "scenario": "self"}), {})
    last = d.messages[-1]
    assert "材料备齐后，可点“预审我的材料”" in texts(d)
    assert last["buttons"] == [{"title": "预审我的材料", "payload": '/start_prereview{"service": "T092"}'}]

    # the button's payload names the service: it starts pre-review for it even in a conversation about another
    d = CollectingDispatcher()
    events = ActionStartPrereview().run(d, tracker('/start_prereview{"service": "T092"}', "start_prereview",
                                                   {"service": "T068"}, entities=[{"entity": "service", "value": "T092"}]), {})
    slots = apply({}, events)
    assert slots["service"] == "T092" and slots["prereview"]["service"] == "T092"
    assert "预审【无犯罪记录证明开具一件事】" in texts(d)


def test_same_named_photos_applicant_from_the_card_and_only_own_notices_replaced(flow: Path) -> None:
    from actions.prereview_flow import ActionFinishUpload, ActionReceiveUpload
    from guide.settings import get_settings
    from prereview import NoticeStore

    a = world(7).applicant
    front = upload(jpg(photograph(id_front(a))), "image.jpg")
    back_blurred = upload(jpg(blur(photograph(id_back(date(2016, 4, 1), None)))), "image.jpg")
    slots: Dict[str, Any] = {"service": "T068", "scenario": "own_house",
                             "prereview": {"service": "T068", "scenario": "own_house", "files": []}}
    d = CollectingDispatcher()
    for ent in (front, back_blurred):
        d = CollectingDispatcher()
        slots = apply(slots, ActionReceiveUpload().run(d, tracker("", "upload_received", slots, entities=[ent]), {}))
    assert "image.jpg（第2个文件）" in texts(d) and len(slots["prereview"]["files"]) == 2, "same name, two files"

    d = CollectingDispatcher()
    slots = apply(slots, ActionFinishUpload().run(d, tracker("上传完了", "finish_upload", slots), {}))
    notice_text = texts(d)
    masked = a.id_number[:6] + "********" + a.id_number[-4:]
    assert f"申请人：{a.name}（公民身份号码{masked}），据申请人身份证件识别" in notice_text
    assert "image.jpg（第2个文件）" in notice_text and "模糊" in notice_text
    first = slots["prereview"]["previous"]
    front_id = json.loads(front["value"])["upload_id"]
    assert [f["upload_id"] for f in slots["prereview"]["files"]] == [front_id], "the blurred one is dropped, by id"

    back = upload(jpg(photograph(id_back(date(2016, 4, 1), None))), "image.jpg")
    slots = apply(slots, ActionReceiveUpload().run(CollectingDispatcher(), tracker("", "upload_received", slots, entities=[back]), {}))
    d = CollectingDispatcher()
    slots = apply(slots, ActionFinishUpload().run(d, tracker("上传完了", "finish_upload", slots), {}))
    assert f"本告知书替代{first}" in texts(d)
    store = NoticeStore(get_settings().db_url)
    second = store.get(slots["prereview"]["previous"])
    assert second is not None and second.previous_number == first
    assert [doc.reused for doc in second.result.documents] == [True, False], "only the new photo was read"
    assert not any(x.file.startswith("image.jpg") for x in second.result.defects), "both sides of the card pass"

    # a notice this conversation was not given is never replaced (nor its defects shown as "fixed")
    from prereview import ReviewResult

    someone_elses = ReviewResult.from_json({**second.result.to_json(), "previous_number": None})
    foreign = store.issue(someone_elses, prefix="京政务预审", owner="web-" + "0" * 24)
    slots["prereview"]["previous"] = foreign.number
    d = CollectingDispatcher()
    slots = apply(slots, ActionFinishUpload().run(d, tracker("上传完了", "finish_upload", slots), {}))
    third = store.get(slots["prereview"]["previous"])
    assert third is not None and third.previous_number is None and "替代" not in texts(d)
    assert store.get(foreign.number).superseded_by is None  # type: ignore[union-attr]
