"""Instructions one task completion costs the app, counted by valgrind: this tree beside a baseline commit.

Run: .venv/bin/python bench/instructions.py [--baseline HEAD] [--completions 40] [--warmup 20]

Times on a shared 2-core machine drift by a third within an hour, so a change of a few per cent to the
cost of a step cannot be seen in seconds. Instructions can: callgrind counts them, the same for the same
code and inputs whatever else the machine is doing (±0.3 % here). For this working tree and for the
baseline commit (checked out into a temporary git worktree), on a scratch PostgreSQL database each:
the shipped processes are deployed and opportunities created (not counted); then one Python process under
`valgrind --tool=callgrind` completes `--warmup` `assign` tasks through the API (test client, token check
included) uncounted, and `--completions` more counted — the app's own instructions in the interpreter,
SQLAlchemy, psycopg and libpq; not PostgreSQL's, which runs in its own processes.

Needs valgrind (Debian's package `valgrind`). About a minute per tree.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PASSWORD = "demo1234"


def prepare(tasks: int) -> str:
    """A scratch database with the shipped processes and `tasks` opportunities waiting to be assigned."""
    import completion
    import scratch

    name = scratch.create_pg("bpm_crm_instructions")
    completion.prepare(scratch.pg_url(name), tasks)
    return name


def inner(database: str, warmup: int, completions: int, signals: Path) -> None:
    """Run inside valgrind with the tree under test first on sys.path: warm up, then say "ready" and wait
    until counting is on; complete the counted tasks, say "done" and wait until counting is off."""
    import completion
    import scratch
    from sqlalchemy import select

    from bpm_crm import create_app
    from bpm_crm.extensions import db
    from bpm_crm.models import User

    app = create_app(scratch.config(scratch.pg_url(database), TESTING=False))
    ids = completion.open_assign_tasks(app)
    with app.app_context():
        manager_id = db.session.scalar(select(User.id).where(User.username == "manager1"))
        db.session.remove()
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "supervisor1", "password": PASSWORD}).json["token"]
    headers = {"Authorization": f"Bearer {token}"}

    def complete(task_ids: list[int]) -> None:
        for task_id in task_ids:
            response = client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {"assignee_id": manager_id}},
                                   headers=headers)
            assert response.status_code == 200, response.get_data(as_text=True)

    complete(ids[:warmup])
    _signal_and_wait(signals / "ready")
    complete(ids[warmup:warmup + completions])
    _signal_and_wait(signals / "done")


def _signal_and_wait(flag: Path) -> None:
    flag.write_text(str(os.getpid()))
    while flag.exists():  # the outer process removes it once it has switched counting
        time.sleep(0.1)


def _await(flag: Path, process: subprocess.Popen, log: Path) -> int:
    while not flag.exists():
        if process.poll() is not None:
            raise RuntimeError(f"the measured process ended early:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    time.sleep(0.1)
    return int(flag.read_text())


def count(tree: Path, warmup: int, completions: int) -> int:
    """Instructions per counted completion for the code in `tree`."""
    import scratch

    database = prepare(warmup + completions)
    try:
        with tempfile.TemporaryDirectory(prefix="bpm-crm-instructions-") as work:
            signals, out, log = Path(work), Path(work) / "callgrind.out", Path(work) / "log.txt"
            environment = {**os.environ, "PYTHONHASHSEED": "0",
                           "PYTHONPATH": os.pathsep.join([str(tree), str(tree / "bench")])}
            with log.open("w") as log_file:
                process = subprocess.Popen(
                    ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
                     sys.executable, str(Path(__file__)), "--inner", database, "--warmup", str(warmup),
                     "--completions", str(completions), "--signals", str(signals)],
                    cwd=tree, env=environment, stdout=log_file, stderr=subprocess.STDOUT)
            try:
                pid = _await(signals / "ready", process, log)
                subprocess.run(["callgrind_control", "-i", "on", str(pid)], check=True, capture_output=True)
                (signals / "ready").unlink()
                _await(signals / "done", process, log)
                subprocess.run(["callgrind_control", "-i", "off", str(pid)], check=True, capture_output=True)
                subprocess.run(["callgrind_control", "-d", str(pid)], check=True, capture_output=True)
                (signals / "done").unlink()
                if process.wait(timeout=600) != 0:
                    raise RuntimeError(f"the measured process failed:\n{log.read_text()[-3000:]}")
            finally:
                if process.poll() is None:
                    process.kill()
            # Each dump (the one asked for, then the one at exit) ends with its "totals:" line.
            total = sum(int(line.split()[1]) for dump in Path(work).glob("callgrind.out*")
                        for line in dump.read_text(errors="replace").splitlines() if line.startswith("totals:"))
            return total // completions
    finally:
        scratch.drop_pg(database)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="HEAD", help="the commit to compare with (default HEAD)")
    parser.add_argument("--completions", type=int, default=40, help="completions counted per tree")
    parser.add_argument("--warmup", type=int, default=20, help="completions before counting starts")
    parser.add_argument("--inner", help=argparse.SUPPRESS)
    parser.add_argument("--signals", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        inner(args.inner, args.warmup, args.completions, Path(args.signals))
        return

    revision = subprocess.run(["git", "rev-parse", "--short", args.baseline], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="bpm-crm-baseline-") as checkout:
        subprocess.run(["git", "worktree", "add", "--detach", checkout, revision], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            print(f"counting {args.completions} completions of the baseline {revision} …", flush=True)
            baseline = count(Path(checkout), args.warmup, args.completions)
            print(f"counting {args.completions} completions of this tree …", flush=True)
            current = count(ROOT, args.warmup, args.completions)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", checkout], cwd=ROOT, check=True,
                           capture_output=True)

    print()
    print("| tree | instructions per completion (API request, in-process) | change |")
    print("|---|---|---|")
    print(f"| baseline {revision} | {baseline:,} | |")
    print(f"| this tree | {current:,} | {(current - baseline) / baseline:+.1%} |")


if __name__ == "__main__":
    main()
