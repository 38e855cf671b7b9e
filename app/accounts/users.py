"""Account rules shared by the API and the CLI: validation, creation, the first-owner claim."""
import re

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..errors import APIError
from ..extensions import db
from ..models import ServerSettings, User
from .auth import hash_password

USERNAME_RE = re.compile(r"[A-Za-z0-9_.\-]{3,32}")
USERNAME_RULE = "must be 3 to 32 letters, digits, '_', '.' or '-'"


def password_problem(password: str) -> str | None:
    """Why a password is refused (bcrypt reads at most 72 bytes), or None."""
    size = len(password.encode())
    if size < 8:
        return "must be at least 8 bytes"
    if size > 72:
        return "must be at most 72 bytes (UTF-8)"
    return None


def username_taken(username: str, except_user_id: str | None = None) -> bool:
    query = sa.select(User.id).where(User.username_key == username.lower())
    if except_user_id:
        query = query.where(User.id != except_user_id)
    return db.session.scalar(query) is not None


def create_user(username: str, password: str, make_owner: bool = False) -> User:
    """Create an account; the first account of a fresh server becomes its owner.

    Flushes the new row (a taken name is a 409 here) and claims ownership in the session's
    transaction; the caller commits."""
    if username_taken(username):
        raise APIError(409, "Username is already taken", "USERNAME_TAKEN")
    user = User(username=username, username_key=username.lower(), password_hash=hash_password(password))
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise APIError(409, "Username is already taken", "USERNAME_TAKEN")
    ServerSettings.get()
    # An atomic compare-and-set: of two concurrent first sign-ups only one becomes the owner.
    claimed = db.session.execute(
        sa.update(ServerSettings).where(ServerSettings.id == 1, ServerSettings.owner_user_id.is_(None))
        .values(owner_user_id=user.id)).rowcount
    if claimed or make_owner:
        user.is_owner = True
    return user
