"""Memory benchmark: idle resident memory of everything `make run` starts.

Starts scripts/run.py as `make run` does (embedded Redis, SQLite in a fresh data dir, a free
port), waits until it answers and has been idle a while, then sums over the launcher and every
process below it: PSS (proportional set size: pages shared between processes, such as a forked
worker's copy of its master, are split between them, so the sum is what the machine really
holds) and RSS (each process counted whole, so shared pages count several times).
Run: .venv/bin/python bench/bench_memory.py [--idle SECONDS]
"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.common import report  # noqa: E402
from scripts.stack import free_port  # noqa: E402

TARGET_MB = 350


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def process_tree(pid: int) -> list[psutil.Process]:
    parent = psutil.Process(pid)
    return [parent, *parent.children(recursive=True)]


def label(process: psutil.Process) -> str:
    """A short name for one process of the tree."""
    line = " ".join(process.cmdline())
    for needle, name in (("redis-server", "redis-server"), ("scripts/run.py", "launcher (scripts/run.py)"),
                         (" beat", "celery beat"), ("celery", "celery worker"), ("gunicorn", "gunicorn")):
        if needle in line:
            return name
    return line[:40]


def measure(tree: list[psutil.Process]) -> list[tuple[str, int, float, float]]:
    """(name, pid, PSS MB, RSS MB) of each process."""
    rows = []
    for process in tree:
        try:
            full = process.memory_full_info()
            rows.append((label(process), process.pid, full.pss / 2**20, full.rss / 2**20))
        except psutil.NoSuchProcess:
            pass
    return rows


def run_and_measure(idle: float, extra_env: dict | None = None) -> list[tuple[str, int, float, float]]:
    """Start `make run`'s launcher, wait until it serves and has idled `idle` s, measure, stop it."""
    data_dir = tempfile.mkdtemp(prefix="pb-memory-")
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(PORT=str(port), PUFFERBLOW_DATA_DIR=data_dir, **(extra_env or {}))
    url = f"http://127.0.0.1:{port}"
    with open(os.path.join(data_dir, "run.log"), "wb") as log:
        launcher = subprocess.Popen([sys.executable, "scripts/run.py"], cwd=ROOT, env=env, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while not _healthy(url):
                if launcher.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(open(log.name, "rb").read()[-3000:].decode(errors="replace"))
                time.sleep(0.2)
            # One request of each kind a client makes first, then idle: what a quiet server holds.
            urllib.request.urlopen(url + "/api/v1/info", timeout=5).read()
            time.sleep(idle)
            return measure(process_tree(launcher.pid))
        finally:
            os.killpg(launcher.pid, signal.SIGTERM)
            launcher.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=float, default=15.0, help="seconds of idling before measuring")
    args = parser.parse_args()
    print("idle memory of everything `make run` starts (embedded Redis, SQLite)", flush=True)
    rows = run_and_measure(args.idle)
    for name, pid, pss, rss in sorted(rows, key=lambda row: row[0]):
        report(f"{name} (pid {pid}): PSS / RSS", f"{pss:.1f} / {rss:.1f}", "MB")
    pss_total, rss_total = sum(row[2] for row in rows), sum(row[3] for row in rows)
    report(f"all {len(rows)} processes: PSS summed (target < {TARGET_MB} MB)", pss_total, "MB")
    report(f"all {len(rows)} processes: RSS summed", rss_total, "MB")


if __name__ == "__main__":
    main()
