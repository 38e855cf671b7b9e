"""Images are bounded by their decoded pixels (frames x width x height), not only by their bytes.

A small file can hold a huge image: an 8192x8192 PNG of one colour is about 200 KB and a
64-frame GIF of 1024x1024 frames about 120 KB. Both are refused before any decode, quickly;
ordinary images still pass; and decodes wait for one of a few per-process slots.
"""
import io
import time

import pytest
from PIL import Image

from tests.filedata import animated_gif, image_bytes, upload


def post_file(api, path, token, data, name):
    return api.call("POST", path, token=token, data={"file": upload(data, name)}, content_type="multipart/form-data")


def flat_png(side: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (side, side), (10, 20, 30)).save(out, "PNG")
    return out.getvalue()


def frames_gif(count: int, side: int) -> bytes:
    frames = [Image.new("P", (side, side), index) for index in range(count)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    return out.getvalue()


def send(api, token, channel, data, name):
    return api.call("POST", f"/api/v1/channels/{channel}/send_message", token=token,
                    data={"message": "x", "attachments": [upload(data, name)]}, content_type="multipart/form-data")


def test_a_small_png_of_8192x8192_pixels_is_refused_at_once(api, user):
    data = flat_png(8192)
    assert len(data) < 300_000
    started = time.monotonic()
    response = post_file(api, "/api/v1/users/profile/avatar", user["token"], data, "huge.png")
    elapsed = time.monotonic() - started
    assert response.status_code == 413, response.get_json()
    body = response.get_json()
    assert body["code"] == "IMAGE_TOO_LARGE" and body["status_code"] == 413 and "pixels" in body["detail"]
    assert elapsed < 1.0, f"refused after {elapsed:.2f} s: the image was decoded first"


def test_a_small_gif_of_64_large_frames_is_refused_at_once(api, user):
    data = frames_gif(64, 1024)
    assert len(data) < 300_000
    started = time.monotonic()
    response = post_file(api, "/api/v1/users/profile/avatar", user["token"], data, "many.gif")
    elapsed = time.monotonic() - started
    assert response.status_code == 413, response.get_json()
    assert response.get_json()["code"] == "IMAGE_TOO_LARGE" and "frames" in response.get_json()["detail"]
    assert elapsed < 1.0, f"refused after {elapsed:.2f} s: the frames were decoded first"


def test_attachments_and_cdn_uploads_have_the_same_budget(api, owner, user):
    channel = api.call("POST", "/api/v1/channels/create/", token=owner["token"],
                       json={"channel_name": "pics"}).get_json()["channel_data"]["channel_id"]
    refused = send(api, user["token"], channel, flat_png(8192), "huge.png")
    assert refused.status_code == 413 and refused.get_json()["code"] == "IMAGE_TOO_LARGE"
    cdn = post_file(api, "/api/v1/cdn/upload", owner["token"], frames_gif(64, 1024), "many.gif")
    assert cdn.status_code == 413 and cdn.get_json()["code"] == "IMAGE_TOO_LARGE"


@pytest.mark.parametrize("data,name", [
    (image_bytes("JPEG", (4000, 3000)), "photo.jpg"),
    (frames_gif(64, 256), "small-frames.gif"),
    (animated_gif(4, (80, 60)), "a.gif"),
])
def test_ordinary_images_still_pass(api, user, data, name):
    response = post_file(api, "/api/v1/users/profile/avatar", user["token"], data, name)
    assert response.status_code == 201, response.get_json()


def test_decodes_wait_for_a_slot_and_refuse_when_none_frees(api, app, user):
    from app.files import decoding
    app.config.update(IMAGE_DECODE_CONCURRENCY=1, IMAGE_DECODE_WAIT_SECONDS=0.2)
    try:
        with app.app_context(), decoding.decode_slot():  # every slot of this process is busy
            started = time.monotonic()
            busy = post_file(api, "/api/v1/users/profile/avatar", user["token"], image_bytes("PNG", (64, 64)), "a.png")
            assert time.monotonic() - started < 2
        assert busy.status_code == 503, busy.get_json()
        assert busy.get_json()["code"] == "IMAGE_DECODE_BUSY" and busy.headers["Retry-After"]
        freed = post_file(api, "/api/v1/users/profile/avatar", user["token"], image_bytes("PNG", (64, 64)), "a.png")
        assert freed.status_code == 201, freed.get_json()
    finally:
        app.config.update(IMAGE_DECODE_CONCURRENCY=2, IMAGE_DECODE_WAIT_SECONDS=10)
