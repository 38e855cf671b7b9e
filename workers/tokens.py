"""Expired auth tokens are deleted; their hashes are of no use to anyone."""
import sqlalchemy as sa
from celery import shared_task

from app import tasks
from app.extensions import db
from app.ids import utcnow
from app.models import AuthToken


@shared_task(name=tasks.TOKENS_CLEANUP)
def delete_expired_tokens() -> dict:
    deleted = db.session.execute(sa.delete(AuthToken).where(AuthToken.expires_at <= utcnow())).rowcount
    db.session.commit()
    return {"deleted": deleted}
