"""The inbox: tabs, counts, overdue tasks, scope."""
from __future__ import annotations

from datetime import timedelta

from bpm_crm import clock

from .helpers import open_task, page_text


def test_supervisor_of_the_department_sees_the_assign_task_to_claim(login, new_opportunity):
    opportunity = new_opportunity("manager1")
    task = open_task(opportunity, "assign")

    page = page_text(login("supervisor1").get("/?view=claimable"))
    assert f'href="/tasks/{task.id}"' in page
    assert opportunity.number in page and "杭州测试科技有限公司" in page
    assert 'id="nav-inbox-count">1<' in page

    other = page_text(login("supervisor2").get("/?view=claimable"))
    assert f'href="/tasks/{task.id}"' not in other
    assert "暂无可认领的任务" in other


def test_empty_inbox_says_so(login):
    page = page_text(login("manager2").get("/"))
    assert "暂无待办" in page


def test_overdue_tasks_are_marked_and_can_be_filtered(login, new_opportunity, users):
    clock.freeze(clock.now() - timedelta(days=14))  # two working days have passed whatever the holidays
    late = new_opportunity("manager1")
    clock.unfreeze()
    fresh = new_opportunity("manager1", customer_name="新鲜公司")
    browser = login("supervisor1")
    for task in (open_task(late, "assign"), open_task(fresh, "assign")):
        browser.post(f"/tasks/{task.id}/claim")

    page = page_text(browser.get("/?view=mine"))
    assert page.count('class="overdue"') == 1
    assert "已超期" in page and "2周前" in page  # due two working days after creation, almost two weeks ago
    assert "1 个任务已超期" in page

    only_late = page_text(browser.get("/?view=mine&overdue=1"))
    assert late.number in only_late and fresh.number not in only_late


def test_done_tab_lists_completed_tasks(login, new_opportunity, users):
    opportunity = new_opportunity("manager1")
    browser = login("supervisor1")
    task = open_task(opportunity, "assign")
    browser.post(f"/tasks/{task.id}/complete", data={"assignee_id": users["manager1"].id})
    page = page_text(browser.get("/?view=done"))
    assert f'href="/tasks/{task.id}"' in page


def test_paging_keeps_the_view(login, new_opportunity, app):
    app.config["PAGE_SIZE"] = 2
    for index in range(3):
        new_opportunity("manager1", customer_name=f"公司{index}")
    browser = login("supervisor1")
    first = page_text(browser.get("/?view=claimable"))
    assert "第 1 / 2 页" in first and "view=claimable" in first and "page=2" in first
    second = page_text(browser.get("/?view=claimable&page=2"))
    assert second.count('href="/tasks/') == 1


def test_the_inbox_opens_on_everything_to_do(login, new_opportunity, users):
    """Offered and assigned tasks together on the landing page; its count is the navigation badge's."""
    offered = open_task(new_opportunity("manager1"), "assign")
    taken = open_task(new_opportunity("manager1", customer_name="已认领公司"), "assign")
    browser = login("supervisor1")
    browser.post(f"/tasks/{taken.id}/save", data={"form_data": "{}"})

    page = page_text(browser.get("/"))
    assert 'id="tab-todo"' in page and 'aria-current="page"' in page.split('id="tab-todo"')[1][:200]
    assert f'href="/tasks/{offered.id}"' in page and f'href="/tasks/{taken.id}"' in page
    assert 'id="nav-inbox-count">2<' in page
    assert "待处理" in page and "待认领" in page
    assert f'href="/tasks/{offered.id}"' not in page_text(browser.get("/?view=mine"))
    assert f'href="/tasks/{taken.id}"' not in page_text(browser.get("/?view=claimable"))


def test_overdue_counts_tasks_offered_by_role_and_department_and_the_banner_lists_exactly_them(login, users):
    """A complaint's 受理 is offered to the service supervisors' role, its 会签 to a department's head: both count."""
    import re
    from datetime import UTC, datetime

    from sqlalchemy import select

    from bpm_crm.extensions import db
    from bpm_crm.models import Customer, Department, HumanTask, TaskStatus
    from bpm_crm.services import human_tasks, service_requests

    def complaint(summary):
        customer = Customer(name=f"{summary}有限公司", owner_id=users["manager1"].id)
        db.session.add(customer)
        db.session.flush()
        return service_requests.create_request(user=users["agent"], values={
            "type": "投诉", "customer_id": customer.id, "summary": summary, "detail": "客户来电投诉"})

    def step(request, bpmn_id):
        db.session.expire_all()
        return db.session.scalar(select(HumanTask).where(HumanTask.instance_id == request.process_instance_id,
                                                         HumanTask.bpmn_id == bpmn_id,
                                                         HumanTask.status == TaskStatus.OPEN))

    def rows(page):
        return [int(task_id) for task_id in re.findall(r'data-task-id="(\d+)"', page)]

    clock.freeze(datetime(2026, 11, 23, 1, 0, tzinfo=UTC))  # Monday 09:00 in Shanghai
    signing = complaint("安装延误")
    quality = db.session.scalar(select(Department).where(Department.name == "质量部"))
    human_tasks.complete_task(task_id=step(signing, "accept").id, user=users["service_lead"],
                              data={"departments": [quality.id]})
    waiting = complaint("无人受理")
    clock.freeze(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))  # Tuesday 10:00: both steps are past due
    fresh = complaint("刚刚来电")  # its 受理 is due this afternoon
    late_accept, fresh_accept, late_sign = step(waiting, "accept"), step(fresh, "accept"), step(signing, "sign_off")
    assert late_accept.assignee_id is None and late_sign.assignee_id is None

    for username, late, not_late in (("service_lead", late_accept, fresh_accept), ("quality", late_sign, None)):
        browser = login(username)
        home = page_text(browser.get("/"))
        assert "1 个任务已超期" in home
        link = re.search(r'id="overdue-banner" href="([^"]+)"', home).group(1).replace("&amp;", "&")
        assert link == "/?view=todo&overdue=1"
        listed = page_text(browser.get(link))
        assert rows(listed) == [late.id] and 'class="overdue"' in listed
        if not_late is not None:
            assert not_late.id in rows(home)  # waiting for him too, but not late
    assert "个任务已超期" not in page_text(login("finance").get("/"))
