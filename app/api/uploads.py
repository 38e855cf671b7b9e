"""Profile and server images: user avatar/banner and the server's avatar/banner.

The views are routed on the blueprints owning their prefixes: users (/api/v1/users) and
system (/api/v1/system).
"""
from ..accounts.auth import current_user, login_required, owner_required
from ..admin.settings import settings_changed
from ..extensions import db
from ..files import intake
from ..ids import utcnow
from ..models import ServerSettings
from ..openapi import doc
from ..urls import absolute_url
from .cdn import uploaded_file
from .responses import ok
from .system import bp as system_bp
from .users import bp as users_bp

TAG = "uploads"  # the OpenAPI group these views are listed under

IMAGE_RESPONSES = {201: "Stored: the new URL", 400: "Damaged image or no file", 413: "Too large (bytes or pixels)",
                   415: "Not a PNG, JPEG, GIF or WebP image", 503: "Every image decode slot is busy: retry"}


def _replace_image(kind: str, fields: tuple[str, str], owner: str | None) -> tuple[str, str]:
    """Store an uploaded image as the one `kind` image of a user (or the server): (path, sha256)."""
    received = intake.receive(uploaded_file(*fields), images_only=True)
    directory = "avatars" if kind.endswith("avatar") else "banners"
    intake.drop_refs(kind, owner)  # the previous image becomes an orphan unless used elsewhere
    ref, _duplicate = intake.store(received, kind, directory, user_id=owner)
    return intake.url_of(ref), ref.sha256


def _user_image(field: str):
    """The signed-in user's avatar or banner from the upload."""
    me = current_user()
    url, sha256 = _replace_image(field, ("file", field), me.id)
    setattr(me, f"{field}_url", url)
    me.updated_at = utcnow()
    db.session.commit()
    intake.enqueue_processing(sha256, field)  # clean it and make the standard thumbnails
    return ok(201, message=f"{field.capitalize()} updated successfully", **{f"{field}_url": url})


def _server_image(field: str):
    """The server's avatar or banner from the upload (absolute, as server_info gives it)."""
    settings = ServerSettings.get()
    url, sha256 = _replace_image(f"server_{field}", (field, "file"), None)
    setattr(settings, f"{field}_url", url)
    db.session.commit()
    settings_changed()
    intake.enqueue_processing(sha256, field)
    return ok(201, message=f"Server {field} updated successfully", **{f"{field}_url": absolute_url(url)})


@users_bp.post("/profile/avatar")
@doc("Upload your avatar (PNG, JPEG, GIF or WebP)", {"file": "file*"}, responses=IMAGE_RESPONSES, tag=TAG)
@login_required
def user_avatar():
    return _user_image("avatar")


@users_bp.post("/profile/banner")
@doc("Upload your banner (PNG, JPEG, GIF or WebP)", {"file": "file*"}, responses=IMAGE_RESPONSES, tag=TAG)
@login_required
def user_banner():
    return _user_image("banner")


@system_bp.post("/upload-avatar")
@doc("Upload the server's avatar (owner)", {"avatar": "file*", "file": "file"}, auth="owner",
     responses=IMAGE_RESPONSES, tag=TAG)
@owner_required
def server_avatar():
    return _server_image("avatar")


@system_bp.post("/upload-banner")
@doc("Upload the server's banner (owner)", {"banner": "file*", "file": "file"}, auth="owner",
     responses=IMAGE_RESPONSES, tag=TAG)
@owner_required
def server_banner():
    return _server_image("banner")
