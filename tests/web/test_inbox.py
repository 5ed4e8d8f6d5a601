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
