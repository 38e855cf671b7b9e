"""What the owner uses to run the server: blocked addresses, the audit log, task runs, chart aggregates."""
import ipaddress
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..ids import iso, new_uuid, utcnow, uuid7


class BlockedIP(db.Model):
    """An address or CIDR range refused on every route; `network` is its normalised form."""

    __tablename__ = "blocked_ips"

    network: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(sa.String(500), default="")
    blocked_by: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    blocked_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def display(self) -> str:
        """A single address without its /32 or /128, a range as written."""
        network = ipaddress.ip_network(self.network)
        return str(network.network_address) if network.num_addresses == 1 else self.network

    def to_dict(self) -> dict:
        return {"ip": self.display, "reason": self.reason, "blocked_at": iso(self.blocked_at)}


class AuditEvent(db.Model):
    """One security-relevant action, shown by recent-activity."""

    __tablename__ = "audit_events"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=uuid7)
    type: Mapped[str] = mapped_column(sa.String(32), index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.String(1000), default="")
    user_id: Mapped[str | None] = mapped_column(sa.String(36))
    username: Mapped[str | None] = mapped_column(sa.String(32))
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    details: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    def to_dict(self) -> dict:
        user = {"id": self.user_id, "username": self.username} if self.user_id else None
        return {"id": self.id, "type": self.type, "title": self.title, "description": self.description,
                "timestamp": iso(self.created_at), "user": user, "metadata": {**self.details, "ip": self.ip}}


class TaskRun(db.Model):
    """One run of a background task: queued by an owner or started by the schedule."""

    __tablename__ = "task_runs"
    __table_args__ = (sa.Index("ix_task_runs_task_id_queued_at", "task_id", "queued_at"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_uuid)
    task_id: Mapped[str] = mapped_column(sa.String(64))
    trigger: Mapped[str] = mapped_column(sa.String(16), default="manual")  # manual | schedule | retry (of a lost run)
    state: Mapped[str] = mapped_column(sa.String(16), default="queued")  # queued|running|succeeded|failed
    requested_by: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    # Written by the running worker every RUN_HEARTBEAT_SECONDS; a stale one means the worker died.
    heartbeat_at: Mapped[datetime | None] = mapped_column()
    duration_ms: Mapped[int | None] = mapped_column()
    result: Mapped[dict | None] = mapped_column(sa.JSON)
    error: Mapped[str | None] = mapped_column(sa.String(2000))

    def to_dict(self) -> dict:
        return {"run_id": self.id, "task_id": self.task_id, "trigger": self.trigger, "state": self.state,
                "requested_by": self.requested_by, "queued_at": iso(self.queued_at),
                "started_at": iso(self.started_at), "finished_at": iso(self.finished_at),
                "heartbeat_at": iso(self.heartbeat_at),
                "duration_ms": self.duration_ms, "result": self.result, "error": self.error}


class ChartBucket(db.Model):
    """One aggregated value of a chart metric over one time bucket (written by chart_data_update)."""

    __tablename__ = "chart_buckets"

    metric: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    granularity: Mapped[str] = mapped_column(sa.String(8), primary_key=True)  # 5min | hour | day
    bucket_start: Mapped[datetime] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OnlineSample(db.Model):
    """How many users were online at one moment (recorded by server_stats_update)."""

    __tablename__ = "online_samples"

    taken_at: Mapped[datetime] = mapped_column(primary_key=True)
    online: Mapped[int] = mapped_column()
    total: Mapped[int] = mapped_column()
