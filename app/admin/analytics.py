"""Numbers about the server, counted in the database (shared by the routes and the tasks)."""
import json
import os
import threading
import time
from datetime import timedelta

import psutil
import sqlalchemy as sa
from flask import current_app

from .. import keys
from ..extensions import db, redis
from ..ids import iso, utcnow
from ..models import Channel, Message, OnlineSample, User

ONLINE_STATUSES = ("online", "idle", "dnd")
_BOOT = time.time()
# This process's previous disk sample (read bytes, written bytes, monotonic time): disk rates
# are measured between two calls of server_usage().
_disk_lock = threading.Lock()
_disk_previous: tuple[int, int, float] | None = None


def _count(model_column, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count(model_column)).where(*where)) or 0


def online_users() -> int:
    return _count(User.id, User.status.in_(ONLINE_STATUSES))


def messages_since(moment) -> int:
    return _count(Message.id, Message.sent_at >= moment)


def active_users(since) -> int:
    """Accounts that sent a message or were seen since the given moment."""
    senders = set(db.session.scalars(sa.select(Message.sender_id).where(Message.sent_at >= since).distinct()))
    seen = set(db.session.scalars(sa.select(User.id).where(User.last_seen >= since)))
    return len((senders | seen) - {None})


def server_stats() -> dict:
    now = utcnow()
    week, month, day = now - timedelta(days=7), now - timedelta(days=30), now - timedelta(days=1)
    return {
        "users": {"total": _count(User.id), "online": online_users(),
                  "new_this_week": _count(User.id, User.created_at >= week),
                  "new_this_month": _count(User.id, User.created_at >= month)},
        "channels": {"total": _count(Channel.id), "public": _count(Channel.id, Channel.is_private.is_(False)),
                     "private": _count(Channel.id, Channel.is_private.is_(True))},
        "messages": {"total": _count(Message.id), "past_24h": messages_since(day),
                     "past_week": messages_since(week), "past_month": messages_since(month)},
        "timestamp": iso(now),
    }


def format_duration(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days}d {hours}h {minutes}m" if days else f"{hours}h {minutes}m {secs}s"


def _disk_sample() -> tuple[int, int, float]:
    counters = psutil.disk_io_counters()  # None where the host exposes no disk counters
    if counters is None:
        return 0, 0, time.monotonic()
    return counters.read_bytes, counters.write_bytes, time.monotonic()


def disk_rates(baseline: tuple[int, int, float]) -> tuple[float, float]:
    """MB/s read and written since this process's previous sample, or since baseline on the first call."""
    global _disk_previous
    now = _disk_sample()
    with _disk_lock:
        before, _disk_previous = _disk_previous or baseline, now
    elapsed = now[2] - before[2]
    if elapsed <= 0:
        return 0.0, 0.0
    # Counters may reset (a disk detached): a negative difference is no traffic, not a negative rate.
    return tuple(round(max(0, now[i] - before[i]) / 1e6 / elapsed, 3) for i in (0, 1))


def server_usage() -> dict:
    """CPU, memory, disk space and traffic, and how long this server process has run."""
    gib = 1024 ** 3
    memory = psutil.virtual_memory()
    disk = psutil.disk_usage(current_app.config["DATA_DIR"])
    uptime = time.time() - _BOOT
    baseline = _disk_sample()  # the CPU measurement below lasts 0.1 s: a first call's disk baseline
    cpu = psutil.cpu_percent(interval=0.1)
    read_rate, write_rate = disk_rates(baseline)
    return {
        "cpu_percent": cpu,
        "ram_used_gb": round(memory.used / gib, 2), "ram_total_gb": round(memory.total / gib, 2),
        "ram_percent": memory.percent,
        "storage_used_gb": round(disk.used / gib, 2), "storage_total_gb": round(disk.total / gib, 2),
        "storage_percent": disk.percent,
        "disk_read_mb_per_sec": read_rate, "disk_write_mb_per_sec": write_rate,
        "uptime_seconds": int(uptime), "uptime_formatted": format_duration(uptime),
        "system_uptime_seconds": int(time.time() - psutil.boot_time()),
        "process_id": os.getpid(),
        "timestamp": iso(utcnow()),
    }


def compute_activity_metrics() -> dict:
    now = utcnow()
    return {
        "total_users": _count(User.id),
        "total_channels": _count(Channel.id),
        "messages_per_hour": messages_since(now - timedelta(hours=1)),
        "active_users_24h": active_users(now - timedelta(days=1)),
        "current_online": online_users(),
        "last_updated": iso(now),
    }


def store_activity_metrics() -> dict:
    """Compute the activity snapshot and keep it in Redis for the dashboard."""
    metrics = compute_activity_metrics()
    max_age = current_app.config["ACTIVITY_METRICS_MAX_AGE"]
    try:
        redis.set(keys.activity_metrics(), json.dumps(metrics), ex=max_age)
    except Exception:
        current_app.logger.warning("could not store the activity snapshot in Redis")
    return metrics


def activity_metrics() -> dict:
    """The stored snapshot while it is fresh, otherwise a new one."""
    try:
        stored = redis.get(keys.activity_metrics())
    except Exception:
        stored = None
    return json.loads(stored) if stored else store_activity_metrics()


def record_online_sample() -> dict:
    """Remember how many users are online now (the online-users chart is drawn from these)."""
    now = utcnow().replace(microsecond=0)
    sample = db.session.get(OnlineSample, now) or OnlineSample(taken_at=now)
    sample.online, sample.total = online_users(), _count(User.id)
    db.session.add(sample)
    cutoff = now - timedelta(days=current_app.config["ONLINE_SAMPLE_RETENTION_DAYS"])
    pruned = db.session.execute(sa.delete(OnlineSample).where(OnlineSample.taken_at < cutoff)).rowcount
    db.session.commit()
    return {"online": sample.online, "total": sample.total, "taken_at": iso(now), "pruned": pruned}
