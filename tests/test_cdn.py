"""The owner's CDN routes, de-duplication, reference counting and unlinking."""
import hashlib

import pytest

from tests.filedata import image_bytes, unique_png, upload


def cdn_upload(api, token, data, name="f.png", directory=None):
    fields = {"file": upload(data, name)}
    if directory:
        fields["directory"] = directory
    return api.call("POST", "/api/v1/cdn/upload", token=token, data=fields, content_type="multipart/form-data")


def avatar(api, token, data):
    response = api.call("POST", "/api/v1/users/profile/avatar", token=token, data={"file": upload(data, "a.png")},
                        content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    return response.get_json()["avatar_url"]


def info(api, owner, url):
    response = api.call("POST", "/api/v1/cdn/file-info", token=owner["token"], json={"file_url": url})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["file_info"]


def test_upload_is_owner_only(api, owner, admin, user):
    for account in (admin, user):
        assert cdn_upload(api, account["token"], unique_png(1)).status_code == 403
    assert cdn_upload(api, None, unique_png(1)).status_code == 401


def test_same_bytes_are_stored_once_and_reported_as_duplicate(api, owner, services):
    data = unique_png(7)
    first = cdn_upload(api, owner["token"], data, directory="stickers")
    second = cdn_upload(api, owner["token"], data, name="other-name.png", directory="stickers")
    assert first.status_code == second.status_code == 201
    assert first.get_json()["is_duplicate"] is False
    assert second.get_json()["is_duplicate"] is True
    assert first.get_json()["url"] == second.get_json()["url"]
    sha = hashlib.sha256(data).hexdigest()
    assert first.get_json()["url"] == f"/api/v1/cdn/file/stickers/{sha}.png"
    details = info(api, owner, "http://example.org" + first.get_json()["url"])
    assert details["sha256"] == sha and details["references"] == 2 and details["size"] == len(data)
    assert details["mime_type"] == "image/png"


def test_upload_directory_is_validated_and_image_directories_take_images_only(api, owner):
    response = cdn_upload(api, owner["token"], unique_png(1), directory="../etc")
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["path"] == "directory"
    response = cdn_upload(api, owner["token"], b"%PDF-1.4\n%%EOF\n", name="doc.pdf", directory="avatars")
    assert response.status_code == 415
    response = cdn_upload(api, owner["token"], b"%PDF-1.4\n%%EOF\n", name="doc.pdf")
    assert response.status_code == 201
    assert response.get_json()["url"].endswith(".pdf")


def test_text_named_png_is_stored_as_text_and_never_served_inline(api, owner):
    response = cdn_upload(api, owner["token"], b"hello, plain text\n", name="evil.png")
    assert response.status_code == 201
    url = response.get_json()["url"]
    assert url.endswith(".txt")
    served = api.call("GET", url)
    assert served.headers["Content-Type"].startswith("text/plain")
    assert served.headers["Content-Disposition"].startswith("attachment")
    assert served.headers["X-Content-Type-Options"] == "nosniff"


def test_html_and_svg_are_refused_on_every_upload_route(api, owner):
    for data, name in ((b"<html><body>hi</body></html>", "a.html"), (b"<svg onload=alert(1)></svg>", "a.svg"),
                       (b"  \n<script>alert(1)</script>", "a.txt")):
        response = cdn_upload(api, owner["token"], data, name=name)
        assert response.status_code == 415, name


def test_reference_counts_across_users(api, owner, user, other_user):
    data = unique_png(9)
    url_a = avatar(api, user["token"], data)
    url_b = avatar(api, other_user["token"], data)
    assert url_a == url_b
    assert info(api, owner, url_a)["references"] == 2
    avatar(api, user["token"], unique_png(10))  # alice moves on: one reference left
    assert info(api, owner, url_a)["references"] == 1
    assert api.call("GET", url_a).status_code == 200


def test_files_lists_each_path_once(api, owner, user):
    avatar(api, user["token"], unique_png(11))
    avatar(api, owner["token"], unique_png(11))
    cdn_upload(api, owner["token"], unique_png(12), directory="uploads")
    listed = api.call("POST", "/api/v1/cdn/files", token=owner["token"], json={"all": True}).get_json()["files"]
    assert len(listed) == 2
    assert {f["subdirectory"] for f in listed} == {"avatars", "uploads"}
    assert all({"filename", "size", "modified", "url", "type"} <= set(f) for f in listed)
    only = api.call("POST", "/api/v1/cdn/files", token=owner["token"], json={"directory": "avatars"}).get_json()
    assert [f["subdirectory"] for f in only["files"]] == ["avatars"]
    assert api.call("POST", "/api/v1/cdn/files", token=user["token"]).status_code == 403


def test_delete_file_unlinks_every_avatar_and_message_that_used_it(api, owner, user, other_user):
    data = unique_png(13)
    url = avatar(api, user["token"], data)
    avatar(api, other_user["token"], data)
    channel = api.call("POST", "/api/v1/channels/create/", token=owner["token"],
                       json={"channel_name": "pics"}).get_json()["channel_data"]["channel_id"]
    sent = api.call("POST", f"/api/v1/channels/{channel}/send_message", token=user["token"],
                    data={"message": "look", "attachments": upload(data, "x.png")}, content_type="multipart/form-data")
    assert sent.status_code == 201
    response = api.call("POST", "/api/v1/cdn/delete-file", token=owner["token"], json={"file_url": url})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["unlinked_references"] == 3
    for account in (user, other_user):
        me = api.call("POST", "/api/v1/users/profile", token=account["token"]).get_json()["user_data"]
        assert me["avatar_url"] is None
    history = api.call("GET", f"/api/v1/channels/{channel}/load_messages", token=user["token"]).get_json()
    assert history["messages"][0]["attachments"] == []
    assert api.call("GET", url).status_code == 404
    assert api.call("POST", "/api/v1/cdn/file-info", token=owner["token"], json={"file_url": url}).status_code == 404
    assert api.call("POST", "/api/v1/cdn/delete-file", token=owner["token"], json={"file_url": url}).status_code == 404


def test_delete_server_avatar_clears_the_setting(api, owner, app):
    response = api.call("POST", "/api/v1/system/upload-avatar", token=owner["token"],
                        data={"avatar": upload(unique_png(14), "s.png")}, content_type="multipart/form-data")
    url = response.get_json()["avatar_url"]
    assert api.call("POST", "/api/v1/cdn/delete-file", token=owner["token"], json={"file_url": url}).status_code == 200
    from app.models import ServerSettings
    with app.app_context():
        assert ServerSettings.get().avatar_url is None


def test_file_info_validates_the_url(api, owner):
    response = api.call("POST", "/api/v1/cdn/file-info", token=owner["token"], json={})
    assert response.status_code == 400
    response = api.call("POST", "/api/v1/cdn/file-info", token=owner["token"],
                        json={"file_url": "/api/v1/cdn/file/../../etc/passwd"})
    assert response.status_code == 404


def test_cleanup_route_is_owner_only(api, owner, user):
    assert api.call("POST", "/api/v1/cdn/cleanup-orphaned", token=user["token"]).status_code == 403
    response = api.call("POST", "/api/v1/cdn/cleanup-orphaned", token=owner["token"])
    assert response.status_code == 202
    body = response.get_json()
    assert body["task_id"] == "cdn_cleanup" and body["run_id"]


def test_exif_is_detected_so_the_original_is_never_served_with_it(api, owner, app):
    data = image_bytes("JPEG", (80, 60), gps=True)
    response = cdn_upload(api, owner["token"], data, name="gps.jpg")
    assert response.status_code == 201
    from app.extensions import db
    from app.models import StoredFile
    with app.app_context():
        stored = db.session.get(StoredFile, hashlib.sha256(data).hexdigest())
        assert stored.needs_clean is True


def test_transforms_of_one_file_are_bounded(api, owner, app, monkeypatch):
    monkeypatch.setitem(app.config, "CDN_MAX_VARIANTS", 3)
    data = image_bytes("PNG", (200, 100))
    cdn_upload(api, owner["token"], data)
    from app.files import variants
    from app.extensions import db
    from app.models import StoredFile
    from app.files.store import get_storage
    sha = hashlib.sha256(data).hexdigest()
    with app.app_context():
        stored = db.session.get(StoredFile, sha)
        names = [f"t{width}x{width // 2}_high.png" for width in (10, 20, 30, 40, 50)]
        for name in names:
            assert variants.produce(stored, name)
        kept = sorted(name for name, _ in get_storage().variants(sha))
        assert len(kept) == 3 and "t50x25_high.png" in kept
        assert not variants.produce(stored, "t5000x1_high.png")  # outside the allowed sizes
        assert not variants.produce(stored, "../../x.png")


@pytest.mark.parametrize("ext,save", [
    ("jpg", {"format": "JPEG", "comment": b"SecretCam-comment"}),
    ("png", {"format": "PNG", "pnginfo": "text"}),
    ("webp", {"format": "WEBP", "xmp": b"<x>SecretCam-xmp</x>"}),
    ("gif", {"format": "GIF", "comment": b"SecretCam-comment"}),
])
def test_re_encoded_images_carry_no_metadata(tmp_path, ext, save):
    from PIL import Image, PngImagePlugin

    from app.files import imaging
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"
    if save.get("pnginfo") == "text":
        save["pnginfo"] = PngImagePlugin.PngInfo()
        save["pnginfo"].add_text("Author", "SecretCam-text")
    if ext != "gif":
        save["exif"] = exif.tobytes()
    source = tmp_path / f"in.{ext}"
    Image.new("RGB", (40, 20), (9, 9, 9)).save(source, **save)
    assert b"SecretCam" in source.read_bytes()
    outputs = [imaging.clean(str(source), ext)] + [imaging.render(str(source), (10, 5), target, "high")
                                                   for target in ("jpg", "png", "webp", "gif")]
    assert all(b"SecretCam" not in output for output in outputs)
