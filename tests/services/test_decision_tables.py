"""A process owner changes the quote thresholds in the grid: checked, deployed as a new version, used by new
requests while running ones keep theirs."""
from __future__ import annotations

import pytest

from bpm_crm.errors import Conflict, Forbidden, Invalid
from bpm_crm.extensions import db
from bpm_crm.models import ProcessInstance
from bpm_crm.services import decision_tables, definitions, quote_approval
from tests.processes.test_quote_approval import a_quote, steps_asked

SHIPPED = [
    (["? < 50000", "? <= 20"], ["supervisor"]),
    (["? < 50000", "? > 20"], ["supervisor,director"]),
    (["50000 <= ? < 200000", "-"], ["supervisor,director"]),
    (["? >= 200000", "-"], ["supervisor,director,executive"]),
]


def test_the_grid_shows_the_shipped_table(users):
    grid = decision_tables.grid("quote_approval", "quote_levels")
    assert grid.inputs == ["报价金额（元）", "最大折扣（%）"] and grid.outputs == ["审批级别"]
    assert grid.rows == SHIPPED
    assert grid.allowed == [["supervisor", "supervisor,director", "supervisor,director,executive"]]


def test_raising_a_limit_is_a_new_version_that_new_requests_follow(users):
    owner, manager = users["owner"], users["manager1"]
    running = a_quote(manager, "80000.00")
    quote_approval.submit(quote_id=running.id, user=manager)
    before = definitions.latest_definition("quote_approval").version

    raised = [(["? < 100000", "? <= 20"], ["supervisor"]), (["? < 100000", "? > 20"], ["supervisor,director"]),
              (["100000 <= ? < 200000", "-"], ["supervisor,director"]), SHIPPED[3]]
    stored = decision_tables.update(process_id="quote_approval", decision_id="quote_levels", rows=raised,
                                    user=owner, expected_version=before)
    assert stored.version == before + 1 and decision_tables.grid("quote_approval", "quote_levels").rows == raised

    fresh = a_quote(manager, "80000.00")
    quote_approval.submit(quote_id=fresh.id, user=manager)
    assert db.session.get(ProcessInstance, fresh.process_instance_id).definition_id == stored.id
    assert [step for step, _who in steps_asked(fresh, users)] == ["approve_supervisor"]
    # The request submitted before the change finishes on the thresholds it started with.
    assert [step for step, _who in steps_asked(running, users)] == ["approve_supervisor", "approve_director"]


@pytest.mark.parametrize(("rows", "said"), [
    ([(["? < 50000", "-"], ["supervisor"]), (["? <= 50000", "-"], ["supervisor,director"]),
      (["? > 50000", "-"], ["supervisor,director,executive"])], "第 1 行与第 2 行重叠"),
    ([(["? < 50000", "-"], ["supervisor"]), (["? > 50000", "-"], ["supervisor,director"])], "没有任何一行覆盖"),
    ([(["-", "-"], ["总监"])], "不是可选的结果"),
    ([(["-", "-"], [""])], "第 1 行“审批级别”：请选择一个结果"),
    ([(["五万以下", "-"], ["supervisor"])], "无法识别“五万以下”"),
    ([(["-"], ["supervisor"])], "列数不对"),
    ([], "至少需要一行"),
])
def test_a_table_with_a_problem_is_refused_and_nothing_changes(users, rows, said):
    before = definitions.latest_definition("quote_approval").version
    with pytest.raises(Invalid) as refused:
        decision_tables.update(process_id="quote_approval", decision_id="quote_levels", rows=rows,
                               user=users["owner"])
    assert any(said in message for message in refused.value.field_errors["rows"]), refused.value.field_errors
    assert definitions.latest_definition("quote_approval").version == before
    assert decision_tables.grid("quote_approval", "quote_levels").rows == SHIPPED


def test_only_who_may_deploy_changes_a_table_and_a_stale_grid_is_refused(users):
    with pytest.raises(Forbidden):
        decision_tables.update(process_id="quote_approval", decision_id="quote_levels", rows=SHIPPED,
                               user=users["director"])
    version = definitions.latest_definition("quote_approval").version
    with pytest.raises(Conflict) as stale:
        decision_tables.update(process_id="quote_approval", decision_id="quote_levels", rows=SHIPPED,
                               user=users["owner"], expected_version=version - 1)
    assert stale.value.code == "decision_stale"
    unchanged = decision_tables.update(process_id="quote_approval", decision_id="quote_levels", rows=SHIPPED,
                                       user=users["owner"], expected_version=version)
    assert unchanged.version == version  # the same rules make no new version
