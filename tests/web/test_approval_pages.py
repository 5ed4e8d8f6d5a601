"""Approval pages: the quote's approval (submit, withdraw, nudge, timeline, PDF), the approver's task page (every
action, what changed, read-only for watchers, refused for strangers), the inbox tabs, filters and batch approval."""
from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bpm_crm import clock
from bpm_crm.extensions import db
from bpm_crm.models import (
    Customer,
    HumanTask,
    Job,
    ProcessEvent,
    Quote,
    QuoteStatus,
    TaskStatus,
    TaskWatcher,
)
from bpm_crm.services import approvals, jobs, quote_approval, quote_pdf, quotes

from .helpers import open_task, page_text

HUGE_ID = "9" * 30


def a_quote(owner, amount: str = "80000.00", *, name: str = "办公软件报价",
            customer_name: str = "杭州云启科技有限公司") -> Quote:
    """A draft of `owner`'s new customer with one line coming to `amount`."""
    customer = Customer(name=customer_name, owner_id=owner.id)
    db.session.add(customer)
    db.session.flush()
    customer.number = f"KH{customer.id:06d}"
    db.session.commit()
    return quotes.create_quote(user=owner, values={"customer_id": customer.id, "name": name,
                                                   "quote_date": date(2026, 11, 20)},
                               lines=[{"product_name": "办公软件标准版", "quantity": 1, "unit_price": amount}])


def submitted(owner, amount: str = "80000.00", **names: str) -> Quote:
    quote = a_quote(owner, amount, **names)
    quote_approval.submit(quote_id=quote.id, user=owner)
    return quote


def waiting(quote: Quote) -> list[HumanTask]:
    db.session.expire_all()
    return list(db.session.scalars(select(HumanTask).where(
        HumanTask.instance_id == db.session.get(Quote, quote.id).process_instance_id,
        HumanTask.status == TaskStatus.OPEN).order_by(HumanTask.id)))


def task_of(quote: Quote, user) -> HumanTask:
    [task] = [task for task in waiting(quote) if task.assignee_id == user.id]
    return task


def status(quote: Quote) -> str:
    db.session.expire_all()
    return db.session.get(Quote, quote.id).status


def events(quote: Quote, action: str) -> list[ProcessEvent]:
    return list(db.session.scalars(select(ProcessEvent).where(
        ProcessEvent.instance_id == db.session.get(Quote, quote.id).process_instance_id,
        ProcessEvent.action == action)))


def row(page: str, table: str, text: str) -> str:
    """The table row (of the table with id `table`) holding `text`."""
    return page.split(f'id="{table}"')[1].split(text)[1].split("</tr>")[0]


def flashed(response) -> str:
    return " ".join(re.findall(r'<div class="alert alert-\w+ alert-dismissible[^>]*>(.*?)<button', page_text(response),
                               re.S))


# The quote page ---------------------------------------------------------------------------------------

def test_a_draft_is_submitted_from_its_page_and_then_locked(login, users):
    quote = a_quote(users["manager1"])
    browser = login("manager1")
    page = page_text(browser.get(f"/quotes/{quote.id}"))
    assert 'id="submit-quote"' in page and "提交审批" in page and "尚未提交审批" in page
    assert 'id="approval"' not in page  # no timeline before there is any

    response = browser.post(f"/quotes/{quote.id}/submit", follow_redirects=True)
    assert "已提交审批" in flashed(response)
    assert status(quote) == QuoteStatus.PENDING
    page = page_text(response)
    assert 'id="quote-locked"' in page and "请先撤回" in page
    assert 'id="edit-quote"' not in page and 'id="submit-quote"' not in page
    waiting_card = page.split('id="approval-card"')[1].split('id="approval-headline"')[0]
    assert "hourglass" in waiting_card
    assert "王主管" in page.split('id="approval-waiting"')[1][:600] and "主管审批" in page
    assert 'id="nudge-quote"' in page and 'id="withdraw-quote"' in page
    trail = page.split('id="approval-trail-list"')[1]
    assert 'data-kind="started"' in trail and "提交申请" in trail and "李明" in trail
    assert 'id="step-times"' in page and "处理中" in page
    # Submitting twice starts nothing more.
    again = browser.post(f"/quotes/{quote.id}/submit", follow_redirects=True)
    assert "只有草稿可以提交审批" in flashed(again) and len(waiting(quote)) == 1


def test_a_draft_without_lines_cannot_be_submitted(login, users):
    quote = a_quote(users["manager1"])
    quotes.delete_line(quote_id=quote.id, line_id=quote.lines[0].id, user=users["manager1"])
    browser = login("manager1")
    page = page_text(browser.get(f"/quotes/{quote.id}"))
    assert re.search(r'id="submit-quote" disabled', page) and 'id="quote-empty-hint"' in page
    response = browser.post(f"/quotes/{quote.id}/submit", follow_redirects=True)
    assert "请先添加产品明细再提交审批" in flashed(response)
    assert status(quote) == QuoteStatus.DRAFT and db.session.get(Quote, quote.id).process_instance_id is None


def test_the_author_withdraws_with_a_reason_until_an_approver_acts(login, users):
    quote = submitted(users["manager1"])
    browser = login("manager1")
    response = browser.post(f"/quotes/{quote.id}/withdraw", data={"reason": "客户要改数量"}, follow_redirects=True)
    assert "已撤回" in flashed(response) and status(quote) == QuoteStatus.DRAFT
    page = page_text(response)
    assert "客户要改数量" in page and 'data-kind="withdrawn"' in page and "已撤回，修改后可重新提交审批" in page
    assert 'id="edit-quote"' in page and 'id="submit-quote"' in page

    browser.post(f"/quotes/{quote.id}/submit")
    approvals.decide(task_id=task_of(quote, users["supervisor1"]).id, user=users["supervisor1"], decision="approve")
    page = page_text(browser.get(f"/quotes/{quote.id}"))
    assert 'id="withdraw-quote"' not in page and "请等待审批结果" in page
    refused = browser.post(f"/quotes/{quote.id}/withdraw", data={"reason": "晚了"}, follow_redirects=True)
    assert "已有审批人处理，不能撤回" in flashed(refused) and status(quote) == QuoteStatus.PENDING


def test_the_author_nudges_the_waiting_approver_once_an_hour(login, users):
    quote = submitted(users["manager1"])
    browser = login("manager1")
    assert "已提醒审批人尽快处理" in flashed(browser.post(f"/quotes/{quote.id}/nudge", follow_redirects=True))
    assert "一小时内已催办过" in flashed(browser.post(f"/quotes/{quote.id}/nudge", follow_redirects=True))
    assert len(events(quote, "nudged")) == 1
    page = page_text(browser.get(f"/quotes/{quote.id}"))
    assert 'data-kind="nudged"' in page and "催办王主管" in page
    # Nobody else may nudge: the supervisor sees no button and is refused.
    assert "只有发起人可以催办" in flashed(login("supervisor1").post(f"/quotes/{quote.id}/nudge",
                                                                    follow_redirects=True))


def test_automatic_decisions_are_told_in_plain_words(login, users):
    quote = submitted(users["manager1"])
    instance_id = db.session.get(Quote, quote.id).process_instance_id
    notes = [{"rule": "self", "user_id": users["manager1"].id},
             {"rule": "dedupe", "user_ids": [users["director"].id]},
             {"rule": "left", "user_id": users["supervisor2"].id, "instead": users["director"].id},
             {"rule": "empty", "policy": "admin", "user_ids": [users["admin"].id]}]
    db.session.add(ProcessEvent(instance_id=instance_id, action="approval_auto", task_name="approve_director",
                                data={"step": "approve_director", "notes": notes}))
    db.session.commit()
    page = page_text(login("manager1").get(f"/quotes/{quote.id}"))
    assert "自动通过：发起人本人是此步骤的审批人" in page
    assert "自动通过：周总监已审批过此申请，不再重复审批" in page
    assert "陈主管已离职，改由其上级周总监审批" in page
    assert "未找到审批人，改由管理员系统管理员审批" in page
    assert page.count("销售总监审批") >= 4  # each named with its step


def test_an_approved_quote_links_its_pdf(app, login, users, tmp_path):
    app.config["ATTACHMENTS_DIR"] = str(tmp_path / "files")
    quote = submitted(users["manager1"], "1000.00")
    approvals.decide(task_id=task_of(quote, users["supervisor1"]).id, user=users["supervisor1"], decision="approve",
                     comment="价格合理")
    browser = login("manager1")
    page = page_text(browser.get(f"/quotes/{quote.id}"))
    assert "审批通过" in page and "报价单 PDF 正在生成" in page and 'id="quote-pdf"' not in page
    [job] = db.session.scalars(select(Job).where(Job.kind == quote_pdf.JOB_KIND)).all()
    assert jobs.run_job(job.id) is True
    page = page_text(browser.get(f"/quotes/{quote.id}"))
    link = re.search(r'id="quote-pdf" href="(/attachments/\d+)"|href="(/attachments/\d+)" id="quote-pdf"', page)
    assert link and f"报价单-{quote.number}.pdf" in page and 'id="quote-locked"' in page
    assert 'data-kind="approve"' in page and "价格合理" in page
    download = browser.get(link.group(1) or link.group(2))
    assert download.status_code == 200 and download.headers["Content-Type"] == "application/pdf"


def test_the_approver_goes_from_the_quote_to_his_task(login, users):
    quote = submitted(users["manager1"])
    task = task_of(quote, users["supervisor1"])
    page = page_text(login("supervisor1").get(f"/quotes/{quote.id}"))
    assert f'href="/tasks/{task.id}" id="go-approve"' in page
    assert 'id="nudge-quote"' not in page and 'id="withdraw-quote"' not in page and 'id="submit-quote"' not in page
    assert 'id="go-approve"' not in page_text(login("manager1").get(f"/quotes/{quote.id}"))


def test_the_quote_list_says_whom_a_quote_waits_for(login, users):
    quote = submitted(users["manager1"])
    page = page_text(login("manager1").get("/quotes/"))
    listed = row(page, "quotes-table", quote.number)
    assert "审批中" in listed and "等待王主管审批" in listed


# The approver's task page -------------------------------------------------------------------------------

def test_the_approver_sees_the_quote_and_clear_controls_and_approves(login, users):
    quote = submitted(users["manager1"])
    task = task_of(quote, users["supervisor1"])
    browser = login("supervisor1")
    page = page_text(browser.get(f"/tasks/{task.id}"))
    record = page.split('id="record-card"')[1].split('id="approval-trail"')[0]
    assert quote.number in record and "办公软件标准版" in record and "80,000.00" in record
    assert 'id="approve-button"' in page and 'id="reject-button"' in page and 'id="more-actions"' in page
    for panel in ("return-panel", "transfer-panel", "add-signer-panel", "cc-panel"):
        assert f'id="{panel}"' in page
    assert 'id="task-form-container"' not in page and 'id="reassign-form"' not in page
    assert 'id="approval-changes"' not in page  # he decided on no earlier version
    assert 'id="requester-actions"' not in page and 'id="task-requester">李明<' in page

    response = browser.post(f"/tasks/{task.id}/decide", data={"decision": "approve", "comment": "价格合理"})
    assert response.status_code == 302 and response.headers["Location"] == "/?view=approvals"
    assert "已同意“主管审批”" in flashed(browser.get("/?view=approvals"))
    assert [t.bpmn_id for t in waiting(quote)] == ["approve_director"]
    assert events(quote, "completed_task")[0].comment == "价格合理"


def test_a_refusal_needs_its_reason(login, users):
    quote = submitted(users["manager1"])
    task = task_of(quote, users["supervisor1"])
    browser = login("supervisor1")
    response = browser.post(f"/tasks/{task.id}/decide", data={"decision": "reject", "comment": "  "})
    page = page_text(response)
    assert response.status_code == 422 and 'data-field-error="comment"' in page and "请填写意见" in page
    assert 'id="decide-form"' in page
    unknown = browser.post(f"/tasks/{task.id}/decide", data={"decision": "maybe"})
    assert unknown.status_code == 422 and "请选择同意或拒绝" in page_text(unknown)
    assert status(quote) == QuoteStatus.PENDING and task_of(quote, users["supervisor1"]).id == task.id

    browser.post(f"/tasks/{task.id}/decide", data={"decision": "reject", "comment": "折扣过高"})
    assert status(quote) == QuoteStatus.REJECTED
    page = page_text(login("manager1").get(f"/quotes/{quote.id}"))
    assert 'id="quote-rejected"' in page and "王主管拒绝了此报价" in page and "折扣过高" in page
    assert "修改后重新提交" in page and 'id="edit-quote"' in page and 'id="withdraw-quote"' in page


def test_a_second_decision_gets_the_conflict_message(login, users):
    quote = submitted(users["manager1"])
    task = task_of(quote, users["supervisor1"])
    browser = login("supervisor1")
    assert browser.post(f"/tasks/{task.id}/decide", data={"decision": "approve"}).status_code == 302
    again = browser.post(f"/tasks/{task.id}/decide", data={"decision": "reject", "comment": "改主意"},
                         follow_redirects=True)
    assert again.request.path == "/" and "此任务已由王主管完成" in flashed(again)
    assert len(events(quote, "completed_task")) == 1 and status(quote) == QuoteStatus.PENDING


def test_each_approver_sees_what_changed_after_a_revision(login, users):
    manager = users["manager1"]
    quote = submitted(manager, "250000.00")
    line_id = quote.lines[0].id
    login("supervisor1").post(f"/tasks/{task_of(quote, users['supervisor1']).id}/decide",
                              data={"decision": "approve"})
    director = login("director")
    response = director.post(f"/tasks/{task_of(quote, users['director']).id}/transfer",
                             data={"to_user_id": users["ceo"].id, "comment": "请张总定"})
    assert response.status_code == 302
    assert "已转交给张总" in flashed(director.get("/?view=approvals"))
    ceo = login("ceo")
    ceo.post(f"/tasks/{task_of(quote, users['ceo']).id}/decide", data={"decision": "reject", "comment": "折扣不够"})
    assert status(quote) == QuoteStatus.REJECTED

    author = login("manager1")
    edited = author.post(f"/quotes/{quote.id}/lines/{line_id}", data={
        "product_name": "办公软件标准版", "quantity": "1", "unit_price": "250000.00", "discount_pct": "10"})
    assert edited.status_code == 302
    assert "已重新提交审批" in flashed(author.post(f"/quotes/{quote.id}/submit", follow_redirects=True))
    assert status(quote) == QuoteStatus.PENDING

    page = page_text(login("supervisor1").get(f"/tasks/{task_of(quote, users['supervisor1']).id}"))
    changes = page.split('id="approval-changes"')[1].split('id="record-card"')[0]
    assert "总金额" in changes and "250,000.00" in changes and "225,000.00" in changes
    assert 'data-change="changed"' in changes and "折扣（%）" in changes and "10.00" in changes
    assert "第 2 次提交" in page and "修改后重新提交" in page
    trail = page.split('id="approval-trail-list"')[1]
    assert "转交给张总" in trail and "请张总定" in trail and "折扣不够" in trail


def test_returning_to_the_author_or_to_a_step_already_passed(login, users):
    quote = submitted(users["manager1"])
    login("supervisor1").post(f"/tasks/{task_of(quote, users['supervisor1']).id}/decide",
                              data={"decision": "approve"})
    task = task_of(quote, users["director"])
    browser = login("director")
    page = page_text(browser.get(f"/tasks/{task.id}"))
    options = page.split('id="return-to"')[1].split("</select>")[0]
    assert 'value="requester"' in options and 'value="approve_supervisor"' in options
    assert 'value="approve_director"' not in options and 'value="approve_executive"' not in options

    no_reason = browser.post(f"/tasks/{task.id}/return", data={"to": "approve_supervisor", "comment": ""})
    assert no_reason.status_code == 422 and 'id="return-panel"' in page_text(no_reason)
    assert 'collapse approval-action show" id="return-panel"' in page_text(no_reason)
    elsewhere = browser.post(f"/tasks/{task.id}/return", data={"to": "approve_executive", "comment": "重看"})
    assert elsewhere.status_code == 422 and "只能退回到此申请已经过的审批步骤" in page_text(elsewhere)
    assert task_of(quote, users["director"]).id == task.id and events(quote, "returned") == []

    browser.post(f"/tasks/{task.id}/return", data={"to": "approve_supervisor", "comment": "请主管核实折扣"})
    assert [t.bpmn_id for t in waiting(quote)] == ["approve_supervisor"]
    login("supervisor1").post(f"/tasks/{task_of(quote, users['supervisor1']).id}/decide",
                              data={"decision": "approve"})
    browser.post(f"/tasks/{task_of(quote, users['director']).id}/return",
                 data={"to": "requester", "comment": "请补充说明"})
    assert status(quote) == QuoteStatus.REJECTED
    page = page_text(login("manager1").get(f"/quotes/{quote.id}"))
    assert "退回到“主管审批”" in page and "请主管核实折扣" in page and "周总监退回了此报价" in page


@pytest.mark.parametrize("chosen", ["", "abc", "0", "-3", HUGE_ID, "999999"])
def test_a_transfer_or_signer_to_nobody_changes_nothing(login, users, chosen):
    quote = submitted(users["manager1"])
    task = task_of(quote, users["supervisor1"])
    browser = login("supervisor1")
    for action in ("transfer", "add-signer"):
        response = browser.post(f"/tasks/{task.id}/{action}", data={"to_user_id": chosen, "position": "before"})
        page = page_text(response)
        assert response.status_code == 422 and 'data-field-error="to_user_id"' in page
        assert "请选择一位在职的同事" in page
    assert task_of(quote, users["supervisor1"]).id == task.id
    assert events(quote, "transferred") == [] and events(quote, "added_signer") == []


def test_transferring_to_oneself_is_refused(login, users):
    quote = submitted(users["manager1"])
    task = task_of(quote, users["supervisor1"])
    response = login("supervisor1").post(f"/tasks/{task.id}/transfer", data={"to_user_id": users["supervisor1"].id})
    assert response.status_code == 422 and task_of(quote, users["supervisor1"]).id == task.id


def test_adding_a_signer_before_and_after(login, users):
    quote = submitted(users["manager1"], "1000.00")
    task = task_of(quote, users["supervisor1"])
    browser = login("supervisor1")
    response = browser.post(f"/tasks/{task.id}/add-signer", data={
        "to_user_id": users["supervisor2"].id, "position": "before", "comment": "请陈主管先看"})
    assert response.headers["Location"] == "/?view=approvals"
    assert [t.assignee_id for t in waiting(quote)] == [users["supervisor2"].id]
    login("supervisor2").post(f"/tasks/{task_of(quote, users['supervisor2']).id}/decide", data={"decision": "approve"})
    back = task_of(quote, users["supervisor1"])
    response = browser.post(f"/tasks/{back.id}/add-signer", data={"to_user_id": users["director"].id,
                                                                  "position": "after"}, follow_redirects=True)
    assert response.request.path == f"/tasks/{back.id}" and "已加签：您同意后由周总监审批" in flashed(response)
    page = page_text(response)
    assert "加签：请陈主管先审批" in page and "请陈主管先看" in page and "加签：同意后再由周总监审批" in page
    browser.post(f"/tasks/{back.id}/decide", data={"decision": "approve"})
    assert [t.assignee_id for t in waiting(quote)] == [users["director"].id]


def test_copying_colleagues_and_what_a_watcher_sees(login, users):
    quote = submitted(users["manager1"])
    task = task_of(quote, users["supervisor1"])
    browser = login("supervisor1")
    for bad in ([], ["abc"], [HUGE_ID], ["999999"], [str(users["supervisor1"].id)]):
        response = browser.post(f"/tasks/{task.id}/cc", data={"user_ids": bad})
        assert response.status_code == 422 and 'data-field-error="user_ids"' in page_text(response)
    assert db.session.scalar(select(func.count(TaskWatcher.id))) == 0 and events(quote, "watchers_added") == []

    response = browser.post(f"/tasks/{task.id}/cc", data={"user_ids": [users["manager2"].id]}, follow_redirects=True)
    assert "已抄送给刘洋" in flashed(response) and "抄送给刘洋" in page_text(response)

    watcher = login("manager2")
    page = page_text(watcher.get(f"/tasks/{task.id}"))
    assert 'id="task-readonly"' in page and "此审批抄送给您" in page
    assert 'id="record-card"' in page and "办公软件标准版" in page and 'id="approval-trail-list"' in page
    for control in ("decide-form", "approve-button", "more-actions", "return-form", "requester-actions"):
        assert f'id="{control}"' not in page
    assert 'id="comment-form"' in page
    refused = watcher.post(f"/tasks/{task.id}/decide", data={"decision": "approve"})
    assert refused.status_code == 403 and status(quote) == QuoteStatus.PENDING
    assert watcher.post(f"/tasks/{task.id}/transfer", data={"to_user_id": users["manager2"].id}).status_code == 403
    inbox = page_text(watcher.get("/?view=watched"))
    assert f'href="/tasks/{task.id}"' in inbox and 'id="count-watched">1<' in inbox


def test_comments_mention_colleagues_who_may_see_the_request(login, users):
    quote = submitted(users["manager1"])
    task = task_of(quote, users["supervisor1"])
    browser = login("supervisor1")
    response = browser.post(f"/tasks/{task.id}/comment", data={"text": "@manager1 请确认交期"})
    assert response.headers["Location"] == f"/tasks/{task.id}#approval-trail"
    page = page_text(browser.get(f"/tasks/{task.id}"))
    assert "@manager1 请确认交期" in page and "提到了李明" in page

    hidden = browser.post(f"/tasks/{task.id}/comment", data={"text": "@manager2 看看"})
    page = page_text(hidden)
    assert hidden.status_code == 422 and "@manager2 看不到此申请" in page
    assert "@manager2 看看</textarea>" in page  # what he wrote is kept
    empty = browser.post(f"/tasks/{task.id}/comment", data={"text": " "})
    assert empty.status_code == 422
    assert len(events(quote, "comment")) == 1


def test_the_requester_withdraws_or_nudges_from_the_approvers_task(login, users):
    quote = submitted(users["manager1"])
    task = task_of(quote, users["supervisor1"])
    author = login("manager1")
    page = page_text(author.get(f"/tasks/{task.id}"))
    assert 'id="requester-actions"' in page and 'id="nudge-button"' in page and 'id="withdraw-button"' in page
    assert 'id="decide-form"' not in page and "此审批由王主管处理中" in page
    assert author.post(f"/tasks/{task.id}/decide", data={"decision": "approve"}).status_code == 403
    assert "已提醒 1 位审批人" in flashed(author.post(f"/tasks/{task.id}/nudge", follow_redirects=True))
    response = author.post(f"/tasks/{task.id}/withdraw", data={"reason": "数量要改"})
    assert response.headers["Location"] == f"/quotes/{quote.id}"
    assert status(quote) == QuoteStatus.DRAFT and waiting(quote) == []


def test_strangers_get_not_found_and_change_nothing(login, users):
    quote = submitted(users["manager1"])
    task = task_of(quote, users["supervisor1"])
    stranger = login("manager2")
    assert stranger.get(f"/tasks/{task.id}").status_code == 404
    for action, data in (("decide", {"decision": "approve"}), ("return", {"to": "requester", "comment": "x"}),
                         ("transfer", {"to_user_id": users["manager2"].id}), ("cc", {"user_ids": [1]}),
                         ("comment", {"text": "hi"}), ("withdraw", {}), ("nudge", {}),
                         ("add-signer", {"to_user_id": users["manager2"].id})):
        assert stranger.post(f"/tasks/{task.id}/{action}", data=data).status_code == 404, action
    for action in ("submit", "withdraw", "nudge"):
        assert stranger.post(f"/quotes/{quote.id}/{action}").status_code == 404
    assert stranger.get(f"/tasks/{HUGE_ID}").status_code == 404
    assert stranger.post(f"/tasks/{HUGE_ID}/decide", data={"decision": "approve"}).status_code == 404
    assert status(quote) == QuoteStatus.PENDING and [t.id for t in waiting(quote)] == [task.id]


# The inbox -------------------------------------------------------------------------------------------------

def test_the_approval_tabs_with_their_counts_and_filters(login, users, new_opportunity):
    first = submitted(users["manager1"], name="办公软件报价", customer_name="杭州云启科技有限公司")
    second = submitted(users["manager1"], name="维保服务报价", customer_name="苏州恒达机械制造厂")
    opportunity = new_opportunity("manager1")
    supervisor = login("supervisor1")
    page = page_text(supervisor.get("/"))
    assert 'id="count-approvals">2<' in page and 'id="count-todo">3<' in page and 'id="count-started">0<' in page

    approvals_tab = page_text(supervisor.get("/?view=approvals"))
    for quote in (first, second):
        assert f'href="/tasks/{task_of(quote, users["supervisor1"]).id}"' in approvals_tab
    assert f'href="/tasks/{open_task(opportunity, "assign").id}"' not in approvals_tab
    assert 'id="batch-form"' in approvals_tab and approvals_tab.count('name="task_ids"') == 2
    assert "李明" in approvals_tab  # the requester column

    by_number = page_text(supervisor.get(f"/?view=approvals&q={second.number}"))
    assert second.number in by_number and first.number not in by_number
    by_customer = page_text(supervisor.get("/?view=approvals&q=云启"))
    assert first.number in by_customer and second.number not in by_customer
    only_opportunities = page_text(supervisor.get("/?view=todo&process=opportunity"))
    assert opportunity.number in only_opportunities and first.number not in only_opportunities
    assert page_text(supervisor.get("/?view=approvals&process=opportunity")).count('name="task_ids"') == 0
    assert "没有符合条件的记录" in page_text(supervisor.get("/?view=approvals&overdue=1"))
    assert supervisor.get("/?view=approvals&process=nonsense").status_code == 200  # an unknown process: ignored

    author = login("manager1")
    started = page_text(author.get("/?view=started"))
    assert 'id="count-started">3<' in started  # the opportunity he created runs too
    listed = row(started, "started-table", first.number)
    assert "主管审批" in listed and "王主管" in listed and "审批中" in listed
    assert f'href="/quotes/{first.id}"' in started


def test_overdue_approvals_are_found_by_the_filter(login, users):
    clock.freeze(clock.now() - timedelta(days=14))
    late = submitted(users["manager1"], name="早报价")
    clock.unfreeze()
    fresh = submitted(users["manager1"], name="新报价", customer_name="宁波港联物流有限公司")
    page = page_text(login("supervisor1").get("/?view=approvals&overdue=1"))
    assert late.number in page and fresh.number not in page and "已超期" in page
    started = page_text(login("manager1").get("/?view=started&overdue=1"))
    assert late.number in started and fresh.number not in started


def test_finished_requests_stay_under_mine_and_done(login, users):
    quote = submitted(users["manager1"], "1000.00")
    supervisor = login("supervisor1")
    task = task_of(quote, users["supervisor1"])
    supervisor.post(f"/tasks/{task.id}/decide", data={"decision": "approve"})
    done = page_text(supervisor.get("/?view=done"))
    assert f'href="/tasks/{task.id}"' in done and 'id="count-done">1<' in done
    started = page_text(login("manager1").get("/?view=started"))
    listed = row(started, "started-table", quote.number)
    assert "已批准" in listed and "主管审批" not in listed


def test_batch_approval_reports_what_it_did(login, users):
    mine = [submitted(users["manager1"], "1000.00", name=f"报价{index}") for index in range(2)]
    foreign = submitted(users["manager2"], "1000.00", customer_name="成都蜀味餐饮管理有限公司")
    task_ids = [task_of(quote, users["supervisor1"]).id for quote in mine]
    foreign_task = task_of(foreign, users["supervisor2"]).id
    browser = login("supervisor1")
    response = browser.post("/tasks/batch-approve", data={"task_ids": [*task_ids, foreign_task],
                                                          "comment": "同意，按计划执行"})
    page = page_text(response)
    assert response.status_code == 200 and "已同意 2 项，1 项未能处理" in page
    assert page.count('class="result-ok"') == 2 and page.count('class="result-refused"') == 1
    assert "任务不存在或您无权查看" in page
    assert [status(quote) for quote in mine] == [QuoteStatus.APPROVED] * 2
    assert status(foreign) == QuoteStatus.PENDING
    comments = {event.comment for quote in mine for event in events(quote, "completed_task")}
    assert comments == {"同意，按计划执行"}

    # The same ticks sent again (a reload) approve nothing twice.
    again = page_text(browser.post("/tasks/batch-approve", data={"task_ids": task_ids}))
    assert "已同意 0 项，2 项未能处理" in again and "此任务已由王主管完成" in again


@pytest.mark.parametrize("ticked", [[], ["abc"], [HUGE_ID], ["1"] * 101])
def test_batch_approval_with_bad_ticks_changes_nothing(login, users, ticked):
    quote = submitted(users["manager1"], "1000.00")
    response = login("supervisor1").post("/tasks/batch-approve", data={"task_ids": ticked}, follow_redirects=True)
    assert response.request.path == "/" and flashed(response)
    assert status(quote) == QuoteStatus.PENDING and events(quote, "completed_task") == []


def test_the_approval_controls_in_english(login, users):
    quote = submitted(users["manager1"])
    browser = login("supervisor1")
    browser.post("/language", data={"locale": "en", "next": "/"})
    page = page_text(browser.get(f"/tasks/{task_of(quote, users['supervisor1']).id}"))
    assert "Approve" in page and "Reject" in page and "More" in page and "Approval history" in page
    inbox = page_text(browser.get("/?view=approvals"))
    assert "To approve" in inbox and "My requests" in inbox and "Approve selected" in inbox


def test_a_quote_total_is_shown_as_money(login, users):
    quote = submitted(users["manager1"], "1234567.80")
    page = page_text(login("supervisor1").get(f"/tasks/{task_of(quote, users['supervisor1']).id}"))
    assert "¥1,234,567.80" in page
    assert quote.total == Decimal("1234567.80")


def test_withdrawing_a_rejected_quote_with_an_over_long_reason_is_refused(login, users):
    quote = submitted(users["manager1"])
    approvals.decide(task_id=task_of(quote, users["supervisor1"]).id, user=users["supervisor1"], decision="reject",
                     comment="价格太低")
    assert status(quote) == QuoteStatus.REJECTED
    browser = login("manager1")
    refused = browser.post(f"/quotes/{quote.id}/withdraw", data={"reason": "改" * 2001}, follow_redirects=True)
    assert "意见最多 2000 个字符" in flashed(refused) and status(quote) == QuoteStatus.REJECTED
    done = browser.post(f"/quotes/{quote.id}/withdraw", data={"reason": "改" * 2000}, follow_redirects=True)
    assert "已撤回" in flashed(done) and status(quote) == QuoteStatus.DRAFT
