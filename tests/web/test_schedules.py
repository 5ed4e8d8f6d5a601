"""定时任务 and 关怀规则 pages: for process owners only; next runs, figures, settings, rules, failures and retry;
the churn and care pages tell where their work is."""
from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import func, select

from bpm_crm import clock
from bpm_crm.extensions import db
from bpm_crm.models import (
    CareRule,
    CareTask,
    ChurnWarning,
    Customer,
    Job,
    JobStatus,
    Order,
    ProcessDefinition,
    ProcessSchedule,
    ScheduleRun,
)
from bpm_crm.services import churn_scan, jobs

from .helpers import page_text


def churn_schedule() -> ProcessSchedule:
    return db.session.scalar(select(ProcessSchedule).where(ProcessSchedule.process_id == "churn_scan"))


def inactive_customer(users, name: str = "七个月未下单") -> Customer:
    row = Customer(name=name, owner_id=users["manager1"].id, created_at=datetime(2025, 1, 1))
    db.session.add(row)
    db.session.flush()
    row.number = f"KH{row.id:06d}"
    db.session.add(Order(number=f"DD{row.id}", customer_id=row.id, order_date=date(2026, 4, 1), status=6))
    db.session.commit()
    return row


def test_only_process_owners_see_the_schedules(login):
    for username in ("manager1", "supervisor1", "agent"):
        browser = login(username)
        assert browser.get("/schedules/").status_code == 403
        assert 'id="nav-schedules-index"' not in page_text(browser.get("/"))
        assert browser.get("/care-rules/").status_code == 403
    owner = login("owner")
    page = page_text(owner.get("/schedules/"))
    assert 'id="nav-schedules-index"' in page_text(owner.get("/"))
    assert 'data-schedule="churn_scan"' in page and 'data-schedule="care_scan"' in page
    assert "每周六 02:00" in page
    assert "每天 06:00" in page


def test_the_page_says_whether_the_scheduler_keeps_up(login):
    clock.freeze(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    for schedule in db.session.scalars(select(ProcessSchedule)):
        schedule.next_run_at = datetime(2026, 12, 2)  # nothing due yet
    db.session.commit()
    owner = login("owner")
    page = page_text(owner.get("/schedules/"))
    assert 'id="scheduler-ok"' in page and 'id="scheduler-lagging"' not in page and 'id="lag-alert"' not in page
    churn_schedule().next_run_at = datetime(2026, 12, 1, 1, 0)  # due an hour ago and not run: no scheduler runs
    db.session.commit()
    page = page_text(owner.get("/schedules/"))
    assert 'id="scheduler-lagging"' in page and 'id="scheduler-ok"' not in page and 'id="lag-alert"' in page


def test_run_now_shows_the_figures_and_the_churn_page_the_scan(users, login):
    clock.freeze(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    inactive_customer(users)
    owner = login("owner")
    schedule = churn_schedule()
    response = owner.post(f"/schedules/{schedule.id}/run", follow_redirects=True)
    page = page_text(response)
    assert response.status_code == 200 and "已运行一次" in page
    assert 'data-figure="raised"' in page and 'data-figure="checked"' in page
    run = db.session.scalar(select(ScheduleRun).where(ScheduleRun.schedule_id == schedule.id))
    assert run.figures["raised"] == 1 and run.instance_id is not None
    db.session.expire_all()
    assert churn_schedule().next_run_at == schedule.next_run_at  # the plan is unchanged
    jobs.run_due_jobs()

    manager_page = page_text(login("manager1").get("/churn/"))
    assert 'id="scan-card"' in manager_page and "6 个月" in manager_page
    assert 'id="scan-figures"' not in manager_page  # the figures are the process owner's
    assert 'id="scan-figures"' in page_text(login("admin").get("/churn/"))

    warning = db.session.scalar(select(ChurnWarning))
    detail = page_text(login("manager1").get(f"/churn/{warning.id}"))
    assert 'id="churn-step"' in detail and "采取暂缓措施" in detail and 'id="open-step"' in detail


def test_a_failed_run_is_shown_and_retried(users, login):
    clock.freeze(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    schedule = churn_schedule()
    failed = ScheduleRun(schedule_id=schedule.id, due_at=datetime(2026, 11, 28, 18, 0),
                         error="service task 'scan' (churn.scan) failed: database unavailable")
    db.session.add(failed)
    db.session.commit()
    owner = login("owner")
    page = page_text(owner.get("/schedules/"))
    assert f'data-run="{failed.id}"' in page and "database unavailable" in page and "data-retry-run" in page
    response = owner.post(f"/schedules/runs/{failed.id}/retry", follow_redirects=True)
    assert "重试成功" in page_text(response)
    db.session.expire_all()
    retried = db.session.get(ScheduleRun, failed.id)
    assert retried.error is None and retried.instance_id is not None and retried.attempts == 2
    assert "没有失败" in page_text(owner.post(f"/schedules/runs/{failed.id}/retry", follow_redirects=True))
    assert login("manager1").post(f"/schedules/runs/{failed.id}/retry").status_code == 403


def test_a_failed_job_is_shown_and_retried(users, login):
    clock.freeze(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    inactive_customer(users)
    failed = Job(kind=churn_scan.JOB_START, payload={}, status=JobStatus.FAILED.value, attempts=jobs.MAX_ATTEMPTS,
                 run_after=datetime(2026, 11, 30, 18, 0), finished_at=datetime(2026, 11, 30, 18, 0),
                 error="OperationalError: database unavailable")
    pending = Job(kind=churn_scan.JOB_START, payload={}, run_after=datetime(2026, 12, 1, 3, 0))
    db.session.add_all([failed, pending])
    db.session.commit()
    owner = login("owner")
    page = page_text(owner.get("/schedules/"))
    assert f'data-job="{failed.id}"' in page and "database unavailable" in page
    assert f'data-job="{pending.id}"' not in page  # only failures are listed
    assert login("manager1").post(f"/schedules/jobs/{failed.id}/retry").status_code == 403
    response = owner.post(f"/schedules/jobs/{failed.id}/retry", follow_redirects=True)
    page = page_text(response)
    assert "已重新排队" in page and f'data-job="{failed.id}"' not in page
    db.session.expire_all()
    retried = db.session.get(Job, failed.id)
    assert (retried.status, retried.attempts, retried.run_after) == (JobStatus.PENDING.value, 0, clock.utcnow_naive())
    assert "没有失败" in page_text(owner.post(f"/schedules/jobs/{failed.id}/retry", follow_redirects=True))
    assert "没有失败" in page_text(owner.post(f"/schedules/jobs/{pending.id}/retry", follow_redirects=True))
    assert "作业 999999 不存在" in page_text(owner.post("/schedules/jobs/999999/retry", follow_redirects=True))
    # The sweep runs it now: the warning it was to start a process for gets one.
    warning = ChurnWarning(customer_id=db.session.scalar(select(Customer.id)), manager_id=users["manager1"].id,
                           status="预警")
    db.session.add(warning)
    db.session.commit()
    assert jobs.run_job(failed.id) is True
    db.session.expire_all()
    assert db.session.get(Job, failed.id).status == JobStatus.DONE.value
    assert db.session.get(ChurnWarning, warning.id).process_instance_id is not None


def test_the_owner_changes_the_rule_and_the_settings_as_new_versions(login):
    owner = login("owner")
    schedule = churn_schedule()
    response = owner.post(f"/schedules/{schedule.id}/rule", data={
        "frequency": "weekly", "weekday": "5", "hour": "22", "minute": "30"}, follow_redirects=True)
    assert "第 2 版" in page_text(response)
    db.session.expire_all()
    assert churn_schedule().rule == "30 22 * * 5 Asia/Shanghai"
    bad = owner.post(f"/schedules/{schedule.id}/rule", data={"frequency": "custom", "cron": "every friday"},
                     follow_redirects=True)
    assert "周期规则无法识别" in page_text(bad)
    for field, value, said in (("hour", "99", "小时应为 0 到 23"), ("weekday", "9", "星期应为 0（周日）到 6"),
                               ("minute", "abc", "分钟应为 0 到 59")):
        refused = owner.post(f"/schedules/{schedule.id}/rule", data={
            "frequency": "weekly", "weekday": "5", "hour": "22", "minute": "30", field: value}, follow_redirects=True)
        assert said in page_text(refused)
    db.session.expire_all()
    assert churn_schedule().rule == "30 22 * * 5 Asia/Shanghai"  # nothing deployed by the refusals

    response = owner.post("/schedules/settings/churn_scan", data={"churn_months": "9"}, follow_redirects=True)
    assert "第 3 版" in page_text(response)
    assert 'value="9"' in page_text(owner.get("/schedules/"))
    response = owner.post("/schedules/settings/churn", data={"churn_escalate_workdays": "0"}, follow_redirects=True)
    assert "应为 1 到 60 的整数" in page_text(response)
    assert db.session.scalar(select(func.max(ProcessDefinition.version)).where(
        ProcessDefinition.process_id == "churn")) == 1


def test_care_rules_are_added_checked_and_paused(login):
    owner = login("owner")
    values = {"name": "VIP 年中问候", "kind": "节日", "trigger": "annual", "calendar": "solar", "month": "6",
              "day": "30", "offset_days": "0", "lead_days": "3", "condition": 'customer["level"] == "VIP"',
              "message": "年中问候：{customer}"}
    response = owner.post("/care-rules/", data={**values, "condition": "customer.__class__"})
    assert response.status_code == 422 and "条件不是允许的表达式" in page_text(response)
    assert db.session.scalar(select(func.count()).select_from(CareRule)) == 0
    response = owner.post("/care-rules/", data=values, follow_redirects=True)
    page = page_text(response)
    assert 'data-rule="VIP 年中问候"' in page and "每年公历 6月30日当天到期，提前 3 天生成" in page
    rule = db.session.scalar(select(CareRule))
    refused = owner.post(f"/care-rules/{rule.id}/edit", data={**values, "lead_days": "x"})
    assert refused.status_code == 422 and 'value="VIP 年中问候"' in page_text(refused)
    owner.post(f"/care-rules/{rule.id}/edit", data={**values, "lead_days": "5"})
    db.session.expire_all()
    assert db.session.get(CareRule, rule.id).lead_days == 5
    owner.post(f"/care-rules/{rule.id}/active", data={"active": "0"})
    db.session.expire_all()
    assert db.session.get(CareRule, rule.id).active is False
    owner.post(f"/care-rules/{rule.id}/delete")
    assert db.session.scalar(select(func.count()).select_from(CareRule)) == 0
    for stale in (owner.post(f"/care-rules/{rule.id}/delete", follow_redirects=True),
                  owner.post(f"/care-rules/{rule.id}/active", data={"active": "1"}, follow_redirects=True)):
        assert stale.status_code == 200 and "这条关怀规则已被删除" in page_text(stale)
    assert db.session.scalar(select(func.count()).select_from(CareRule)) == 0


def test_a_care_task_shows_its_inbox_task(users, login):
    row = inactive_customer(users, "关怀客户")
    browser = login("manager1")
    response = browser.post("/care/new", data={"customer_id": row.id, "kind": "生日", "title": "生日祝福",
                                               "due_date": "2026-12-03"}, follow_redirects=True)
    assert response.status_code == 200
    task = db.session.scalar(select(CareTask))
    page = page_text(browser.get(f"/care/{task.id}"))
    assert 'id="care-step"' in page and 'id="open-care-step"' in page
    inbox = page_text(browser.get("/?view=mine"))
    assert "生日祝福" in inbox


def test_the_pages_read_in_english(login):
    owner = login("owner")
    owner.post("/language", data={"locale": "en"})
    page = page_text(owner.get("/schedules/"))
    assert "Schedules" in page and "Every Saturday 02:00" in page and "Churn scan" in page
    assert "Care rules" in page_text(owner.get("/care-rules/"))
