"""CDN tasks: image transforms on demand and the orphan cleanup."""
import logging
import os
import time
from datetime import timedelta

import sqlalchemy as sa
from celery import shared_task
from flask import current_app

from app import tasks
from app.extensions import db
from app.files import variants
from app.files.store import get_storage
from app.ids import utcnow
from app.locks import single_flight
from app.models import FileRef, StoredFile

log = logging.getLogger(__name__)

CLEANUP_LOCK = "cdn.cleanup"


# Idempotent: a pool process that dies mid-transform hands the message back at once; a
# transform lost too often is marked failed (variants.start_attempt) instead of looping.
@shared_task(name=tasks.CDN_TRANSFORM, acks_late=True, reject_on_worker_lost=True)
def transform(sha256: str, name: str) -> bool:
    """Produce one derived image; a failure is remembered briefly so requests stop waiting."""
    try:
        stored = db.session.get(StoredFile, sha256)
        if stored is not None and get_storage().variant_stat(sha256, name) is not None:
            return True  # made meanwhile by an earlier copy of this task
        if not variants.start_attempt(sha256, name):
            return False
        with variants.running(sha256, name):
            made = stored is not None and variants.produce(stored, name)
        if not made:
            variants.transform_failed(sha256, name, "unknown file or variant")
        return made
    except Exception as exc:
        log.exception("transform %s of %s failed", name, sha256)
        variants.transform_failed(sha256, name, type(exc).__name__)
        return False
    finally:
        variants.transform_finished(sha256, name)


def _orphan_filter(cutoff):
    unreferenced = ~sa.exists(sa.select(FileRef.id).where(FileRef.sha256 == StoredFile.sha256))
    return sa.and_(StoredFile.last_used_at < cutoff, unreferenced)


def _delete_orphan(sha256: str, cutoff) -> int | None:
    """Delete one orphan row and its blob, returning the bytes freed; None when it was kept.

    The orphan conditions are checked again by the DELETE itself, so a file referenced or
    uploaded again since it was listed survives.
    """
    result = db.session.execute(sa.delete(StoredFile).where(StoredFile.sha256 == sha256, _orphan_filter(cutoff)))
    if result.rowcount != 1:
        db.session.rollback()
        return None
    stat = get_storage().stat(sha256)
    # The blob goes before the commit, while the row lock still keeps concurrent uploads waiting.
    get_storage().delete(sha256)
    db.session.commit()
    log.info("deleted orphan %s", sha256)
    return stat.size if stat else 0


def _delete_untracked(cutoff_ts: float) -> int:
    """Blobs with no row at all (an upload that failed after writing), older than the grace."""
    storage, removed = get_storage(), 0
    for sha256 in list(storage.list()):
        stat = storage.stat(sha256)
        if stat is None or stat.modified >= cutoff_ts or db.session.get(StoredFile, sha256) is not None:
            continue
        storage.delete(sha256)
        removed += 1
    for path in storage.stale_temp_files(cutoff_ts):
        os.unlink(path)
        removed += 1
    return removed


@shared_task(name=tasks.CDN_CLEANUP, ignore_result=False)
def cleanup(grace_seconds: int | None = None) -> dict:
    """Delete files nothing references, older than the grace period; never a referenced file."""
    grace = grace_seconds if grace_seconds is not None else current_app.config["CDN_ORPHAN_GRACE_SECONDS"]
    # A short lock renewed while the cleanup runs: a killed worker's lock lapses within seconds.
    config = current_app.config
    with single_flight(CLEANUP_LOCK, config["TASK_LOCK_SECONDS"], renew_every=config["RUN_HEARTBEAT_SECONDS"]) as taken:
        if not taken:
            return {"status": "skipped", "reason": "a cleanup is already running"}
        return _cleanup(grace)


def _cleanup(grace: int) -> dict:
    started = time.monotonic()
    deleted = freed = errors = 0
    cutoff = utcnow() - timedelta(seconds=grace)
    candidates = db.session.scalars(sa.select(StoredFile.sha256).where(_orphan_filter(cutoff))).all()
    db.session.rollback()
    for sha256 in candidates:
        try:
            size = _delete_orphan(sha256, cutoff)
            if size is not None:
                deleted += 1
                freed += size
        except Exception:  # one bad file never stops the cleanup
            db.session.rollback()
            errors += 1
            log.exception("could not delete orphan %s", sha256)
    untracked = _delete_untracked(time.time() - grace)
    return {"status": "done", "deleted": deleted, "bytes_freed": freed, "untracked_deleted": untracked,
            "errors": errors, "duration_seconds": round(time.monotonic() - started, 3)}
