"""Demo data for the timers: customers on both sides of the churn period, birthdays this week, a warning closed
by a new order — and one run of the churn scan and of the care rules, so every page has something to show."""
from __future__ import annotations

import calendar
from datetime import date, timedelta

from sqlalchemy import select

from bpm_crm import clock
from bpm_crm.extensions import db
from bpm_crm.models import (
    ChurnWarning,
    Contact,
    Customer,
    Order,
    ProcessSchedule,
    ScheduleRun,
    User,
)
from bpm_crm.services import care_dates, care_rules, churn_scan, jobs, schedules
from bpm_crm.services.customer_records import local_today

# name, months since the last order (and days past that), account manager
LAST_ORDERS: list[tuple[str, int, int, str]] = [
    ("温州瑞丰五金制品有限公司", 5, 0, "manager1"),
    ("嘉兴恒通纺织有限公司", 6, 7, "manager1"),
    ("常州华宇电气设备有限公司", 7, 0, "manager3"),
    ("烟台海润食品有限公司", 8, 0, "manager2"),
]
RETURNING = ("宜昌金源建材有限公司", "manager1")  # warned, then ordered again
# contact, position, days from today to the birthday, born, lunar
BIRTHDAYS: list[tuple[str, str, int, int, bool]] = [
    ("林晓峰", "采购经理", 1, 1982, False),
    ("沈佳慧", "财务经理", 3, 1988, False),
    ("许国栋", "总经理", 5, 1969, True),
]


def _manager(username: str) -> User | None:
    return db.session.scalar(select(User).where(User.username == username))


def _customer(name: str, owner: User, last_order: date) -> Customer:
    customer = Customer(name=name, owner_id=owner.id, level="重点", created_by_id=owner.id,
                        created_at=clock.utcnow_naive() - timedelta(days=800))
    db.session.add(customer)
    db.session.flush()
    customer.number = f"KH{customer.id:06d}"
    db.session.add(Contact(customer_id=customer.id, name="王" + name[2:4], gender="男", position="采购经理",
                           office_phone="0571-88001234", created_by_id=owner.id))
    db.session.add_all([
        Order(number=f"DD{last_order:%Y%m%d}{customer.id:05d}", customer_id=customer.id, order_date=last_order,
              status=6),
        Order(number=f"DD{last_order - timedelta(days=120):%Y%m%d}{customer.id:05d}", customer_id=customer.id,
              order_date=last_order - timedelta(days=120), status=6),
    ])
    return customer


def born(year: int, day: date) -> date:
    """A birthday on `day`'s month and day, in `year` — or in the leap year before it, for 29 February."""
    while (day.month, day.day) == (2, 29) and not calendar.isleap(year):
        year -= 1
    return date(year, day.month, day.day)


def _run(process_id: str) -> ScheduleRun | None:
    """One run of a schedule now, as the scheduler does it, and the jobs it leaves."""
    schedule = db.session.scalar(select(ProcessSchedule).where(ProcessSchedule.process_id == process_id))
    if schedule is None:
        return None
    run = ScheduleRun(schedule_id=schedule.id, due_at=clock.utcnow_naive().replace(microsecond=0))
    db.session.add(run)
    db.session.flush()
    schedules.start_run(schedule, run)
    db.session.commit()
    while jobs.run_due_jobs():
        pass
    return run


def load() -> int:
    """The timers' demo data, once (nothing when the churn scan has run before); commits. Warnings raised."""
    if db.session.scalar(select(ChurnWarning.id).limit(1)) is not None:
        return 0
    care_rules.seed_rules()
    today = local_today()
    made = []
    for name, months, days, username in LAST_ORDERS:
        owner = _manager(username)
        if owner is not None:
            made.append(_customer(name, owner, churn_scan.months_before(today, months) - timedelta(days=days)))
    owner = _manager(RETURNING[1])
    returning = _customer(RETURNING[0], owner, churn_scan.months_before(today, 9)) if owner else None
    first = db.session.scalar(select(Customer).where(Customer.owner_id.is_not(None), Customer.status == "正常")
                              .order_by(Customer.id))
    for name, position, days, year, lunar in BIRTHDAYS:
        if first is None:
            break
        day = today + timedelta(days=days)
        contact = Contact(customer_id=first.id, name=name, gender="男" if name[1] != "佳" else "女",
                          position=position, office_phone="0571-88776655", mobile="13900001111",
                          birthday=born(year, day))
        if lunar:
            month, lunar_day, _leap = care_dates.lunar_of(day)
            contact.lunar_birthday = f"{month:02d}-{lunar_day:02d}"
        db.session.add(contact)
    db.session.commit()
    run = _run(churn_scan.SCAN_PROCESS_ID)
    if returning is not None:
        db.session.add(Order(number=f"DD{today:%Y%m%d}{returning.id:05d}N", customer_id=returning.id,
                             order_date=today, status=1))
        db.session.flush()
        churn_scan.orders_placed(customer_ids={returning.id})
        db.session.commit()
    _run("care_scan")
    return int((run.figures or {}).get("raised", 0)) if run is not None else 0
