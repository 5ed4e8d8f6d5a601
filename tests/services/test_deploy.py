"""Deploying diagrams: validation with element ids, hostile XML, versions by content hash."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bpm_crm.engine.definitions import DefinitionInvalid
from bpm_crm.extensions import db
from bpm_crm.models import HumanTask, ProcessDefinition, TaskStatus
from bpm_crm.services import definitions, human_tasks, opportunities
from tests.conftest import PROCESSES_DIR

ORIGINAL = (PROCESSES_DIR / "opportunity.bpmn").read_text(encoding="utf-8")


def versions() -> int:
    """Deployed versions of the opportunity process (the one these tests change)."""
    return db.session.scalar(select(func.count()).select_from(ProcessDefinition)
                             .where(ProcessDefinition.process_id == "opportunity")) or 0


def problems_of(xml: str | bytes) -> list[str]:
    with pytest.raises(DefinitionInvalid) as err:
        definitions.deploy(xml=xml, file_name="opportunity.bpmn")
    return [str(p) for p in err.value.problems]


def test_an_unchanged_file_is_not_a_new_version(app):
    assert versions() == 1
    definition, created = definitions.deploy(xml=ORIGINAL, file_name="opportunity.bpmn")
    assert not created and definition.version == 1 and versions() == 1


def test_running_instances_finish_on_their_version_and_new_ones_use_the_newest(users):
    first = opportunities.create_opportunity(user=users["manager1"], values=dict(
        customer_name="甲公司", probability=50, summary="s", description="d"))
    renamed = ORIGINAL.replace('name="指派销售机会"', 'name="指派销售机会（新版）"')
    definition, created = definitions.deploy(xml=renamed, file_name="opportunity.bpmn")
    assert created and definition.version == 2
    second = opportunities.create_opportunity(user=users["manager1"], values=dict(
        customer_name="乙公司", probability=50, summary="s", description="d"))

    def assign_task(opportunity):
        return db.session.scalar(select(HumanTask).where(
            HumanTask.instance_id == opportunity.process_instance_id, HumanTask.status == TaskStatus.OPEN))

    assert assign_task(first).name == "指派销售机会" and assign_task(first).instance.definition.version == 1
    assert assign_task(second).name == "指派销售机会（新版）" and assign_task(second).instance.definition.version == 2
    human_tasks.complete_task(task_id=assign_task(first).id, user=users["supervisor1"],
                           data={"assignee_id": users["manager1"].id})
    assert assign_task(first).bpmn_id == "make_plan"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('id="opportunity.assign"', 'id="crm.no_such_handler"'),
         "record_assignment: service task calls 'crm.no_such_handler', which is not a handler"),
        (('value="assign_opportunity"', 'value="no_such_form"'), "assign: form 'no_such_form' does not exist"),
        (('decision == "success"', '().__class__.__base__.__subclasses__()'), "outcome: condition"),
        (('decision == "success"', '__import__("os").system("id")'), "outcome: condition"),
        (('<bpmn:timeDate>workdays_after(now(), 2)</bpmn:timeDate>',
          '<bpmn:timeDate>open("/etc/passwd")</bpmn:timeDate>'),
         "assign_overdue: timer"),
        (('value="assignee_id"/>\n        </spiffworkflow:properties>\n      </bpmn:extensionElements>\n'
          '      <bpmn:incoming>flow_record_plan',
          'value="getattr(assignee_id, \'__class__\')"/>\n        </spiffworkflow:properties>\n'
          '      </bpmn:extensionElements>\n      <bpmn:incoming>flow_record_plan'),
         "make_plan: assignee expression"),
    ],
)
def test_a_bad_diagram_is_refused_with_the_element_and_never_replaces_the_good_one(app, change, expected):
    bad = ORIGINAL.replace(*change)
    assert bad != ORIGINAL
    found = problems_of(bad)
    assert any(expected in p for p in found), found
    assert versions() == 1


def test_every_problem_is_reported_at_once(app):
    bad = ORIGINAL.replace('id="opportunity.assign"', 'id="x.one"').replace('id="opportunity.fail"', 'id="x.two"')
    found = problems_of(bad)
    assert {p.split(":")[0] for p in found} >= {"record_assignment", "close_failed"}


def test_a_user_task_without_lane_or_assignee_is_refused(app):
    no_lane = ORIGINAL.replace('<bpmn:flowNodeRef>assign_escalated</bpmn:flowNodeRef>', '')
    assert any("assign_escalated" in p and "lane" in p for p in problems_of(no_lane))


HOSTILE = {
    "billion laughs": """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
<bpmn:process id="p" isExecutable="true"><bpmn:documentation>&lol3;</bpmn:documentation></bpmn:process>
</bpmn:definitions>""",
    "external entity": """<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
<bpmn:process id="p" isExecutable="true"><bpmn:documentation>&xxe;</bpmn:documentation></bpmn:process>
</bpmn:definitions>""",
    "not xml": "this is not a diagram",
    "wrong root": '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_xml_is_refused(app, name):
    assert problems_of(HOSTILE[name])
    assert versions() == 1


def test_a_10_mb_file_is_refused_before_parsing(app):
    huge = ORIGINAL.replace("</bpmn:definitions>", "<!--" + "x" * (10 * 1024 * 1024) + "--></bpmn:definitions>")
    found = problems_of(huge.encode())
    assert any("MB" in p for p in found), found
    assert versions() == 1


def test_a_directory_deploy_is_all_or_nothing(app, tmp_path):
    folder = tmp_path / "bundle"
    (folder / "forms").mkdir(parents=True)
    good = PROCESSES_DIR / "opportunity.bpmn"
    (folder / "a_good.bpmn").write_text(good.read_text().replace('id="opportunity"', 'id="opportunity_copy"')
                                        .replace('processRef="opportunity"', 'processRef="opportunity_copy"'))
    (folder / "b_bad.bpmn").write_text(good.read_text().replace('id="opportunity"', 'id="broken"')
                                       .replace('processRef="opportunity"', 'processRef="broken"')
                                       .replace('decision == "success"', 'decision ==='))
    for form in (PROCESSES_DIR / "forms").glob("*.form"):
        (folder / "forms" / form.name).write_text(form.read_text())
    with pytest.raises(DefinitionInvalid) as refused:
        definitions.deploy_directory(folder)
    assert any("b_bad.bpmn" in problem.message for problem in refused.value.problems)
    assert db.session.scalar(select(ProcessDefinition).where(
        ProcessDefinition.process_id == "opportunity_copy")) is None  # the good one was not deployed either
