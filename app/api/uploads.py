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
from ..endpoint import endpoint
from ..fields import File, Fields
from ..urls import absolute_url
from .cdn import first_file
from .responses import ok
from .system import bp as system_bp
from .users import bp as users_bp

TAG = "uploads"  # the OpenAPI group these views are listed under

IMAGE_RESPONSES = {201: "Stored: the new URL", 400: "MISSING_FILE, EMPTY_FILE or a damaged image",
                   413: "FILE_TOO_LARGE, or IMAGE_TOO_LARGE in pixels",
                   415: "UNSUPPORTED_FILE_TYPE: not a PNG, JPEG, GIF or WebP image",
                   503: "IMAGE_DECODE_BUSY: every image decode slot is busy; retry"}


# Each image comes in one multipart field of two accepted names; first_file() takes the first sent.
class AvatarFile(Fields):
    file: File = None
    avatar: File = None


class BannerFile(Fields):
    file: File = None
    banner: File = None


def _replace_image(kind: str, upload, owner: str | None) -> tuple[str, str]:
    """Store an uploaded image as the one `kind` image of a user (or the server): (path, sha256)."""
    received = intake.receive(upload, images_only=True)
    directory = "avatars" if kind.endswith("avatar") else "banners"
    intake.drop_refs(kind, owner)  # the previous image becomes an orphan unless used elsewhere
    ref, _duplicate = intake.store(received, kind, directory, user_id=owner)
    return intake.url_of(ref), ref.sha256


def _user_image(form: Fields, field: str):
    """The signed-in user's avatar or banner from the upload (field "file", or named after it)."""
    me = current_user()
    url, sha256 = _replace_image(field, first_file(form, "file", field), me.id)
    setattr(me, f"{field}_url", url)
    me.updated_at = utcnow()
    db.session.commit()
    intake.enqueue_processing(sha256, field)  # clean it and make the standard thumbnails
    return ok(201, message=f"{field.capitalize()} updated successfully", **{f"{field}_url": url})


def _server_image(form: Fields, field: str):
    """The server's avatar or banner from the upload (absolute, as server_info gives it)."""
    upload = first_file(form, field, "file")
    settings = ServerSettings.get()
    url, sha256 = _replace_image(f"server_{field}", upload, None)
    setattr(settings, f"{field}_url", url)
    db.session.commit()
    settings_changed()
    intake.enqueue_processing(sha256, field)
    return ok(201, message=f"Server {field} updated successfully", **{f"{field}_url": absolute_url(url)})


@users_bp.post("/profile/avatar")
@login_required
@endpoint("Upload your avatar (PNG, JPEG, GIF or WebP) as the multipart field file (or avatar)", AvatarFile,
          IMAGE_RESPONSES, tag=TAG)
def user_avatar(form: AvatarFile):
    return _user_image(form, "avatar")


@users_bp.post("/profile/banner")
@login_required
@endpoint("Upload your banner (PNG, JPEG, GIF or WebP) as the multipart field file (or banner)", BannerFile,
          IMAGE_RESPONSES, tag=TAG)
def user_banner(form: BannerFile):
    return _user_image(form, "banner")


@system_bp.post("/upload-avatar")
@owner_required
@endpoint("Upload the server's avatar (owner) as the multipart field avatar (or file)", AvatarFile,
          IMAGE_RESPONSES, tag=TAG)
def server_avatar(form: AvatarFile):
    return _server_image(form, "avatar")


@system_bp.post("/upload-banner")
@owner_required
@endpoint("Upload the server's banner (owner) as the multipart field banner (or file)", BannerFile,
          IMAGE_RESPONSES, tag=TAG)
def server_banner(form: BannerFile):
    return _server_image(form, "banner")
