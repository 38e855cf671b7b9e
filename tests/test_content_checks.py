"""Content checks judge the whole file: markup anywhere, UTF-16 markup, magic bytes before HTML,
and images with bytes appended after their end."""
import hashlib

import pytest

from tests.filedata import animated_gif, image_bytes, unique_png, upload

PAGE = b"<html><body><script>alert(document.cookie)</script></body></html>"


def post_file(api, token, data, name, path="/api/v1/cdn/upload"):
    return api.call("POST", path, token=token, data={"file": upload(data, name)}, content_type="multipart/form-data")


def stored_row(app, data):
    from app.extensions import db
    from app.models import StoredFile
    with app.app_context():
        row = db.session.get(StoredFile, hashlib.sha256(data).hexdigest())
        db.session.remove()
        return row


@pytest.mark.parametrize("data", [
    b"plain notes\n" * 400 + b"<script>alert(1)</script>",  # past the first 4 KiB
    b"a" * (256 * 1024 - 3) + b"<svg onload=alert(1)>",  # across a read boundary
    b"x" * 300_000 + b"<!DOCTYPE html>" + PAGE,
])
def test_markup_anywhere_in_a_text_file_is_refused(api, owner, data):
    response = post_file(api, owner["token"], data, "notes.txt")
    assert response.status_code == 415, response.get_json()
    assert response.get_json()["code"] == "UNSUPPORTED_FILE_TYPE"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_html_is_not_taken_for_mp3_and_is_refused(api, owner, encoding):
    data = ("\ufeff" + PAGE.decode()).encode("utf-16-le" if encoding == "utf-16" else encoding)
    if encoding == "utf-16":
        assert data[:2] == b"\xff\xfe"  # the byte-order mark that looked like an MP3 frame
    response = post_file(api, owner["token"], data, "song.mp3")
    assert response.status_code == 415, response.get_json()


def test_a_real_mp3_frame_is_still_recognised(api, owner):
    frame = b"\xff\xfb\x90\x64" + b"\x00" * 413  # MPEG-1 layer III, 128 kbit/s, 44.1 kHz
    response = post_file(api, owner["token"], frame * 4, "tone.mp3")
    assert response.status_code == 201, response.get_json()
    served = api.call("GET", response.get_json()["url"])
    assert served.headers["Content-Type"] == "audio/mpeg"


@pytest.mark.parametrize("magic,name", [
    (b"%PDF-1.4\n", "doc.pdf"), (b"PK\x03\x04", "a.zip"), (b"ID3\x03\x00\x00\x00\x00\x00\x00", "a.mp3"),
    (b"OggS\x00\x02", "a.ogg"), (b"\x00\x00\x00\x18ftypisom", "a.mp4"),
])
@pytest.mark.parametrize("gap", [0, 10_000])
def test_magic_bytes_followed_by_markup_become_an_opaque_download(api, owner, app, magic, name, gap):
    data = magic + b"\x00" * gap + PAGE
    response = post_file(api, owner["token"], data, name)
    assert response.status_code == 201, response.get_json()
    served = api.call("GET", response.get_json()["url"])
    assert served.status_code == 200 and served.data == data
    assert served.headers["Content-Type"] == "application/octet-stream"
    assert served.headers["Content-Disposition"].startswith("attachment")
    assert served.headers["X-Content-Type-Options"] == "nosniff"


def test_a_plain_pdf_keeps_its_type(api, owner):
    data = b"%PDF-1.7\n1 0 obj\n%%EOF\n"
    served = api.call("GET", post_file(api, owner["token"], data, "r.pdf").get_json()["url"])
    assert served.headers["Content-Type"] == "application/pdf"


@pytest.mark.parametrize("data,name", [
    (unique_png(60) + PAGE, "a.png"),
    (image_bytes("JPEG", (40, 30)) + PAGE, "a.jpg"),
    (animated_gif(3) + PAGE, "a.gif"),
    (unique_png(61) + b"\x00garbage after the end", "b.png"),
    (image_bytes("WEBP", (40, 30)) + PAGE, "a.webp"),
])
def test_an_image_with_bytes_appended_is_never_served_as_uploaded(api, owner, app, data, name):
    response = post_file(api, owner["token"], data, name)
    assert response.status_code == 201, response.get_json()
    assert stored_row(app, data).needs_clean  # served only as the re-encoded copy
    served = api.call("GET", response.get_json()["url"])  # no worker here: the copy is not made yet
    assert served.status_code == 202
    assert PAGE not in served.data


def test_an_ordinary_image_is_served_as_uploaded(api, owner, app):
    data = unique_png(62)
    served = api.call("GET", post_file(api, owner["token"], data, "a.png").get_json()["url"])
    assert served.status_code == 200 and served.data == data
