"""Post-processing of uploads: upright, metadata-free copies and the standard thumbnails."""
import logging

from celery import shared_task

from app import tasks
from app.extensions import db
from app.files import variants
from app.ids import utcnow
from app.models import StoredFile

log = logging.getLogger(__name__)


@shared_task(name=tasks.UPLOADS_PROCESS)
def process(sha256: str, purpose: str = "upload") -> dict:
    """Clean an image upload (orientation, metadata) and make its thumbnails; idempotent."""
    stored = db.session.get(StoredFile, sha256)
    if stored is None or not stored.is_image:
        return {"sha256": sha256, "made": [], "status": "skipped"}
    names = ([variants.clean_name(stored)] if stored.needs_clean else []) + variants.standard_names(stored, purpose)
    made = []
    for name in names:
        try:
            variants.produce(stored, name)
            made.append(name)
        except Exception:  # one bad variant must not stop the others
            log.exception("could not make %s of %s", name, sha256)
    stored.processed_at = utcnow()
    db.session.commit()
    return {"sha256": sha256, "made": made, "status": "done"}
