"""Chart aggregates: chart_data_update computes and stores buckets; chart requests only read them.

Counts (registrations, messages, channel creations) are stored per 5 minutes, hour and day;
online users as the highest sample seen in each bucket. Weeks and months are summed (or, for
online users, maxed) from the day buckets when a chart is read.
"""
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from ..extensions import db
from ..ids import utcnow
from ..models import Channel, ChartBucket, Message, OnlineSample, User

# metric -> (timestamp column, how buckets combine)
METRICS = {
    "registrations": (User.created_at, "sum"),
    "messages": (Message.sent_at, "sum"),
    "channels": (Channel.created_at, "sum"),
    "online": (OnlineSample.taken_at, "max"),
}
GRANULARITIES = {"5min": timedelta(minutes=5), "hour": timedelta(hours=1), "day": timedelta(days=1)}
# How far back each run recomputes a granularity (day counts: the whole history shown, since
# deletions change past days; online samples never change once a day is over).
WINDOWS = {"5min": timedelta(hours=2), "hour": timedelta(hours=48), "day": timedelta(days=366)}


@dataclass(frozen=True)
class Period:
    granularity: str  # stored granularity read
    unit: str  # 5min | hour | day | week | month
    points: int
    label: str  # strftime format of each label


PERIODS = {
    "1h": Period("5min", "5min", 12, "%H:%M"),
    "hourly": Period("hour", "hour", 24, "%H:00"),
    "24h": Period("hour", "hour", 24, "%H:00"),
    "daily": Period("day", "day", 7, "%b %d"),
    "7d": Period("day", "day", 7, "%b %d"),
    "30d": Period("day", "day", 30, "%b %d"),
    "90d": Period("day", "day", 90, "%b %d"),
    "weekly": Period("day", "week", 12, "%b %d"),
    "monthly": Period("day", "month", 12, "%b %Y"),
    "1y": Period("day", "month", 12, "%b %Y"),
}


def floor_time(moment: datetime, unit: str) -> datetime:
    """The start of the bucket holding moment (weeks start on Monday)."""
    if unit == "5min":
        return moment.replace(minute=moment.minute - moment.minute % 5, second=0, microsecond=0)
    if unit == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    return day


def step_back(moment: datetime, unit: str) -> datetime:
    if unit == "month":
        return (moment - timedelta(days=1)).replace(day=1)
    if unit == "week":
        return moment - timedelta(days=7)
    return moment - GRANULARITIES[unit]


def bucket_starts(period: Period, now: datetime) -> list[datetime]:
    """The start of each point of a period, oldest first, ending with the current bucket."""
    starts = [floor_time(now, period.unit)]
    while len(starts) < period.points:
        starts.append(step_back(starts[-1], period.unit))
    return starts[::-1]


def read_series(metric: str, period: Period, now: datetime | None = None) -> tuple[list[datetime], list[int]]:
    """The stored values of a metric over a period, zero where nothing happened."""
    starts = bucket_starts(period, now or utcnow())
    rows = db.session.execute(sa.select(ChartBucket.bucket_start, ChartBucket.value).where(
        ChartBucket.metric == metric, ChartBucket.granularity == period.granularity,
        ChartBucket.bucket_start >= starts[0])).all()
    combine = METRICS[metric][1]
    values = dict.fromkeys(starts, 0)
    for bucket_start, value in rows:
        key = floor_time(bucket_start, period.unit)
        if key in values:
            values[key] = values[key] + value if combine == "sum" else max(values[key], value)
    return starts, [values[start] for start in starts]


def _day_counts(column, since: datetime) -> Counter:
    """Rows per calendar day, grouped in the database (date() exists in SQLite and PostgreSQL)."""
    day = sa.func.date(column)
    counts = Counter()
    for value, count in db.session.execute(sa.select(day, sa.func.count()).where(column >= since).group_by(day)):
        value = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
        counts[datetime(value.year, value.month, value.day)] = count
    return counts


def _compute(metric: str, granularity: str, since: datetime) -> Counter:
    column, combine = METRICS[metric]
    if combine == "sum" and granularity == "day":
        return _day_counts(column, since)
    result = Counter()
    if combine == "sum":
        for (moment,) in db.session.execute(sa.select(column).where(column >= since)):
            result[floor_time(moment, granularity)] += 1
        return result
    for moment, online in db.session.execute(
            sa.select(OnlineSample.taken_at, OnlineSample.online).where(OnlineSample.taken_at >= since)):
        key = floor_time(moment, granularity)
        result[key] = max(result[key], online)
    return result


def update_all(now: datetime | None = None) -> dict:
    """Recompute every metric's recent buckets and store them; running it twice changes nothing."""
    now = now or utcnow()
    written = {}
    for metric, (_column, combine) in METRICS.items():
        for granularity, window in WINDOWS.items():
            if combine == "max" and granularity == "day":
                window = timedelta(days=2)
            since = floor_time(now - window, granularity)
            fresh = _compute(metric, granularity, since)
            stored = {row.bucket_start: row for row in db.session.scalars(sa.select(ChartBucket).where(
                ChartBucket.metric == metric, ChartBucket.granularity == granularity,
                ChartBucket.bucket_start >= since))}
            for start, row in stored.items():
                if start not in fresh:
                    db.session.delete(row)  # nothing left in that bucket (e.g. its messages were deleted)
            for start, value in fresh.items():
                row = stored.get(start)
                if row is None:
                    db.session.add(ChartBucket(metric=metric, granularity=granularity, bucket_start=start, value=value))
                elif row.value != value:
                    row.value = value
            written[f"{metric}.{granularity}"] = len(fresh)
    db.session.commit()
    return written
