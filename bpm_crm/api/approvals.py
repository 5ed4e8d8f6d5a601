"""Approval steps (审批) over the API: decide, return, transfer, add a signer, approve several at once; on a
request: comment, remind the approvers, withdraw, read the approval history."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from bpm_crm.api import bp, openapi, process_instances, schemas
from bpm_crm.api.auth import current_user
from bpm_crm.api.inputs import fields_of, id_field, id_list, json_object, optional_object, text_field
from bpm_crm.api.openapi import BOOL, ID, INT, N_STR, STR, TIME, nullable, obj, operation, path_id, ref, responses
from bpm_crm.api.tasks import detail
from bpm_crm.error_messages import translate
from bpm_crm.errors import Invalid
from bpm_crm.i18n import _
from bpm_crm.services import approvals, human_tasks, instances

MAX_STEP_ID = 80
POSITIONS = ("before", "after")


def _comment(payload: dict[str, Any], name: str = "comment") -> str | None:
    return text_field(payload, name, human_tasks.MAX_COMMENT)


def _renamed(exc: Invalid, names: dict[str, str]) -> Invalid:
    """The service's field errors under the names this API's body gives the fields."""
    fields = {names.get(name, name): messages for name, messages in exc.field_errors.items()}
    return Invalid(exc.template, fields, code=exc.code, **exc.params)


@bp.post("/tasks/<id:task_id>/approve")
def approve_task(task_id: int) -> Response:
    """同意, with an optional comment; the step decides as its mode says. A second decision gets 409."""
    user = current_user()
    payload = fields_of(optional_object(), ("comment",))
    return detail(approvals.decide(task_id=task_id, user=user, decision="approve", comment=_comment(payload)), user)


@bp.post("/tasks/<id:task_id>/reject")
def reject_task(task_id: int) -> Response:
    """拒绝, with the reason (required); the request goes back to its requester."""
    user = current_user()
    payload = fields_of(json_object(), ("comment",))
    return detail(approvals.decide(task_id=task_id, user=user, decision="reject", comment=_comment(payload)), user)


@bp.post("/tasks/<id:task_id>/return")
def return_task(task_id: int) -> Response:
    """退回 to the requester or to an approval step this request has passed, with the reason."""
    user = current_user()
    payload = fields_of(json_object(), ("to", "comment"))
    to = payload.get("to")
    if not isinstance(to, str) or not 1 <= len(to.strip()) <= MAX_STEP_ID:
        raise Invalid(str(_("请更正标出的字段")), {"to": [str(_("应为 requester 或此申请已经过的审批步骤"))]})
    task = approvals.return_task(task_id=task_id, user=user, to=to.strip(), comment=_comment(payload))
    return detail(task, user)


@bp.post("/tasks/<id:task_id>/transfer")
def transfer_task(task_id: int) -> Response:
    """转交: hand the decision to an active colleague."""
    user = current_user()
    payload = fields_of(json_object(), ("to_user_id", "comment"))
    to_user_id, comment = id_field(payload, "to_user_id"), _comment(payload)
    return detail(approvals.transfer(task_id=task_id, user=user, to_user_id=to_user_id, comment=comment), user)


@bp.post("/tasks/<id:task_id>/signers")
def add_task_signer(task_id: int) -> Response:
    """加签: ask one more person, before you (your turn comes back after him) or after you."""
    user = current_user()
    payload = fields_of(json_object(), ("user_id", "position", "comment"))
    signer_id, comment = id_field(payload, "user_id"), _comment(payload)
    position = payload.get("position")
    if position not in POSITIONS:
        raise Invalid(str(_("请更正标出的字段")), {"position": [str(_("应为以下之一：%(values)s",
                                                                 values="、".join(POSITIONS)))]})
    try:
        task = approvals.add_signer(task_id=task_id, user=user, to_user_id=signer_id, before=position == "before",
                                    comment=comment)
    except Invalid as exc:
        raise _renamed(exc, {"to_user_id": "user_id"}) from None
    return detail(task, user)


@bp.post("/tasks/approve")
def approve_tasks() -> Response:
    """Approve up to 100 tasks with one comment; each succeeds or fails on its own."""
    user = current_user()
    payload = fields_of(json_object(), ("task_ids", "comment"))
    task_ids, comment = id_list(payload, "task_ids", approvals.MAX_BATCH), _comment(payload)
    results = approvals.decide_many(task_ids=task_ids, user=user, comment=comment)
    return jsonify({"results": [{"task_id": result.task_id, "ok": result.ok,
                                 "message": translate(result.message) if result.message else None}
                                for result in results]})


@bp.post("/process-instances/<id:instance_id>/comments")
def comment_on_instance(instance_id: int) -> tuple[Response, int]:
    """评论 on a request you may see; @username tells someone who may see it too."""
    payload = fields_of(json_object(), ("text",))
    event = approvals.comment(instance_id=instance_id, user=current_user(), text=_comment(payload, "text") or "")
    return jsonify(schemas.approval_event(event)), 201


@bp.post("/process-instances/<id:instance_id>/nudge")
def nudge_instance(instance_id: int) -> Response:
    """催办: remind the approvers who are waiting (the requester, at most once an hour)."""
    fields_of(optional_object(), ())
    return jsonify({"user_ids": approvals.nudge(instance_id=instance_id, user=current_user())})


@bp.post("/process-instances/<id:instance_id>/withdraw")
def withdraw_instance(instance_id: int) -> Response:
    """撤回: the requester takes his request back while no approver has acted."""
    payload = fields_of(optional_object(), ("reason",))
    instance = approvals.withdraw(instance_id=instance_id, user=current_user(), reason=_comment(payload, "reason"))
    return process_instances.shown(instance)


@bp.get("/process-instances/<id:instance_id>/history")
def approval_history(instance_id: int) -> Response:
    """The actions taken on a request's approval steps, oldest first."""
    instance = instances.get_instance(instance_id=instance_id, user=current_user())
    return jsonify({"items": [schemas.approval_event(event) for event in approvals.approval_history(instance.id)]})


def _text(limit: int, *, required: bool = False) -> dict[str, Any]:
    if required:
        return {"type": "string", "minLength": 1, "maxLength": limit}
    return nullable({"type": "string", "maxLength": limit})


COMMENT = _text(human_tasks.MAX_COMMENT)
APPROVAL_ACTIONS = ["approve", "reject", "return", "transfer", "add_signer", "cc", "nudge", "withdraw", "comment"]
openapi.SCHEMAS.update({
    "ApprovalChange": obj({
        "kind": {"enum": ["field", "added", "removed", "changed"]}, "label": STR, "before": N_STR, "after": N_STR,
        "fields": {"type": "array", "description": "For a changed line: each field that differs",
                   "items": obj({"label": STR, "before": STR, "after": STR})}}),
    "TaskApproval": obj({
        "step": {**STR, "description": "The BPMN id of the approval step (what `to` names when returning to it)"},
        "actions": {"type": "array", "items": {"enum": APPROVAL_ACTIONS}, "description": (
            "approve, reject, return, transfer, add_signer (POST …/signers), cc (POST …/watchers); nudge, withdraw "
            "and comment are on the process instance")},
        "changes_since_seen": nullable({"type": "array", "items": ref("ApprovalChange"), "description": (
            "What the requester changed since the version you decided on; null when you have not decided on an "
            "earlier one")}),
    }),
    "ApprovalEvent": obj({
        "action": {"type": "string", "description": "started, resubmitted, completed_task, returned, transferred, "
                   "added_signer, withdrawn, nudged, comment, approval_auto, watchers_added, completed"},
        "step": N_STR, "user": nullable(ref("UserRef")), "at": TIME,
        "decision": nullable({"type": "string", "description": "approve, reject or return for a decided step"}),
        "comment": N_STR,
    }),
    "ApprovalHistory": obj({"items": {"type": "array", "items": ref("ApprovalEvent")}}),
    "StepTime": obj({"step": STR, "approver": STR, "opened_at": TIME, "closed_at": nullable(TIME),
                     "seconds": nullable({**INT, "description": "How long the step waited; null while open"})}),
    "ApprovalDecision": obj({"comment": COMMENT}, [], additionalProperties=False),
    "ApprovalRejection": obj({"comment": _text(human_tasks.MAX_COMMENT, required=True)}, additionalProperties=False),
    "ApprovalReturn": obj({
        "to": {"type": "string", "minLength": 1, "maxLength": MAX_STEP_ID,
               "description": "requester, or the BPMN id of an approval step this request has passed"},
        "comment": _text(human_tasks.MAX_COMMENT, required=True)}, additionalProperties=False),
    "ApprovalTransfer": obj({"to_user_id": ID, "comment": COMMENT}, ["to_user_id"], additionalProperties=False),
    "ApprovalSigner": obj({"user_id": ID, "position": {"enum": list(POSITIONS), "description": (
        "before: he decides first and your turn comes back; after: he decides after you")}, "comment": COMMENT},
        ["user_id", "position"], additionalProperties=False),
    "BatchApproval": obj({"task_ids": {"type": "array", "minItems": 1, "maxItems": approvals.MAX_BATCH,
                                       "items": ID}, "comment": COMMENT}, ["task_ids"], additionalProperties=False),
    "BatchApprovalResult": obj({"results": {"type": "array", "items": obj({
        "task_id": INT, "ok": BOOL, "message": nullable({**STR, "description": "Why this task was not approved"})})}}),
    "InstanceComment": obj({"text": {**_text(human_tasks.MAX_COMMENT, required=True),
                                     "description": "@username tells a colleague who may see the request"}},
                           additionalProperties=False),
    "InstanceWithdrawal": obj({"reason": COMMENT}, [], additionalProperties=False),
    "NudgeResult": obj({"user_ids": {"type": "array", "items": INT, "description": "The approvers reminded"}}),
})
TASK = [path_id("task_id")]
INSTANCE = [path_id("instance_id")]
NO_BODY = {"required": False, "content": {openapi.JSON: {"schema": obj({}, [], additionalProperties=False)}}}


def _optional(op: dict[str, Any]) -> dict[str, Any]:
    op["requestBody"]["required"] = False
    return op


def _task_action(operation_id: str, summary: str, body: str) -> dict[str, Any]:
    return {"post": operation(operation_id, summary, "tasks", responses(
        "200", "TaskDetail", "400", "401", "403", "404", "409", "422", "500"), body=body, params=TASK)}


openapi.PATHS.update({
    "/tasks/{task_id}/approve": {"post": _optional(_task_action(
        "approveTask", "同意 (optional comment); a second decision gets 409", "ApprovalDecision")["post"])},
    "/tasks/{task_id}/reject": _task_action("rejectTask", "拒绝 with the reason; a second decision gets 409",
                                            "ApprovalRejection"),
    "/tasks/{task_id}/return": _task_action("returnTask", "退回 to the requester or to a step already passed",
                                            "ApprovalReturn"),
    "/tasks/{task_id}/transfer": _task_action("transferTask", "转交 the decision to an active colleague",
                                              "ApprovalTransfer"),
    "/tasks/{task_id}/signers": _task_action("addTaskSigner", "加签: ask one more person before or after you",
                                             "ApprovalSigner"),
    "/tasks/approve": {"post": operation(
        "approveTasks", "Approve up to 100 tasks with one comment; a result per task", "tasks",
        responses("200", "BatchApprovalResult", "400", "401", "422"), body="BatchApproval")},
    "/process-instances/{instance_id}/comments": {"post": operation(
        "commentOnProcessInstance", "评论 on a request; @username tells a colleague", "processes",
        responses("201", "ApprovalEvent", "400", "401", "404", "422"), body="InstanceComment", params=INSTANCE)},
    "/process-instances/{instance_id}/nudge": {"post": {**operation(
        "nudgeProcessInstance", "催办: remind the waiting approvers (requester only, once an hour)", "processes",
        responses("200", "NudgeResult", "401", "403", "404", "409"), params=INSTANCE), "requestBody": NO_BODY}},
    "/process-instances/{instance_id}/withdraw": {"post": _optional(operation(
        "withdrawProcessInstance", "撤回 a request while no approver has acted (requester only)", "processes",
        responses("200", "ProcessInstance", "400", "401", "404", "409", "422", "500"), body="InstanceWithdrawal",
        params=INSTANCE))},
    "/process-instances/{instance_id}/history": {"get": operation(
        "getApprovalHistory", "The actions taken on a request's approval steps, oldest first", "processes",
        responses("200", "ApprovalHistory", "401", "404"), params=INSTANCE)},
})
