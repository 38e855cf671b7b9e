"""Avatar, banner and server image uploads, and every kind of file the server must refuse."""
import io
import os

import pytest
from PIL import Image

from tests.filedata import animated_gif, image_bytes, png_bomb, truncated_jpeg, unique_png, upload

MIB = 1024 * 1024


def post_file(api, path, token, data, name="file.png", field="file", **extra):
    return api.call("POST", path, token=token, data={field: upload(data, name), **extra},
                    content_type="multipart/form-data")


def test_avatar_upload_returns_a_path_served_as_the_same_image(api, user):
    data = unique_png(1)
    response = post_file(api, "/api/v1/users/profile/avatar", user["token"], data)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status_code"] == 201 and body["message"]
    url = body["avatar_url"]
    assert url.startswith("/api/v1/cdn/file/avatars/") and url.endswith(".png")
    profile = api.call("POST", "/api/v1/users/profile", token=user["token"]).get_json()["user_data"]
    assert profile["avatar_url"] == url  # a path, not an absolute URL
    served = api.call("GET", url)
    assert served.status_code == 200
    assert served.data == data
    assert served.headers["Content-Type"] == "image/png"


def test_banner_and_avatar_accept_the_alternative_field_names(api, user):
    response = post_file(api, "/api/v1/users/profile/banner", user["token"], unique_png(2, (300, 100)), field="banner")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["banner_url"].startswith("/api/v1/cdn/file/banners/")
    response = post_file(api, "/api/v1/users/profile/avatar", user["token"], unique_png(3), field="avatar")
    assert response.status_code == 201


def test_upload_without_a_file_is_a_400(api, user):
    response = api.call("POST", "/api/v1/users/profile/avatar", token=user["token"], data={"x": "y"})
    assert response.status_code == 400
    assert response.get_json()["code"] == "MISSING_FILE"


def test_avatar_upload_requires_a_valid_token(api, owner):
    response = post_file(api, "/api/v1/users/profile/avatar", owner["id"] + ".forged-secret", unique_png(4))
    assert response.status_code == 401
    response = post_file(api, "/api/v1/users/profile/avatar", "nobody.secret", unique_png(4))
    assert response.status_code == 400 and response.get_json()["code"] == "MALFORMED_AUTH_TOKEN"


@pytest.mark.parametrize("data,name,status", [
    (b"just some text, not an image at all\n", "photo.png", 415),
    (b"<!DOCTYPE html><html><script>alert(1)</script></html>", "page.png", 415),
    (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
     "icon.svg", 415),
    (b"%PDF-1.4 not an image", "doc.png", 415),
    (truncated_jpeg(), "cut.jpg", 400),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "broken.png", 400),
])
def test_avatar_refuses_files_that_are_not_images(api, user, data, name, status):
    response = post_file(api, "/api/v1/users/profile/avatar", user["token"], data, name=name)
    assert response.status_code == status, response.get_json()
    assert response.get_json()["status_code"] == status
    profile = api.call("POST", "/api/v1/users/profile", token=user["token"]).get_json()["user_data"]
    assert profile["avatar_url"] is None


def test_decompression_bomb_is_refused(api, user):
    bomb = png_bomb(20000)
    assert len(bomb) < 200_000
    response = post_file(api, "/api/v1/users/profile/avatar", user["token"], bomb)
    assert response.status_code == 413
    assert response.get_json()["code"] == "IMAGE_TOO_LARGE"


def test_image_wider_than_8192_is_refused(api, user):
    response = post_file(api, "/api/v1/users/profile/avatar", user["token"], image_bytes("PNG", (8193, 4)))
    assert response.status_code == 413
    assert "8192" in response.get_json()["detail"]


def test_oversize_image_is_refused_by_the_settings_limit(api, user):
    noise = Image.frombytes("RGB", (1400, 1400), os.urandom(1400 * 1400 * 3))
    out = io.BytesIO()
    noise.save(out, "PNG", compress_level=0)
    assert out.tell() > 5 * MIB
    response = post_file(api, "/api/v1/users/profile/avatar", user["token"], out.getvalue())
    assert response.status_code == 413
    assert response.get_json()["code"] == "FILE_TOO_LARGE"


def test_animated_gif_avatar_is_accepted(api, user):
    response = post_file(api, "/api/v1/users/profile/avatar", user["token"], animated_gif(), name="a.gif")
    assert response.status_code == 201
    assert response.get_json()["avatar_url"].endswith(".gif")


def test_server_avatar_and_banner_are_owner_only(api, owner, user):
    denied = post_file(api, "/api/v1/system/upload-avatar", user["token"], unique_png(5), field="avatar")
    assert denied.status_code == 403
    response = post_file(api, "/api/v1/system/upload-avatar", owner["token"], unique_png(5), field="avatar")
    assert response.status_code == 201, response.get_json()
    avatar_url = response.get_json()["avatar_url"]
    assert avatar_url.startswith("http://localhost/api/v1/cdn/file/avatars/")
    response = post_file(api, "/api/v1/system/upload-banner", owner["token"], unique_png(6, (200, 50)), field="file")
    assert response.status_code == 201
    assert "/api/v1/cdn/file/banners/" in response.get_json()["banner_url"]
    served = api.call("GET", avatar_url.replace("http://localhost", ""))
    assert served.status_code == 200


def _set_settings(app, **values):
    from app.extensions import db
    from app.models import ServerSettings
    from app.admin.settings import settings_changed
    with app.app_context():
        settings = ServerSettings.get()
        for key, value in values.items():
            setattr(settings, key, value)
        db.session.commit()
    settings_changed()


def test_gif_has_its_own_larger_limit(api, user):
    noise = Image.frombytes("P", (2600, 2600), os.urandom(2600 * 2600))
    out = io.BytesIO()
    noise.save(out, "GIF")
    assert 5 * MIB < out.tell() < 10 * MIB
    response = post_file(api, "/api/v1/users/profile/avatar", user["token"], out.getvalue(), name="big.gif")
    assert response.status_code == 201, response.get_json()


def test_limits_and_allowed_types_come_from_the_server_settings(api, owner, app):
    pdf = b"%PDF-1.4\n" + b"0" * 4096
    _set_settings(app, max_file_size=1024)
    response = post_file(api, "/api/v1/cdn/upload", owner["token"], pdf, name="a.pdf")
    assert response.status_code == 413
    _set_settings(app, max_file_size=25 * MIB, allowed_file_types=["txt"])
    response = post_file(api, "/api/v1/cdn/upload", owner["token"], pdf, name="a.pdf")
    assert response.status_code == 415
    _set_settings(app, allowed_image_types=["png"])
    response = post_file(api, "/api/v1/users/profile/avatar", owner["token"], image_bytes("JPEG"), name="a.jpg")
    assert response.status_code == 415
    assert post_file(api, "/api/v1/users/profile/avatar", owner["token"], unique_png(1)).status_code == 201


def test_video_is_recognised_and_served_as_a_download(api, owner):
    mp4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + os.urandom(2048)
    response = post_file(api, "/api/v1/cdn/upload", owner["token"], mp4, name="clip.bin")
    assert response.status_code == 201
    url = response.get_json()["url"]
    assert url.endswith(".mp4")
    served = api.call("GET", url, headers={"Range": "bytes=0-7"})
    assert served.status_code == 206 and served.data == mp4[:8]
    assert served.headers["Content-Type"] == "video/mp4"
    assert served.headers["Content-Disposition"].startswith("attachment")


def test_every_file_route_is_in_the_openapi_document(api):
    paths = api.call("GET", "/openapi.json").get_json()["paths"]
    for path in ("/api/v1/cdn/upload", "/api/v1/cdn/files", "/api/v1/cdn/file-info", "/api/v1/cdn/delete-file",
                 "/api/v1/cdn/cleanup-orphaned", "/api/v1/cdn/file/{file_path}", "/cdn/{file_path}",
                 "/api/v1/users/profile/avatar", "/api/v1/users/profile/banner", "/api/v1/system/upload-avatar",
                 "/api/v1/system/upload-banner"):
        assert path in paths, path


@pytest.mark.parametrize("limit,shown", [(512 * 1024, "512 KiB"), (1536 * 1024, "1.5 MiB"), (25 * MIB, "25 MiB"),
                                         (1000, "1000 bytes")])
def test_size_refusal_names_the_limit_in_readable_units(api, owner, app, limit, shown):
    _set_settings(app, max_file_size=limit)
    pdf = b"%PDF-1.4\n" + b"0" * (limit + 10)
    response = post_file(api, "/api/v1/cdn/upload", owner["token"], pdf, name="a.pdf")
    assert response.status_code == 413
    body = response.get_json()
    assert body["code"] == "FILE_TOO_LARGE"
    assert f"larger than the {shown} allowed" in body["detail"], body["detail"]
