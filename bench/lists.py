"""Latency of the list pages and the customer 360 page with many customers and orders, per user and backend.

Run: .venv/bin/python bench/lists.py --customers 100000 --orders 1000000 [--backend postgresql|sqlite|both]
     [--repeat 30] [--keep] [--reuse DATABASE_URL]

Each backend gets a scratch database (dropped afterwards unless --keep), the demo users, then generated data
(services/demo_data.py). Pages are requested through the Flask test client, signed in as manager1 (own
customers), supervisor1 (his team's) and admin (everyone's); the whole request is timed: routing, permission
scope, queries, template rendering.
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from urllib.parse import quote

import scratch
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import func, select

from bpm_crm import create_app
from bpm_crm.extensions import db
from bpm_crm.models import Customer, Order, User

ROOT = scratch.ROOT
USERS = ("manager1", "supervisor1", "admin")
PASSWORD = "demo1234"  # noqa: S105  (the demo users' password)


def prepare(app: Flask, customers: int, orders: int) -> None:
    """Schema, demo users and the generated data."""
    from bpm_crm.services import demo, demo_data

    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        demo.load_demo_users()
        started = time.perf_counter()
        demo_data.generate(customers=customers, orders=orders, seed=2026,
                           progress=lambda message: print(f"  {message}", flush=True))
        print(f"  generated in {time.perf_counter() - started:.1f}s", flush=True)
        db.session.remove()


def operations(app: Flask) -> list[tuple[str, Callable[[], str]]]:
    """(name, url) of every page measured; pages whose endpoint does not exist are left out."""
    with app.app_context():
        manager_id = db.session.scalar(select(User.id).where(User.username == "manager1"))
        busiest = db.session.scalar(
            select(Order.customer_id).join(Customer, Customer.id == Order.customer_id)
            .where(Customer.owner_id == manager_id).group_by(Order.customer_id)
            .order_by(func.count().desc()).limit(1))
        endpoints = set(app.view_functions)
        db.session.remove()
    found: list[tuple[str, Callable[[], str]]] = [
        ("customers page 1", lambda: "/customers/"),
        ("customers search q", lambda: "/customers/?q=" + quote("鑫达")),
        ("customers by region", lambda: "/customers/?region=" + quote("浙江省/杭州市")),
        ("customers page 1000", lambda: "/customers/?page=1000"),
        ("customer 360", lambda: f"/customers/{busiest}"),
    ]
    if "orders.customer_history" in endpoints:
        found.append(("customer orders", lambda: f"/customers/{busiest}/orders"))
    if "contacts.index" in endpoints:
        found.append(("contacts page 1", lambda: "/contacts/"))
        found.append(("contacts search q", lambda: "/contacts/?q=" + quote("王")))
    return found


def measure(app: Flask, repeat: int) -> list[tuple[str, str, list[float]]]:
    """Timings in ms per (user, operation); the first requests of each warm caches and are not counted."""
    results = []
    ops = operations(app)
    for username in USERS:
        client = app.test_client()
        response = client.post("/login", data={"username": username, "password": PASSWORD})
        assert response.status_code == 302, f"{username} cannot sign in"
        for name, url in ops:
            timings = []
            for attempt in range(repeat + 2):
                started = time.perf_counter()
                response = client.get(url())
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    raise SystemExit(f"{username} {name} {url()}: HTTP {response.status_code}")
                if attempt >= 2:
                    timings.append(elapsed)
            results.append((username, name, timings))
    return results


def run_backend(backend: str, customers: int, orders: int, repeat: int, keep: bool,
                reuse: str | None) -> list[tuple[str, str, list[float]]]:
    if reuse:
        return measure(create_app(scratch.config(reuse)), repeat)
    if backend == "sqlite":
        url = scratch.sqlite_url()
        app = create_app(scratch.config(url))
        prepare(app, customers, orders)
        if keep:
            print(f"  kept: {url}")
        return measure(app, repeat)
    name = scratch.create_pg()
    url = scratch.pg_url(name)
    try:
        app = create_app(scratch.config(url))
        prepare(app, customers, orders)
        results = measure(app, repeat)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        return results
    finally:
        if keep:
            print(f"  kept: {url}")
        else:
            scratch.drop_pg(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("postgresql", "sqlite", "both"), default="postgresql")
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per page and user")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database (for EXPLAIN ANALYZE)")
    parser.add_argument("--reuse", metavar="URL", help="measure an existing database instead of generating one")
    args = parser.parse_args()
    backends = ("postgresql", "sqlite") if args.backend == "both" else (args.backend,)
    rows = []
    for backend in backends:
        label = "reused" if args.reuse else backend
        print(f"{label}: {args.customers} customers, {args.orders} orders", flush=True)
        for username, operation, timings in run_backend(backend, args.customers, args.orders, args.repeat,
                                                        args.keep, args.reuse):
            ms = sorted(timings)
            p95 = ms[max(0, int(len(ms) * 0.95) - 1)]
            rows.append((label, username, operation, len(ms), statistics.median(ms), p95, ms[-1]))
        if args.reuse:
            break
    print(f"\n{'backend':<11}{'user':<13}{'operation':<22}{'n':>4}{'median ms':>11}{'p95 ms':>9}{'max ms':>9}")
    for backend, username, operation, count, median, p95, worst in rows:
        print(f"{backend:<11}{username:<13}{operation:<22}{count:>4}{median:>11.1f}{p95:>9.1f}{worst:>9.1f}")


if __name__ == "__main__":
    main()
