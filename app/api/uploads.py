"""Profile and server images: user avatar/banner and the server's avatar/banner."""
from flask import Blueprint

from .. import files
from ..auth import current_user, login_required, owner_required
from ..extensions import db
from ..ids import utcnow
from ..models import ServerSettings
from ..models.server import settings_changed
from ..openapi import doc
from ..urls import absolute_url
from .cdn import uploaded_file
from .responses import ok

bp = Blueprint("uploads", __name__, url_prefix="/api/v1")

IMAGE_RESPONSES = {201: "Stored: the new URL", 400: "Damaged image or no file", 413: "Too large",
                   415: "Not a PNG, JPEG, GIF or WebP image"}


def _replace_image(kind: str, fields: tuple[str, str], owner: str | None):
    """Store an image upload as the one `kind` image of a user (or of the server)."""
    received = files.receive(uploaded_file(*fields), images_only=True)
    directory = "avatars" if kind.endswith("avatar") else "banners"
    files.drop_refs(kind, owner)  # the previous image becomes an orphan unless used elsewhere
    ref, _duplicate = files.store(received, kind, directory, user_id=owner or current_user().id)
    return ref


def _finish(ref, purpose: str) -> None:
    """Commit, then have the workers clean the image and make its thumbnails."""
    db.session.commit()
    files.enqueue_processing(ref.sha256, purpose)


@bp.post("/users/profile/avatar")
@doc("Upload your avatar (PNG, JPEG, GIF or WebP)", {"file": "file*"}, responses=IMAGE_RESPONSES)
@login_required
def user_avatar():
    me = current_user()
    ref = _replace_image("avatar", ("file", "avatar"), me.id)
    me.avatar_url = files.url_of(ref)
    me.updated_at = utcnow()
    _finish(ref, "avatar")
    return ok(201, message="Avatar updated successfully", avatar_url=me.avatar_url)


@bp.post("/users/profile/banner")
@doc("Upload your banner (PNG, JPEG, GIF or WebP)", {"file": "file*"}, responses=IMAGE_RESPONSES)
@login_required
def user_banner():
    me = current_user()
    ref = _replace_image("banner", ("file", "banner"), me.id)
    me.banner_url = files.url_of(ref)
    me.updated_at = utcnow()
    _finish(ref, "banner")
    return ok(201, message="Banner updated successfully", banner_url=me.banner_url)


@bp.post("/system/upload-avatar")
@doc("Upload the server's avatar (owner)", {"avatar": "file*", "file": "file"}, auth="owner",
     responses=IMAGE_RESPONSES)
@owner_required
def server_avatar():
    settings = ServerSettings.get()
    ref = _replace_image("server_avatar", ("avatar", "file"), None)
    settings.avatar_url = files.url_of(ref)
    _finish(ref, "avatar")
    settings_changed()
    return ok(201, message="Server avatar updated successfully", avatar_url=absolute_url(settings.avatar_url))


@bp.post("/system/upload-banner")
@doc("Upload the server's banner (owner)", {"banner": "file*", "file": "file"}, auth="owner",
     responses=IMAGE_RESPONSES)
@owner_required
def server_banner():
    settings = ServerSettings.get()
    ref = _replace_image("server_banner", ("banner", "file"), None)
    settings.banner_url = files.url_of(ref)
    _finish(ref, "banner")
    settings_changed()
    return ok(201, message="Server banner updated successfully", banner_url=absolute_url(settings.banner_url))
