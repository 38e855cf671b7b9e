"""The Celery paths on a real worker process: cleaning, thumbnails, transforms, orphan cleanup."""
import hashlib
import io
import os
import time
from datetime import timedelta

import pytest
from PIL import Image

from tests.filedata import animated_gif, image_bytes, unique_png, upload
from tests.api_helpers import declare_queues, eventually


@pytest.fixture(autouse=True)
def queues(worker, app):
    declare_queues(app)  # each test starts with a flushed Redis
    yield


def post(api, path, token, data, name="f.png", field="file"):
    response = api.call("POST", path, token=token, data={field: upload(data, name)}, content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def fetch_image(api, url, **query):
    response = api.call("GET", url, query=query)
    assert response.status_code == 200, (response.status_code, response.get_json(silent=True))
    return response, Image.open(io.BytesIO(response.data))


def test_photo_is_served_upright_and_without_its_metadata(api, owner):
    data = image_bytes("JPEG", (64, 48), exif_orientation=6, gps=True)
    assert b"SecretCam" in data
    url = post(api, "/api/v1/cdn/upload", owner["token"], data, "photo.jpg")["url"]
    response, img = fetch_image(api, url)
    assert img.size == (48, 64)  # rotated upright
    assert b"SecretCam" not in response.data and not img.getexif()
    assert response.headers["Content-Type"] == "image/jpeg"
    _, thumb = fetch_image(api, url, width=24)
    assert thumb.size == (24, 32) and not thumb.getexif()


def test_avatar_thumbnails_are_made_after_upload(api, user, app):
    data = image_bytes("PNG", (300, 300))
    url = post(api, "/api/v1/users/profile/avatar", user["token"], data)["avatar_url"]
    sha = hashlib.sha256(data).hexdigest()
    from app.files.store import get_storage
    with app.app_context():
        storage = get_storage()
        names = [f"t{size}x{size}_high.png" for size in (32, 64, 128, 256)]
        assert eventually(lambda: all(storage.variant_stat(sha, name) for name in names))
    response, img = fetch_image(api, url, size=64)
    assert img.size == (64, 64) and img.format == "PNG"


@pytest.mark.parametrize("query,size,fmt,mime", [
    ({"width": 100, "format": "webp"}, (100, 75), "WEBP", "image/webp"),
    ({"height": 30, "format": "png"}, (40, 30), "PNG", "image/png"),
    ({"size": 16}, (16, 12), "JPEG", "image/jpeg"),
    ({"width": 200, "height": 200, "format": "jpeg", "quality": "low"}, (200, 150), "JPEG", "image/jpeg"),
    ({"width": 4000}, (400, 300), "JPEG", "image/jpeg"),  # never enlarged
    ({"size": 64, "format": "gif"}, (64, 48), "GIF", "image/gif"),
    ({"format": "webp", "quality": "lossless"}, (400, 300), "WEBP", "image/webp"),
])
def test_transforms_have_the_exact_size_and_format(api, owner, query, size, fmt, mime):
    url = post(api, "/api/v1/cdn/upload", owner["token"], image_bytes("JPEG", (400, 300), quality=95), "p.jpg")["url"]
    response, img = fetch_image(api, url, **query)
    assert img.size == size and img.format == fmt
    assert response.headers["Content-Type"] == mime
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    again = api.call("GET", url, query=query, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304  # cached and validated like the original


def test_animated_gif_stays_animated(api, owner):
    url = post(api, "/api/v1/cdn/upload", owner["token"], animated_gif(4, (80, 60)), "a.gif")["url"]
    _, img = fetch_image(api, url, width=40)
    assert img.size == (40, 30) and img.format == "GIF" and img.n_frames == 4
    _, still = fetch_image(api, url, width=40, format="png")
    assert still.format == "PNG" and still.size == (40, 30)


def test_low_quality_is_smaller_than_high(api, owner):
    noisy = Image.frombytes("RGB", (300, 300), os.urandom(300 * 300 * 3))
    out = io.BytesIO()
    noisy.save(out, "PNG")
    url = post(api, "/api/v1/cdn/upload", owner["token"], out.getvalue())["url"]
    high, _ = fetch_image(api, url, format="jpg", quality="high")
    low, _ = fetch_image(api, url, format="jpg", quality="low")
    assert len(low.data) < len(high.data)


def _age(app, *shas, days=2):
    from app.extensions import db
    from app.ids import utcnow
    from app.models import StoredFile
    with app.app_context():
        for sha in shas:
            db.session.get(StoredFile, sha).last_used_at = utcnow() - timedelta(days=days)
        db.session.commit()


def _run_cleanup(api, owner, app):
    """Queue the cleanup as the owner would and follow its recorded run to the end."""
    response = api.call("POST", "/api/v1/cdn/cleanup-orphaned", token=owner["token"])
    assert response.status_code == 202
    run_id = response.get_json()["run_id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run = api.call("GET", f"/api/v1/background-tasks/runs/{run_id}", token=owner["token"]).get_json()["run"]
        if run["state"] in {"succeeded", "failed"}:
            assert run["state"] == "succeeded", run
            return run["result"]
        time.sleep(0.1)
    raise AssertionError(f"cleanup run {run_id} did not finish: {run}")


def _exists(app, sha):
    from app.extensions import db
    from app.models import StoredFile
    from app.files.store import get_storage
    with app.app_context():
        return db.session.get(StoredFile, sha) is not None, get_storage().stat(sha) is not None


def test_cleanup_removes_old_orphans_and_keeps_referenced_and_recent_files(api, owner, user, other_user, app):
    shared, old_orphan, recent_orphan = unique_png(21), unique_png(22), unique_png(23)
    sha = {name: hashlib.sha256(data).hexdigest()
           for name, data in (("shared", shared), ("old", old_orphan), ("recent", recent_orphan))}
    post(api, "/api/v1/users/profile/avatar", user["token"], old_orphan)
    post(api, "/api/v1/users/profile/avatar", user["token"], shared)  # old_orphan loses its only reference
    post(api, "/api/v1/users/profile/avatar", other_user["token"], recent_orphan)
    post(api, "/api/v1/users/profile/avatar", other_user["token"], shared)  # recent_orphan too, but just now
    _age(app, sha["shared"], sha["old"])
    from app.files.store import get_storage
    with app.app_context():
        staged = get_storage().stage(io.BytesIO(b"left behind by a failed upload"))
        get_storage().commit(staged)
        path = get_storage().blob_path(staged.sha256)
        os.utime(path, (time.time() - 3 * 86400,) * 2)
    result = _run_cleanup(api, owner, app)
    assert result["status"] == "done" and result["deleted"] == 1 and result["errors"] == 0
    assert result["untracked_deleted"] >= 1
    assert _exists(app, sha["old"]) == (False, False)
    assert _exists(app, sha["shared"]) == (True, True)  # old, but referenced twice
    assert _exists(app, sha["recent"]) == (True, True)  # inside the grace period
    assert not os.path.exists(path)
    me = api.call("POST", "/api/v1/users/profile", token=user["token"]).get_json()["user_data"]
    assert api.call("GET", me["avatar_url"]).status_code == 200


def test_one_failing_file_does_not_stop_the_cleanup(api, owner, app):
    shas = []
    for seed in (31, 32, 33):
        data = unique_png(seed)
        url = post(api, "/api/v1/cdn/upload", owner["token"], data)["url"]
        api.call("POST", "/api/v1/cdn/delete-file", token=owner["token"], json={"file_url": url})
        shas.append(hashlib.sha256(data).hexdigest())
    # Re-create rows whose blobs cannot be removed (a directory in the blob's place) for one file.
    from app.extensions import db
    from app.ids import utcnow
    from app.models import StoredFile
    from app.files.store import get_storage
    with app.app_context():
        for sha in shas:
            db.session.add(StoredFile(sha256=sha, size=1, mime_type="image/png", ext="png", kind="image",
                                      last_used_at=utcnow() - timedelta(days=3)))
        db.session.commit()
        stuck = get_storage().blob_path(shas[1])
        os.makedirs(os.path.join(stuck, "occupied"))
    result = _run_cleanup(api, owner, app)
    assert result["deleted"] == 2 and result["errors"] == 1
    assert _exists(app, shas[0])[0] is False and _exists(app, shas[2])[0] is False
    assert _exists(app, shas[1])[0] is True  # rolled back, retried next time
    os.rmdir(os.path.join(stuck, "occupied"))
    os.rmdir(stuck)


def test_cleanup_is_single_flight(api, owner, app):
    data = unique_png(41)
    post(api, "/api/v1/users/profile/avatar", owner["token"], data)
    post(api, "/api/v1/users/profile/avatar", owner["token"], unique_png(42))
    _age(app, hashlib.sha256(data).hexdigest())
    from app.locks import single_flight
    from workers.cdn import CLEANUP_LOCK
    with app.app_context(), single_flight(CLEANUP_LOCK, 60) as taken:
        assert taken
        assert _run_cleanup(api, owner, app)["status"] == "skipped"
        assert _exists(app, hashlib.sha256(data).hexdigest()) == (True, True)
    assert _run_cleanup(api, owner, app)["deleted"] == 1


def test_through_gunicorn_upload_transform_and_range(services, worker, api, owner):
    import requests

    from scripts.stack import Stack
    data = image_bytes("PNG", (120, 90))
    with Stack(services["env"], web_workers=2, threads=8) as stack:
        auth = {"Authorization": f"Bearer {owner['token']}"}
        response = requests.post(stack.url + "/api/v1/users/profile/avatar", headers=auth,
                                 files={"file": ("me.png", data, "image/png")}, timeout=30)
        assert response.status_code == 201, response.text
        url = stack.url + response.json()["avatar_url"]
        thumb = requests.get(url, params={"size": 32, "format": "webp"}, timeout=30)
        assert thumb.status_code == 200 and thumb.headers["Content-Type"] == "image/webp"
        assert Image.open(io.BytesIO(thumb.content)).size == (32, 24)
        part = requests.get(url, headers={"Range": "bytes=0-99"}, timeout=30)
        assert part.status_code == 206 and part.content == data[:100]
        bad = requests.post(stack.url + "/api/v1/users/profile/avatar", headers=auth,
                            files={"file": ("x.png", b"<svg/>", "image/png")}, timeout=30)
        assert bad.status_code == 415 and bad.json()["code"] == "UNSUPPORTED_FILE_TYPE"


def test_concurrent_uploads_of_the_same_bytes_store_one_file(services, worker, api, owner):
    from concurrent.futures import ThreadPoolExecutor

    import requests

    from scripts.stack import Stack
    data = unique_png(77, (256, 256))
    with Stack(services["env"], web_workers=2, threads=8) as stack:
        auth = {"Authorization": f"Bearer {owner['token']}"}

        def send(index):
            return requests.post(stack.url + "/api/v1/cdn/upload", headers=auth, timeout=60,
                                 files={"file": (f"{index}.png", data, "image/png")})

        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(send, range(16)))
    assert [r.status_code for r in responses] == [201] * 16
    assert sorted(r.json()["is_duplicate"] for r in responses) == [False] + [True] * 15
    assert len({r.json()["url"] for r in responses}) == 1
    details = api.call("POST", "/api/v1/cdn/file-info", token=owner["token"],
                       json={"file_url": responses[0].json()["url"]}).get_json()["file_info"]
    assert details["references"] == 16


def test_an_image_with_a_page_appended_is_served_re_encoded_without_it(api, owner):
    page = b"<html><body><script>alert(document.cookie)</script></body></html>"
    data = image_bytes("PNG", (50, 40)) + page
    url = post(api, "/api/v1/cdn/upload", owner["token"], data, "p.png")["url"]
    deadline = time.monotonic() + 20
    response = api.call("GET", url)
    while response.status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.2)
        response = api.call("GET", url)
    assert response.status_code == 200, response.get_json(silent=True)
    assert page not in response.data and b"<script" not in response.data
    img = Image.open(io.BytesIO(response.data))
    assert img.format == "PNG" and img.size == (50, 40)
    assert response.headers["Content-Type"] == "image/png"
