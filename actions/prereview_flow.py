"""Pre-review in the conversation: list what to upload, collect files, review them together, send ONE notice.

The ``prereview`` slot holds the session: service, scenario, the uploads received
(``upload_id`` + file name; keyed by upload id, since phones name every photo
``image.jpg``) and the number of the last notice.  After a notice, files that had an
error are dropped from the set (the resident replaces them); files that passed stay, and
the engine's reading cache means only new files are read again.  The new notice names
the one it replaces, and only a notice this conversation was given may be replaced.

Files sent before the service is known are kept: the flow waits for the service
(``pending: prereview_service``) and the next service the resident names resumes it
(``resume``, called by the routing actions).  The applicant is read from the applicant's
own ID card among the files, since the chat never asks for it.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.answers import split_message
from guide.settings import get_settings
from knowledge.base import current

log = logging.getLogger(__name__)


def _say(dispatcher: CollectingDispatcher, text: str, buttons: List[Dict[str, str]] | None = None) -> None:
    parts = split_message(text)
    for i, part in enumerate(parts):
        dispatcher.utter_message(text=part, buttons=buttons if buttons and i == len(parts) - 1 else None)


def _scenario_buttons(svc: Any) -> List[Dict[str, str]]:
    return [{"title": f"{n}. {s.name}", "payload": str(n)} for n, s in enumerate(svc.scenarios, 1)]


def needed_text(svc: Any, scenario: str | None) -> str:
    """What the resident must upload: the merged list for the scenario, minus what the government already holds."""
    needed = [m for m in svc.materials_for(scenario) if m.must_submit]
    shared = [m for m in svc.materials_for(scenario) if not m.must_submit]
    lines = [f"【{svc.name}】预审请上传以下材料（拍照或 PDF，每份一个文件，证件正反面都要）："]
    lines += [f"{n}. {m.name}" + (f"（{m.note}）" if m.note and len(m.note) <= 40 else "") for n, m in enumerate(needed, 1)]
    if shared:
        lines.append("以下材料通过电子证照或数据共享获取，无需上传：" + "、".join(m.name for m in shared))
    lines.append("传完后回复“上传完了”，我会一次性告诉您所有需要补正的地方。")
    return "\n".join(lines)


def _session(tracker: Tracker) -> Dict[str, Any]:
    state = tracker.get_slot("prereview")
    return dict(state) if isinstance(state, dict) else {}


def _ask_person(dispatcher: CollectingDispatcher, service_id: str, text: str, note: str) -> None:
    """Pre-review asks the handoff service for a person (the hub acts on the control payload)."""
    _say(dispatcher, text)
    dispatcher.utter_message(json_message={"handoff": {"reason": "prereview", "service": service_id, "note": note}})


def start(svc: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> List[EventType]:
    """Pre-review of ``svc``: the scenario question when it has several, else the list of what to upload.
    Uploads already received stay (those sent before any service was named, or for this service)."""
    state = _session(tracker)
    keep = state if state.get("service") in (svc.id, None) else {}
    events: List[EventType] = [SlotSet("service", svc.id)]
    scenario = tracker.get_slot("scenario") if tracker.get_slot("service") == svc.id else None
    session = {"service": svc.id, "scenario": scenario, "files": keep.get("files", []), "previous": keep.get("previous")}
    if svc.scenarios and not scenario:
        _say(dispatcher, f"预审【{svc.name}】前，请先选择您的情形：", _scenario_buttons(svc))
        return events + [SlotSet("scenario", None), SlotSet("prereview", session),
                         SlotSet("pending", {"type": "scenario", "then": "prereview"})]
    text = needed_text(svc, scenario)
    if session["files"]:
        text += f"\n已收到的 {len(session['files'])} 个文件会一并预审，不用重新上传。"
    _say(dispatcher, text)
    return events + [SlotSet("prereview", session), SlotSet("pending", None)]


def resume(svc: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> List[EventType]:
    """The resident named the service pre-review was waiting for: carry on where it stopped."""
    return start(svc, dispatcher, tracker)


def waiting_for_service(tracker: Tracker) -> bool:
    pending = tracker.get_slot("pending") or {}
    return isinstance(pending, dict) and pending.get("type") == "prereview_service"


def _named_service(tracker: Tracker) -> str | None:
    """A service id carried by the message itself (the "预审我的材料" button's payload)."""
    for ent in tracker.latest_message.get("entities") or []:
        if ent.get("entity") == "service" and ent.get("value"):
            return str(ent["value"])
    return None


class ActionStartPrereview(Action):
    """"我要预审": pick the scenario if the service has several, then list what to upload."""

    def name(self) -> str:
        return "action_start_prereview"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> List[EventType]:
        kb = current()
        svc = kb.service(_named_service(tracker) or "") or kb.service(tracker.get_slot("service") or "")
        if svc is None:
            _say(dispatcher, "请先告诉我您要办理的事项（比如“新生儿出生”“企业注销”），我再告诉您需要上传哪些材料。")
            return [SlotSet("pending", {"type": "prereview_service"})]
        return start(svc, dispatcher, tracker)


class ActionReceiveUpload(Action):
    """A file arrived (the gateway stored it and sent ``/upload_received``): add it to the session."""

    def name(self) -> str:
        return "action_receive_upload"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> List[EventType]:
        upload = self._upload(tracker)
        if upload is None:
            _say(dispatcher, "抱歉，文件没有收到，请重新上传。")
            return []
        kb = current()
        state = _session(tracker)
        svc = kb.service(state.get("service") or tracker.get_slot("service") or "")
        files = [f for f in state.get("files", []) if f.get("upload_id") != upload["upload_id"]]
        limit = get_settings().prereview_max_files
        if len(files) >= limit:
            _say(dispatcher, f"一次预审最多 {limit} 个文件。请回复“上传完了”先预审已上传的材料。")
            return []
        files.append({"upload_id": upload["upload_id"], "filename": upload.get("filename", "")})
        state.update({"files": files})
        same_name = sum(1 for f in files if f.get("filename") == upload.get("filename", ""))
        shown = upload.get("filename", "") + (f"（第{len(files)}个文件）" if same_name > 1 else "")
        if svc is None:
            _say(dispatcher, f"已收到文件“{shown}”。请告诉我您要办理的事项，我按该事项的材料清单帮您预审。")
            return [SlotSet("prereview", state), SlotSet("pending", {"type": "prereview_service"})]
        state.setdefault("service", svc.id)
        state.setdefault("scenario", tracker.get_slot("scenario"))
        _say(dispatcher, f"已收到第 {len(files)} 个文件：{shown}（用于【{svc.name}】预审）。"
                         "还有材料请继续上传；全部传完后回复“上传完了”。")
        return [SlotSet("prereview", state)]

    @staticmethod
    def _upload(tracker: Tracker) -> Dict[str, Any] | None:
        for ent in tracker.latest_message.get("entities") or []:
            if ent.get("entity") == "upload":
                value = ent.get("value")
                try:
                    data = json.loads(value) if isinstance(value, str) else value
                except ValueError:
                    return None
                if isinstance(data, dict) and data.get("upload_id"):
                    return data
        return None


class ActionFinishUpload(Action):
    """"上传完了": review every file together and send one correction notice (text + HTML/PDF links)."""

    def name(self) -> str:
        return "action_finish_upload"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> List[EventType]:
        from prereview import UnknownService, chat_messages, issue_notice, review
        from prereview.uploads import submission

        kb = current()
        state = _session(tracker)
        svc = kb.service(state.get("service") or tracker.get_slot("service") or "")
        if svc is None:
            _say(dispatcher, "还没有开始预审。请先告诉我要办的事项，再回复“预审”。")
            return []
        scenario = state.get("scenario") or tracker.get_slot("scenario")
        if svc.scenarios and not scenario:
            _say(dispatcher, "请先选择您的情形，我才能按对应的材料清单预审：", _scenario_buttons(svc))
            return [SlotSet("pending", {"type": "scenario", "then": "prereview_finish"}),
                    SlotSet("prereview", {**state, "service": svc.id})]
        subs, lost = [], []
        for f in state.get("files", []):
            try:
                subs.append(submission(f["upload_id"]))
            except FileNotFoundError:
                lost.append(f.get("filename", ""))
        if not subs:
            _say(dispatcher, "还没有收到材料文件。请点“上传材料”（微信里直接发送照片）上传后，再回复“上传完了”。")
            return []
        from prereview import NoticeStore

        previous = state.get("previous")
        if previous and not NoticeStore(get_settings().db_url).may_supersede(previous, tracker.sender_id):
            previous = None  # not this conversation's notice (a slot carried over, a shared device): start afresh
        try:
            result = review(svc.id, subs, scenario=scenario, previous_number=previous, kb=kb, infer_applicant=True)
        except UnknownService:
            _say(dispatcher, "这个事项暂时不支持预审，请拨打12345咨询。")
            return []
        except Exception:  # noqa: BLE001 - the engine failed on these files: a person looks at them instead
            log.exception("pre-review failed for %s", svc.id)
            _ask_person(dispatcher, svc.id, "预审暂时出了问题，已为您转接人工导办专员查看您上传的材料。", "预审引擎出错")
            return []
        notice = issue_notice(result, kb=kb, actor=tracker.sender_id, owner=tracker.sender_id)
        self._record(tracker, svc.id, result)
        if lost:
            _say(dispatcher, "以下文件已超过保存期限被删除，请重新上传：" + "、".join(lost))
        base = get_settings().base_url
        for part in chat_messages(notice, base):
            dispatcher.utter_message(text=part)
        dispatcher.utter_message(json_message={"link": {"title": "查看告知书（可下载 PDF）", "url": f"/prereview/notices/{notice.slug}"},
                                               "notice": notice.number})
        unreadable = sum(1 for d in result.errors if d.code == "unreadable")
        if unreadable and state.get("unreadable_before"):
            # the second notice in a row with photos we cannot read: a person helps rather than a third try
            _ask_person(dispatcher, svc.id, "照片仍然无法辨认，已为您转接人工导办专员协助。", f"连续两次预审有 {unreadable} 份材料无法辨认")
        bad_files = {d.file for d in result.errors if d.file}
        bad_uploads = {doc.upload_id for doc in result.documents if doc.file in bad_files}
        kept = [f for f in state.get("files", []) if f.get("upload_id") in {s.upload_id for s in subs}
                and f.get("upload_id") not in bad_uploads]
        return [SlotSet("prereview", {"service": svc.id, "scenario": scenario, "files": kept, "previous": notice.number,
                                      "passed": notice.passed, "unreadable_before": bool(unreadable)})]

    @staticmethod
    def _record(tracker: Tracker, service_id: str, result: Any) -> None:
        from guide.analytics import record

        record("prereview", sender=tracker.sender_id, service_id=service_id, code="passed" if result.passed else "defects")
        for d in result.defects:
            record("prereview_defect", sender=tracker.sender_id, service_id=service_id, code=d.code, text=d.material)
