"""Passwords, auth tokens, the current user and the role checks on routes.

Row type: `Caller` is how the request path holds an account: a frozen row of the columns that
authorisation and message objects read (id, username, status, avatar_url, is_owner, is_admin,
is_banned, timeout_until, with the model's `roles` and `is_staff`). Every authenticated request gets one from its token;
`Caller.of(user)` makes one from a `User` where a route holds the ORM object, and
`callers_by_id()` loads several at once. Only routes that change an account use `User`.
"""
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, fields
from datetime import datetime
from functools import wraps

import bcrypt
import sqlalchemy as sa
from flask import current_app, g, request

from ..cache import ProcessCache
from ..database import Prepared
from ..endpoint import mark_role
from ..errors import APIError
from ..extensions import db
from ..ids import utcnow
from ..models import AuthToken, User
from ..params import raw_param, request_json

# Checked against when the username is unknown, so a miss costs as much as a wrong password:
# one per cost factor, since a hash made at another cost would answer measurably faster.
_dummy_hashes: ProcessCache[bytes] = ProcessCache(
    lambda rounds: bcrypt.hashpw(b"timing-equaliser", bcrypt.gensalt(rounds)))


def _dummy_hash() -> bytes:
    return _dummy_hashes.get(current_app.config["BCRYPT_ROUNDS"])


def hash_password(password: str) -> str:
    rounds = current_app.config["BCRYPT_ROUNDS"]
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


def check_password(user: User | None, password: str) -> bool:
    if user is None:
        bcrypt.checkpw(password.encode()[:72], _dummy_hash())
        return False
    return bcrypt.checkpw(password.encode()[:72], user.password_hash.encode())


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User) -> tuple[str, datetime]:
    """Create a token "<user_id>.<secret>"; only its digest is stored. The caller commits."""
    token = f"{user.id}.{secrets.token_urlsafe(32)}"
    expires_at = utcnow() + current_app.config["AUTH_TOKEN_TTL"]
    db.session.add(AuthToken(token_hash=token_digest(token), user_id=user.id, expires_at=expires_at))
    return token, expires_at


def revoke_tokens(user: User, keep: str | None = None) -> list[str]:
    """Delete every token of the user but the one whose digest is keep; returns the deleted
    digests (sockets opened with them close). The caller commits."""
    mine = AuthToken.user_id == user.id
    if keep is not None:
        mine = sa.and_(mine, AuthToken.token_hash != keep)
    digests = list(db.session.scalars(sa.select(AuthToken.token_hash).where(mine)))
    db.session.execute(sa.delete(AuthToken).where(mine))
    return digests


# "<user_id>.<secret>": a user id (a UUID) and the URL-safe secret that issue_token() makes.
TOKEN_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
                      r"\.[A-Za-z0-9_-]{1,128}")


def well_formed(token) -> bool:
    """Whether token has the shape of an auth_token (whether it verifies is another matter)."""
    return isinstance(token, str) and TOKEN_RE.fullmatch(token) is not None


def request_token():
    """The auth_token from the Bearer header, the JSON body, the form or the query string.

    None when none was sent; otherwise what was sent, which may be malformed (even not a string).
    """
    request_json()  # a malformed body is a 400 even when the token travels in the header
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    token = raw_param("auth_token")
    return None if token is None or token == "" else token


@dataclass(frozen=True, slots=True)
class Caller:
    """An account as the request path reads it (see the module docstring)."""

    id: str
    username: str
    status: str
    avatar_url: str | None
    is_owner: bool
    is_admin: bool
    # Moderation state, read by the same token query: the send path checks it without a query.
    is_banned: bool = False
    timeout_until: datetime | None = None

    roles = User.roles
    is_staff = User.is_staff

    @classmethod
    def of(cls, user: User) -> "Caller":
        return cls(*(getattr(user, field.name) for field in fields(cls)))


CALLER_COLUMNS = tuple(User.__table__.c[field.name] for field in fields(Caller))


def callers_by_id(user_ids: set[str]) -> dict[str, Caller]:
    """The accounts with these ids that still exist, by id, in one query."""
    if not user_ids:
        return {}
    rows = db.session.execute(sa.select(*CALLER_COLUMNS).where(User.id.in_(user_ids)))
    return {row[0]: Caller(*row) for row in rows}


# Every authenticated request runs this: one query, built once (the token row by digest,
# unexpired, joined to its user).
_TOKEN_CALLER = Prepared(
    sa.select(*CALLER_COLUMNS, AuthToken.token_hash)
    .join(AuthToken, AuthToken.user_id == User.id)
    .where(AuthToken.token_hash == sa.bindparam("digest"), AuthToken.expires_at > sa.bindparam("now", type_=sa.DateTime)))


def caller_for_token(token: str | None) -> Caller | None:
    """The account a token belongs to, or None when it is malformed, unknown, forged or expired."""
    if not well_formed(token):
        return None
    digest = token_digest(token)
    row = _TOKEN_CALLER.first({"digest": digest, "now": utcnow()})
    if row is None:
        return None
    *values, stored = row
    # The compares guard against a row whose owner differs from the id in front of the dot.
    if not hmac.compare_digest(stored, digest) or values[0] != token.split(".", 1)[0]:
        return None
    return Caller(*values)


def current_caller() -> Caller:
    """The signed-in account of this request; 400 when the token is malformed, 401 when it is
    missing or does not verify."""
    if "caller" not in g:
        token = request_token()
        if token is None:
            raise APIError(401, "Authentication required: send an auth_token", "MISSING_AUTH_TOKEN")
        if not well_formed(token):  # bad input rather than a failed check
            raise APIError(400, "The auth_token is malformed: expected <user_id>.<secret>", "MALFORMED_AUTH_TOKEN")
        caller = caller_for_token(token)
        if caller is None:
            raise APIError(401, "The auth_token is invalid or has expired", "INVALID_AUTH_TOKEN")
        g.caller = caller
    return g.caller


def current_user() -> User:
    """The signed-in account as an ORM object, for the routes that change it or need all of it."""
    if "user" not in g:
        user = db.session.get(User, current_caller().id)
        if user is None:  # deleted since its token was checked
            raise APIError(401, "The auth_token is invalid or has expired", "INVALID_AUTH_TOKEN")
        g.user = user
    return g.user


def login_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        current_caller()
        return view(*args, **kwargs)
    mark_role(wrapper, "user")
    return wrapper


def staff_required(view):
    """Admins and the owner."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_caller().is_staff:
            raise APIError(403, "Only admins and the server owner may do this", "MISSING_ACCESS")
        return view(*args, **kwargs)
    mark_role(wrapper, "admin")
    return wrapper


def owner_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_caller().is_owner:
            raise APIError(403, "Only the server owner may do this", "MISSING_ACCESS")
        return view(*args, **kwargs)
    mark_role(wrapper, "owner")
    return wrapper
