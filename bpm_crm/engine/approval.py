"""The approval step (审批节点): one box in the diagram, standard BPMN when it runs.

A process owner marks a user task as an approval step with spiffworkflow properties:

- `approvers` — who approves, resolved from the org chart when the step is reached: `user:u1, user:u2`,
  `role:sales_director`, `superior:1` (the requester's superior N levels up), `superiors:2` (every
  superior up to level N, in order), `department_head` / `department_head:质量部`, `chosen:<variable>`
  (people the requester picked), `field:<variable>` (a person field of a form), or `=<expression>`;
- `mode` — `sequential` (依次), `all` (会签: everyone approves), `any` (或签: the first decision
  decides), `share:2` (2 of them approve);
- `on_empty` — no approver found: `admin` (the step goes to the administrators), `pass` (approved,
  recorded), `reject`, or `user:<username>`; `self_approval` — the requester is an approver: `pass`
  (his approval is recorded automatically) or `keep`; `dedupe` — `true` (default): someone who
  approved an earlier step of the same request is not asked again.

Deploying compiles the step into plain BPMN that SpiffWorkflow runs as it is:

    X__resolve (service task approval.resolve) → X__gate ─ auto? → X__auto (script) ──────────┐
                                                    └→ X__prepare → X (a multi-instance user task:  │
                                                       one per approver, completion condition per   │
                                                       mode) → X__tally ───────────────────────────┴→ X__done → …

Each approver's decision reaches the step as `X__vote` ({"approver", "decision", "comment"}), written by
the task service when he completes his task. `X_outcome` ("approved", "rejected" or "returned") and
`X_votes` (who decided what, with the comment) are left in the process data, and `approval_outcome`
holds the outcome of the latest step, for the diagram's gateways. The diagram as drawn keeps the
single box: the compiled copy only runs.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree
from SpiffWorkflow.bpmn.parser.util import BPMN_MODEL_NS

SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
MODES = ("sequential", "all", "any")
ON_EMPTY = ("admin", "pass", "reject")
SELF_APPROVAL = ("pass", "keep")
DECISIONS = ("approve", "reject", "return")
RULE_KINDS = ("user", "role", "superior", "superiors", "department_head", "chosen", "field")
_SHARE = re.compile(r"^share:(\d{1,3})$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,59}$")


class ApprovalInvalid(ValueError):
    """An approval step configured in a way the product cannot run; `problems` pairs element ids with messages."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{element}: {message}" for element, message in problems))
        self.problems = problems


@dataclass(frozen=True)
class ApprovalStep:
    """One approval step as configured on its user task."""

    element_id: str
    name: str
    approvers: str
    mode: str
    share: int | None
    on_empty: str
    self_approval: str
    dedupe: bool


def _q(tag: str) -> str:
    return f"{{{BPMN_MODEL_NS}}}{tag}"


def _properties(task: etree._Element) -> dict[str, str]:
    found = {}
    for prop in task.iter(f"{{{SPIFF_NS}}}property"):
        if prop.get("name"):
            found[prop.get("name", "")] = prop.get("value", "")
    return found


def is_approval(task: etree._Element) -> bool:
    return etree.QName(task).localname == "userTask" and _properties(task).get("approval", "").lower() == "true"


def read_step(task: etree._Element) -> ApprovalStep:
    """The configuration of an approval user task; ApprovalInvalid names what is wrong."""
    element_id = task.get("id") or ""
    properties = _properties(task)
    problems: list[tuple[str, str]] = []
    rule = properties.get("approvers", "").strip()
    if not rule:
        problems.append((element_id, "an approval step needs an 'approvers' rule"))
    elif not rule.startswith("="):
        for item in re.split(r"[,;，]", rule):
            kind = item.strip().split(":", 1)[0].strip().lower()
            if item.strip() and kind not in RULE_KINDS:
                problems.append((element_id, f"approvers: unknown rule '{item.strip()}'"))
            if kind in ("chosen", "field") and not _NAME.match(item.split(":", 1)[-1].strip()):
                problems.append((element_id, f"approvers: '{item.strip()}' must name a variable"))
            if kind in ("superior", "superiors"):
                level = item.split(":", 1)[-1].strip() if ":" in item else "1"
                if not level.isdigit() or not 1 <= int(level) <= 10:
                    problems.append((element_id, f"approvers: '{item.strip()}' needs a level from 1 to 10"))
    mode = properties.get("mode", "sequential").strip()
    share_match = _SHARE.match(mode)
    share = int(share_match.group(1)) if share_match else None
    if share is not None:
        if share < 1:
            problems.append((element_id, "mode: a share needs at least 1 approval"))
        named = [item for item in re.split(r"[,;，]", rule) if item.strip().lower().startswith("user:")]
        if named and len(named) == len([item for item in re.split(r"[,;，]", rule) if item.strip()]) \
                and share > len(named):
            # Only named people: the diagram itself says how many can approve.
            problems.append((element_id, f"mode: a share of {share} is more than the {len(named)} people named"))
        mode = "share"
    elif mode not in MODES:
        problems.append((element_id, f"mode must be one of {', '.join(MODES)} or share:<n>, not '{mode}'"))
    on_empty = properties.get("on_empty", "admin").strip()
    if on_empty not in ON_EMPTY and not (on_empty.startswith("user:") and len(on_empty) > 5):
        problems.append((element_id, f"on_empty must be admin, pass, reject or user:<name>, not '{on_empty}'"))
    self_approval = properties.get("self_approval", "pass").strip()
    if self_approval not in SELF_APPROVAL:
        problems.append((element_id, f"self_approval must be pass or keep, not '{self_approval}'"))
    if task.find(_q("multiInstanceLoopCharacteristics")) is not None or task.find(
            _q("standardLoopCharacteristics")) is not None:
        problems.append((element_id, "an approval step makes its own loop: remove the multi-instance marker"))
    if "__" in element_id:
        problems.append((element_id, "an approval step's id must not contain '__'"))
    if problems:
        raise ApprovalInvalid(problems)
    return ApprovalStep(
        element_id=element_id, name=task.get("name") or element_id, approvers=rule, mode=mode, share=share,
        on_empty=on_empty, self_approval=self_approval,
        dedupe=properties.get("dedupe", "true").strip().lower() != "false",
    )


def compile_approvals(root: etree._Element) -> list[ApprovalStep]:
    """Expand every approval step of the document in place; the steps compiled, in document order."""
    steps: list[ApprovalStep] = []
    problems: list[tuple[str, str]] = []
    for process in root.iter(_q("process"), _q("subProcess")):
        for task in [child for child in process if isinstance(child.tag, str) and is_approval(child)]:
            try:
                step = read_step(task)
            except ApprovalInvalid as exc:
                problems.extend(exc.problems)
                continue
            _expand(process, task, step)
            steps.append(step)
    if problems:
        raise ApprovalInvalid(problems)
    return steps


def approver_variable(step_id: str) -> str:
    """The variable holding the user id of the approver a task of the step is for."""
    return f"{step_id}__approver"


def vote_variable(step_id: str) -> str:
    """The variable an approver's completed task leaves his vote in: {"approver", "decision", "comment"}."""
    return f"{step_id}__vote"


def completion_condition(step: ApprovalStep) -> str:
    """When the step ends early: at a rejection or return, and as the mode says for approvals."""
    votes = f"{step.element_id}_votes"
    stop = f'len([v for v in {votes} if v and v["decision"] in ("reject", "return")]) > 0'
    approved = f'len([v for v in {votes} if v and v["decision"] == "approve"])'
    if step.mode == "any":
        return f"len([v for v in {votes} if v]) > 0"
    if step.mode == "share":
        rejected = f'len([v for v in {votes} if v and v["decision"] == "reject"])'
        returned = f'len([v for v in {votes} if v and v["decision"] == "return"]) > 0'
        # Decided once enough approved, or once too many refused for the share to be reached.
        return (f"({approved} >= {step.share}) or ({rejected} > len({step.element_id}__approvers) - {step.share})"
                f" or {returned}")
    return stop


def tally_script(step: ApprovalStep) -> str:
    """The script that turns the votes into the step's outcome (a deferred turn, after 加签, has no vote)."""
    x = step.element_id
    if step.mode == "share":
        approved = f"len(approvals) >= {step.share}"
    elif step.mode == "any":
        approved = "len(approvals) > 0"
    else:  # sequential and all: the step ran to its end without a refusal
        approved = 'len(approvals) > 0 and not [v for v in decided if v["decision"] == "reject"]'
    return "\n".join([
        f"decided = [v for v in {x}_votes if v]",
        'returned = [v for v in decided if v["decision"] == "return"]',
        'approvals = [v for v in decided if v["decision"] == "approve"]',
        "if returned:",
        f'    {x}_outcome = "returned"',
        f"elif {approved}:",
        f'    {x}_outcome = "approved"',
        "else:",
        f'    {x}_outcome = "rejected"',
        f"approval_outcome = {x}_outcome",
    ])


def _expand(process: etree._Element, task: etree._Element, step: ApprovalStep) -> None:
    x = step.element_id
    incoming = [flow for flow in process.iter(_q("sequenceFlow")) if flow.get("targetRef") == x]
    outgoing = [flow for flow in process.iter(_q("sequenceFlow")) if flow.get("sourceRef") == x]
    for flow in incoming:
        flow.set("targetRef", f"{x}__resolve")
    for flow in outgoing:
        flow.set("sourceRef", f"{x}__done")
    for child in list(task):
        if etree.QName(child).localname in ("incoming", "outgoing"):
            task.remove(child)

    def element(tag: str, element_id: str, **attributes: str) -> etree._Element:
        node = etree.SubElement(process, _q(tag), id=element_id, **attributes)
        return node

    def connect(source: str, target: str, flow_id: str, condition: str | None = None) -> None:
        node = element("sequenceFlow", flow_id, sourceRef=source, targetRef=target)
        if condition is not None:
            etree.SubElement(node, _q("conditionExpression")).text = condition

    resolve = element("serviceTask", f"{x}__resolve", name=f"{step.name}：确定审批人")
    extensions = etree.SubElement(resolve, _q("extensionElements"))
    operator = etree.SubElement(extensions, f"{{{SPIFF_NS}}}serviceTaskOperator", id="approval.resolve",
                                resultVariable=f"{x}__resolved")
    parameters = etree.SubElement(operator, f"{{{SPIFF_NS}}}parameters")
    mode = f"share:{step.share}" if step.mode == "share" else step.mode
    for name, value in (("step", x), ("approvers", step.approvers), ("on_empty", step.on_empty),
                        ("self_approval", step.self_approval), ("mode", mode)):
        etree.SubElement(parameters, f"{{{SPIFF_NS}}}parameter", id=name, type="str", value=repr(value))
    etree.SubElement(parameters, f"{{{SPIFF_NS}}}parameter", id="dedupe", type="bool", value=repr(step.dedupe))
    if step.approvers.startswith("="):
        # Data decides who approves: the expression is evaluated where the step is reached.
        etree.SubElement(parameters, f"{{{SPIFF_NS}}}parameter", id="chosen", type="any",
                         value=step.approvers[1:])
    for _kind, variable in re.findall(r"\b(chosen|field):\s*([A-Za-z][A-Za-z0-9_]*)", step.approvers):
        # The people the requester picked, or a person field of a form: the variable must exist by now.
        etree.SubElement(parameters, f"{{{SPIFF_NS}}}parameter", id="chosen", type="any", value=variable)

    element("exclusiveGateway", f"{x}__gate", default=f"{x}__f_ask")
    auto = element("scriptTask", f"{x}__auto", name=f"{step.name}：自动处理")
    etree.SubElement(auto, _q("script")).text = "\n".join([
        f'{x}_outcome = {x}__resolved["auto"]', f"{x}_votes = []", f"approval_outcome = {x}_outcome"])
    prepare = element("scriptTask", f"{x}__prepare", name=f"{step.name}：准备")
    etree.SubElement(prepare, _q("script")).text = "\n".join([
        f'{x}__approvers = {x}__resolved["approvers"]', f"{x}_votes = []"])

    # The user task itself becomes one instance per approver.
    loop = etree.SubElement(task, _q("multiInstanceLoopCharacteristics"),
                            isSequential="true" if step.mode == "sequential" else "false")
    etree.SubElement(loop, _q("loopDataInputRef")).text = f"{x}__approvers"
    etree.SubElement(loop, _q("loopDataOutputRef")).text = f"{x}_votes"
    # Each approver's task holds his user id and leaves his vote in variables named after the step (ids
    # must be unique in a diagram, and SpiffWorkflow names the child's variable by the item's id).
    etree.SubElement(loop, _q("inputDataItem"), id=approver_variable(x), name="approver")
    etree.SubElement(loop, _q("outputDataItem"), id=vote_variable(x), name="vote")
    etree.SubElement(loop, _q("completionCondition")).text = completion_condition(step)
    _set_properties(task, {"assignee": approver_variable(x), "approval_step": x,
                           "form": _properties(task).get("form") or
                           "approval"}, drop=("approval", "approvers", "mode", "on_empty", "self_approval", "dedupe"))

    tally = element("scriptTask", f"{x}__tally", name=f"{step.name}：汇总")
    etree.SubElement(tally, _q("script")).text = tally_script(step)
    element("exclusiveGateway", f"{x}__done")

    connect(f"{x}__resolve", f"{x}__gate", f"{x}__f_resolve")
    connect(f"{x}__gate", f"{x}__auto", f"{x}__f_auto", f'{x}__resolved["auto"] is not None')
    connect(f"{x}__gate", f"{x}__prepare", f"{x}__f_ask")
    connect(f"{x}__prepare", x, f"{x}__f_prepare")
    connect(x, f"{x}__tally", f"{x}__f_decided")
    connect(f"{x}__auto", f"{x}__done", f"{x}__f_auto_done")
    connect(f"{x}__tally", f"{x}__done", f"{x}__f_tally_done")
    _add_to_lanes(process, x, [f"{x}__{suffix}" for suffix in ("resolve", "gate", "auto", "prepare", "tally",
                                                                 "done")])


def _set_properties(task: etree._Element, values: dict[str, str], drop: tuple[str, ...]) -> None:
    extension = task.find(_q("extensionElements"))
    if extension is None:
        extension = etree.SubElement(task, _q("extensionElements"))
        task.insert(0, extension)
    container = extension.find(f"{{{SPIFF_NS}}}properties")
    if container is None:
        container = etree.SubElement(extension, f"{{{SPIFF_NS}}}properties")
    for prop in list(container):
        if prop.get("name") in drop or prop.get("name") in values:
            container.remove(prop)
    for name, value in values.items():
        etree.SubElement(container, f"{{{SPIFF_NS}}}property", name=name, value=value)


def _add_to_lanes(process: etree._Element, element_id: str, new_ids: list[str]) -> None:
    for ref in process.iter(_q("flowNodeRef")):
        if ref.text == element_id:
            lane = ref.getparent()
            for new_id in new_ids:
                etree.SubElement(lane, _q("flowNodeRef")).text = new_id
