"""/api/v1/users: accounts, sign-in, profiles and tokens."""
import sqlalchemy as sa
from flask import Blueprint
from sqlalchemy.exc import IntegrityError

from ..accounts import moderation
from ..admin import audit, invites
from ..limits import limiter
from ..messaging import events
from ..messaging.messages import channel_row
from ..accounts.users import USERNAME_RE, USERNAME_RULE, create_user, password_problem, username_taken
from ..accounts.auth import (Caller, check_password, current_user, hash_password, issue_token, login_required,
                             owner_required, request_token, revoke_tokens, token_digest)
from ..errors import APIError, ValidationError
from ..extensions import db
from ..ids import iso, utcnow
from ..models import User
from ..models.users import STATUSES
from ..endpoint import endpoint
from ..fields import Fields, Flag, Text
from .responses import ok

bp = Blueprint("users", __name__, url_prefix="/api/v1/users")


class Credentials(Fields):
    username: Text(max_len=64, min_len=1)  # empty: a validation error, not a wrong password
    password: Text(max_len=1024, min_len=1)


class Signup(Credentials):
    invite_code: Text(max_len=64) = None


def _token_fields(user: User) -> dict:
    token, expires_at = issue_token(user)
    return {"auth_token": token, "auth_token_expire_time": iso(expires_at)}


@bp.post("/signup")
@limiter.auth_limited
@endpoint("Create an account; the first account of a fresh server becomes its owner. invite_code admits under "
          "invite-only registration", Signup,
          {201: "Account created", 400: "INVALID_FORM_BODY: username or password breaks the rules",
           403: "INVITE_REQUIRED, REGISTRATION_CLOSED or INVALID_INVITE", 409: "USERNAME_TAKEN"})
def signup(form: Signup):
    username, password, invite_code = form.username, form.password, form.invite_code
    errors = []
    if not USERNAME_RE.fullmatch(username):
        errors.append({"path": "username", "message": USERNAME_RULE})
    if problem := password_problem(password):
        errors.append({"path": "password", "message": problem})
    if errors:
        raise ValidationError(errors)
    fresh_server = not invites.owner_exists()
    invite = None if fresh_server else invites.admit(invite_code)  # a failed sign-up gives the use back
    user = create_user(username, password)
    if fresh_server and not user.is_owner:
        # Another first sign-up claimed the owner while this one ran: it is an ordinary sign-up.
        invite = invites.admit(invite_code)
    for channel_id in invites.join_channels(invite, user.id):  # their readers see the new member
        events.member_added(channel_row(channel_id), user.id)
    fields = _token_fields(user)
    audit.record("user_signup", "New user signed up", f"{user.username} created an account",
                 user=Caller.of(user))
    db.session.commit()
    return ok(201, message="Account created successfully", **fields)


@bp.route("/signin", methods=["GET", "POST"])
@limiter.auth_limited
@endpoint("Sign in and receive a new auth_token", Credentials,
          {200: "Signed in", 401: "INVALID_CREDENTIALS: wrong username or password", 403: "BANNED"})
def signin(form: Credentials):
    username, password = form.username, form.password
    user = db.session.scalar(sa.select(User).where(User.username_key == username.lower()))
    if not check_password(user, password):
        audit.record("signin_failed", "Failed sign-in", f"Wrong password for {username[:32]!r}", commit=True)
        raise APIError(401, "Invalid username or password", "INVALID_CREDENTIALS")
    moderation.sign_in_refusal(user)  # 403 BANNED; lifts a temporary ban that has ended
    fields = _token_fields(user)
    audit.record("user_signin", "User signed in", f"{user.username} signed in", user=Caller.of(user))
    db.session.commit()
    return ok(200, message="Signin successfully", **fields)


class ProfileQuery(Fields):
    user_id: Text(max_len=64) = None


@bp.route("/profile", methods=["GET", "POST"])
@login_required
@endpoint("Your own profile, or another user's public profile with user_id", ProfileQuery,
          {200: "user_data", 404: "UNKNOWN_USER"})
def profile(query: ProfileQuery):
    me = current_user()
    user_id = query.user_id
    if not user_id or user_id == me.id:
        return ok(user_data=me.private_dict())
    other = db.session.get(User, user_id)
    if other is None:
        raise APIError(404, "User not found", "UNKNOWN_USER")
    return ok(user_data=other.public_dict())


class ProfileChange(Fields):
    new_username: Text(pattern=USERNAME_RE, pattern_message=USERNAME_RULE) = None
    status: Text(choices=STATUSES) = None
    about: Text(max_len=1000) = None
    new_password: Text(max_len=1024) = None
    old_password: Text(max_len=1024, description="Required with new_password") = None


@bp.put("/profile")
@login_required
@endpoint("Update your profile; every field sent is applied. A new password signs out every other "
          "session of the account (their tokens stop working, their sockets close with 4001); the "
          "token of this request stays valid", ProfileChange,
          {200: "Updated", 400: "INVALID_FORM_BODY: a field breaks its rule, or nothing to update",
           401: "INVALID_PASSWORD: wrong old_password", 409: "USERNAME_TAKEN"})
def update_profile(form: ProfileChange):
    me = current_user()
    new_username, status, about = form.new_username, form.status, form.about
    new_password, old_password = form.new_password, form.old_password
    errors = []
    if new_password is not None:
        if problem := password_problem(new_password):
            errors.append({"path": "new_password", "message": problem})
        if old_password is None:
            errors.append({"path": "old_password", "message": "is required to change the password"})
    if errors:
        raise ValidationError(errors)

    updated, revoked = [], []
    if new_password is not None:
        if not check_password(me, old_password):
            raise APIError(401, "old_password is wrong", "INVALID_PASSWORD")
        me.password_hash = hash_password(new_password)
        # Every other session ends with the old password; the caller's own token stays valid,
        # so the client that changed it stays signed in.
        revoked = revoke_tokens(me, keep=token_digest(request_token()))
        updated.append("password")
    if new_username is not None and new_username != me.username:
        if username_taken(new_username, except_user_id=me.id):
            raise APIError(409, "Username is already taken", "USERNAME_TAKEN")
        me.username, me.username_key = new_username, new_username.lower()
        updated.append("username")
    if status is not None:
        me.status = status
        updated.append("status")
    if about is not None:
        me.about = about
        updated.append("about")
    if not updated:
        raise ValidationError([{"path": "body", "message": "send at least one field to update"}])
    me.updated_at = utcnow()
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent request took the name between the check and the update
        db.session.rollback()
        raise APIError(409, "Username is already taken", "USERNAME_TAKEN")
    events.tokens_revoked(me.id, revoked, reason="Password changed")  # their sockets close with 4001
    return ok(message="Profile updated successfully", updated_fields=updated)


class PasswordCheck(Fields):
    password: Text(max_len=1024)


@bp.route("/profile/reset-auth-token", methods=["POST", "PUT"])
@login_required
@endpoint("Replace your auth_token; every older token stops working at once", PasswordCheck,
          {200: "New token", 401: "INVALID_PASSWORD: wrong password"})
def reset_auth_token(form: PasswordCheck):
    me = current_user()
    if not check_password(me, form.password):
        raise APIError(401, "Password is wrong", "INVALID_PASSWORD")
    revoked = revoke_tokens(me)
    fields = _token_fields(me)
    audit.record("token_reset", "Auth token reset", f"{me.username} replaced their auth_token",
                 user=Caller.of(me))
    db.session.commit()
    events.tokens_revoked(me.id, revoked)
    return ok(message="auth_token reset successfully", **fields)


@bp.get("/list")
@login_required
@endpoint("Every account's public profile", statuses={200: "users"})
def list_users():
    users = db.session.scalars(sa.select(User).order_by(User.created_at, User.id)).all()
    return ok(users=[user.public_dict() for user in users])


class RolesChange(Fields):
    is_admin: Flag


@bp.route("/<user_id>/roles", methods=["PUT", "POST"])
@owner_required
@endpoint("Grant or revoke the admin role (owner only)", RolesChange,
          {200: "Roles updated", 400: "INVALID_TARGET: the owner's roles", 404: "UNKNOWN_USER"})
def set_roles(form: RolesChange, user_id: str):
    is_admin = form.is_admin
    user = db.session.get(User, user_id)
    if user is None:
        raise APIError(404, "User not found", "UNKNOWN_USER")
    if user.is_owner:
        raise APIError(400, "The owner's roles cannot be changed", "INVALID_TARGET")
    user.is_admin = is_admin
    db.session.commit()
    return ok(message="Roles updated successfully", user_data=user.public_dict())
