"""Option sources: a form's lists as the user may see them, and a submission checked against only what it names."""
from __future__ import annotations

from sqlalchemy import event, select

from bpm_crm.extensions import db
from bpm_crm.models import HumanTask, OpportunityStatus, TaskStatus
from bpm_crm.services import human_tasks, opportunities
from bpm_crm.services.option_sources import MAX_CHOSEN, Chosen, resolve

MANAGERS = "options.account_managers"


def test_the_values_a_submission_could_pick_with():
    chosen = Chosen.of({"a": 5, "b": ["7", 9.0, True, None, -3, 2**40, "x"], "c": {"d": "施工方"}}, {"e": 11})
    assert chosen is not None
    assert chosen.ids == {5, 7, 9, 11}  # booleans, negatives and numbers beyond an id are none
    assert {"7", "x", "施工方"} <= chosen.texts
    assert chosen.keep([{"value": 5}, {"value": 6}, {"value": "施工方"}, {"value": "x"}]) == [
        {"value": 5}, {"value": "施工方"}, {"value": "x"}]
    assert Chosen.of({"many": list(range(1, MAX_CHOSEN + 2))}) is None  # then the whole list is checked


def test_asking_for_the_chosen_gives_what_the_whole_list_has_of_them(users):
    supervisor = users["supervisor1"]
    everyone = resolve({MANAGERS}, supervisor)[MANAGERS]
    assert {option["value"] for option in everyone} == {users["manager1"].id, users["manager3"].id}
    asked = Chosen.of({"assignee_id": [users["manager1"].id, str(users["manager2"].id), users["admin"].id]})
    narrowed = resolve({MANAGERS}, supervisor, among=asked)[MANAGERS]
    # manager2 works in another department, admin is no account manager: neither may be picked
    assert narrowed == [option for option in everyone if option["value"] == users["manager1"].id]


def test_a_submission_is_checked_with_one_narrow_query_and_an_id_as_text_picks_its_option(app, users):
    opportunity = opportunities.create_opportunity(user=users["manager1"], values=dict(
        customer_name="杭州选项科技", probability=50, summary="选项", description="选项"))
    task = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == opportunity.process_instance_id,
                                                     HumanTask.status == TaskStatus.OPEN))
    lists_read: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        if statement.startswith("SELECT users.id") and "FROM users" in statement:  # people
            lists_read.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        human_tasks.complete_task(task_id=task.id, user=users["supervisor1"],
                                  data={"assignee_id": str(users["manager3"].id)})
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    # who may be picked comes from the organisation the permissions keep: one read, of the one person chosen
    assert len(lists_read) == 1, lists_read
    chosen = lists_read[0].split("users.id IN (", 1)[1].split(")", 1)[0]
    assert chosen.count(",") == 0 and chosen.strip(), lists_read[0]
    db.session.refresh(opportunity)
    assert opportunity.status == OpportunityStatus.ASSIGNED and opportunity.assignee_id == users["manager3"].id
