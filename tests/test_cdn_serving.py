"""Serving: traversal, private attachments, validators, ranges, attachments on messages."""
import hashlib
from urllib.parse import parse_qsl

import pytest

from tests.filedata import image_bytes, unique_png, upload


def make_channel(api, owner, name="general", private=False):
    response = api.call("POST", "/api/v1/channels/create/", token=owner["token"],
                        json={"channel_name": name, "is_private": private})
    return response.get_json()["channel_data"]["channel_id"]


def send(api, token, channel, *files, message="here"):
    data = {"message": message, "attachments": [upload(content, name) for content, name in files]}
    return api.call("POST", f"/api/v1/channels/{channel}/send_message", token=token, data=data,
                    content_type="multipart/form-data")


def test_attachments_are_stored_and_listed_on_the_message(api, owner, user):
    channel = make_channel(api, owner)
    png, pdf = unique_png(1), b"%PDF-1.7\n1 0 obj\n%%EOF\n"
    response = send(api, user["token"], channel, (png, "pic.png"), (pdf, "report.pdf"))
    assert response.status_code == 201, response.get_json()
    urls = response.get_json()["attachments"]
    assert urls == [f"/api/v1/cdn/file/attachments/{channel}/{hashlib.sha256(png).hexdigest()}.png",
                    f"/api/v1/cdn/file/attachments/{channel}/{hashlib.sha256(pdf).hexdigest()}.pdf"]
    history = api.call("GET", f"/api/v1/channels/{channel}/load_messages", token=user["token"]).get_json()
    assert history["messages"][0]["attachments"] == urls
    assert api.call("GET", urls[0]).data == png
    document = api.call("GET", urls[1])
    assert document.headers["Content-Type"] == "application/pdf"
    assert document.headers["Content-Disposition"] == "attachment; filename=report.pdf"


def test_attachments_only_message_and_too_many_attachments(api, owner, user):
    channel = make_channel(api, owner)
    assert send(api, user["token"], channel, (unique_png(2), "a.png"), message="").status_code == 201
    files = [(unique_png(10 + i), f"{i}.png") for i in range(11)]
    response = send(api, user["token"], channel, *files)
    assert response.status_code == 400
    assert response.get_json()["code"] == "TOO_MANY_ATTACHMENTS"


def test_one_bad_attachment_refuses_the_whole_message(api, owner, user):
    channel = make_channel(api, owner)
    response = send(api, user["token"], channel, (unique_png(3), "ok.png"), (b"<svg></svg>", "x.svg"))
    assert response.status_code == 415
    history = api.call("GET", f"/api/v1/channels/{channel}/load_messages", token=user["token"]).get_json()
    assert history["messages"] == []


def test_private_attachments_only_for_members(api, owner, user, other_user):
    channel = make_channel(api, owner, "secret", private=True)
    api.call("PUT", f"/api/v1/channels/{channel}/add_user", token=owner["token"], json={"to_add_user_id": user["id"]})
    url = send(api, user["token"], channel, (unique_png(4), "p.png")).get_json()["attachments"][0].split("?")[0]
    assert api.call("GET", url).status_code == 404  # anonymous, without the signature
    assert api.call("GET", url, token=other_user["token"]).status_code == 404
    assert api.call("GET", url, headers={"Authorization": f"Bearer {other_user['token']}"}).status_code == 404
    member = api.call("GET", url, token=user["token"])
    assert member.status_code == 200
    assert "private" in member.headers["Cache-Control"] and "public" not in member.headers["Cache-Control"]
    assert api.call("GET", url, token=owner["token"]).status_code == 200
    assert api.call("GET", url.replace("/api/v1/cdn/file/", "/cdn/"), token=user["token"]).status_code == 200


def test_private_history_carries_signed_links_a_browser_can_load(api, owner, user, other_user):
    """An <img src> sends no token: the links in a member's history are signed instead."""
    channel = make_channel(api, owner, "signed", private=True)
    api.call("PUT", f"/api/v1/channels/{channel}/add_user", token=owner["token"], json={"to_add_user_id": user["id"]})
    png = unique_png(40)
    sent = send(api, user["token"], channel, (png, "p.png"), (unique_png(41), "q.png")).get_json()["attachments"]
    plain = [link.split("?")[0] for link in sent]
    history = api.call("GET", f"/api/v1/channels/{channel}/load_messages", token=user["token"]).get_json()
    signed = history["messages"][0]["attachments"]
    assert [link.split("?")[0] for link in signed] == plain
    path, query = signed[0].split("?")
    params = dict(parse_qsl(query))
    assert set(params) == {"exp", "sig"}
    assert api.call("GET", path, query=params).data == png  # no token at all
    assert api.call("GET", path.replace("/api/v1/cdn/file/", "/cdn/"), query=params).status_code == 200
    tampered = {**params, "sig": params["sig"][:-1] + ("0" if params["sig"][-1] != "0" else "1")}
    assert api.call("GET", path, query=tampered).status_code == 404
    assert api.call("GET", path, query={**params, "exp": str(int(params["exp"]) + 1)}).status_code == 404
    assert api.call("GET", path, query={**params, "exp": "1"}).status_code == 404
    other_path = signed[1].split("?")[0]
    assert api.call("GET", other_path, query=params).status_code == 404  # a signature names one file


def test_send_response_links_private_attachments_a_browser_can_load(api, owner, user):
    """The sender's own answer carries the same signed links as history, usable without a token."""
    channel = make_channel(api, owner, "sent-signed", private=True)
    api.call("PUT", f"/api/v1/channels/{channel}/add_user", token=owner["token"], json={"to_add_user_id": user["id"]})
    png = unique_png(42)
    response = send(api, user["token"], channel, (png, "p.png"))
    assert response.status_code == 201, response.get_json()
    link = response.get_json()["attachments"][0]
    path, query = link.split("?")
    assert set(dict(parse_qsl(query))) == {"exp", "sig"}
    fetched = api.call("GET", path, query=dict(parse_qsl(query)))
    assert fetched.status_code == 200 and fetched.data == png
    history = api.call("GET", f"/api/v1/channels/{channel}/load_messages", token=user["token"]).get_json()
    assert history["messages"][0]["attachments"] == [link]


def test_public_attachment_is_public_and_cacheable(api, owner, user):
    channel = make_channel(api, owner)
    url = send(api, user["token"], channel, (unique_png(5), "p.png")).get_json()["attachments"][0]
    response = api.call("GET", url)
    assert response.status_code == 200
    assert "public" in response.headers["Cache-Control"] and "max-age" in response.headers["Cache-Control"]


@pytest.mark.parametrize("path", [
    "/api/v1/cdn/file/../../etc/passwd",
    "/api/v1/cdn/file/..%2f..%2fetc%2fpasswd",
    "/api/v1/cdn/file/%2e%2e/%2e%2e/etc/passwd",
    "/api/v1/cdn/file/avatars/..%2f..%2f..%2fconfig.py",
    "/api/v1/cdn/file/avatars/%2e%2e%2f%2e%2e%2fkeys%2fmessages.key",
    "/cdn/....//....//etc/passwd",
    "/api/v1/cdn/file//etc/passwd",
    "/api/v1/cdn/file/avatars/" + "0" * 64 + ".png",
    "/api/v1/cdn/file/tmp/x",
    "/api/v1/cdn/file/blobs/00/00/" + "0" * 64,
])
def test_traversal_and_unknown_paths_are_404(api, owner, path):
    response = api.call("GET", path, follow_redirects=True)  # "//" is merged by a redirect first
    assert response.status_code == 404
    assert response.get_json()["status_code"] == 404


def test_traversal_cannot_reach_a_real_blob_by_its_disk_path(api, owner, services):
    data = unique_png(6)
    api.call("POST", "/api/v1/cdn/upload", token=owner["token"], data={"file": upload(data, "a.png")},
             content_type="multipart/form-data")
    sha = hashlib.sha256(data).hexdigest()
    for path in (f"files/blobs/{sha[:2]}/{sha[2:4]}/{sha}", f"uploads/../blobs/{sha[:2]}/{sha[2:4]}/{sha}",
                 f"uploads/%2e%2e/files/blobs/{sha[:2]}/{sha[2:4]}/{sha}"):
        assert api.call("GET", "/api/v1/cdn/file/" + path).status_code == 404
    assert api.call("GET", f"/api/v1/cdn/file/uploads/{sha}.png").status_code == 200


def test_etag_304_and_range_206(api, owner):
    data = image_bytes("PNG", (300, 200))
    url = api.call("POST", "/api/v1/cdn/upload", token=owner["token"], data={"file": upload(data, "a.png")},
                   content_type="multipart/form-data").get_json()["url"]
    first = api.call("GET", url)
    etag = first.headers["ETag"]
    assert hashlib.sha256(data).hexdigest() in etag
    assert first.headers["Accept-Ranges"] == "bytes"
    again = api.call("GET", url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    part = api.call("GET", url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.data == data[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    tail = api.call("GET", url, headers={"Range": "bytes=-5"})
    assert tail.status_code == 206 and tail.data == data[-5:]
    outside = api.call("GET", url, headers={"Range": f"bytes={len(data) + 10}-"})
    assert outside.status_code == 416
    head = api.call("HEAD", url)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(data)


def test_deleting_a_message_or_channel_drops_its_references(api, owner, user):
    channel = make_channel(api, owner)
    data = unique_png(7)
    sent = send(api, user["token"], channel, (data, "a.png")).get_json()
    url = sent["attachments"][0]
    info = lambda: api.call("POST", "/api/v1/cdn/file-info", token=owner["token"], json={"file_url": url})
    assert info().get_json()["file_info"]["references"] == 1
    deleted = api.call("DELETE", f"/api/v1/channels/{channel}/delete_message", token=user["token"],
                       json={"message_id": sent["message_id"]})
    assert deleted.status_code == 204
    assert info().status_code == 404  # no path uses it any more
    assert api.call("GET", url).status_code == 404
    url = send(api, user["token"], channel, (data, "a.png")).get_json()["attachments"][0]
    assert api.call("GET", url).status_code == 200
    assert api.call("DELETE", f"/api/v1/channels/{channel}/delete", token=owner["token"]).status_code == 200
    assert api.call("GET", url).status_code == 404


@pytest.mark.parametrize("query,field", [
    ("size=100", "size"), ("width=0", "width"), ("height=5000", "height"), ("format=bmp", "format"),
    ("quality=best", "quality"), ("size=64&width=10", "size"), ("width=abc", "width"),
])
def test_bad_transform_parameters_are_400(api, owner, query, field):
    url = api.call("POST", "/api/v1/cdn/upload", token=owner["token"], data={"file": upload(unique_png(8), "a.png")},
                   content_type="multipart/form-data").get_json()["url"]
    response = api.call("GET", url, query=dict(parse_qsl(query)))
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["path"] == field


def test_transforms_apply_to_images_only(api, owner):
    url = api.call("POST", "/api/v1/cdn/upload", token=owner["token"], data={"file": upload(b"%PDF-1.4\n", "a.pdf")},
                   content_type="multipart/form-data").get_json()["url"]
    assert api.call("GET", url, query={"size": 64}).status_code == 400


def test_transform_without_a_worker_answers_202_with_a_retry_hint(api, owner, app, monkeypatch):
    monkeypatch.setitem(app.config, "CDN_TRANSFORM_WAIT_SECONDS", 0.2)
    url = api.call("POST", "/api/v1/cdn/upload", token=owner["token"], data={"file": upload(unique_png(9), "a.png")},
                   content_type="multipart/form-data").get_json()["url"]
    response = api.call("GET", url, query={"size": 16})
    assert response.status_code == 202
    assert response.headers["Retry-After"] == "1"
    assert response.get_json()["retry_after"] == 1
    assert "no-store" in response.headers["Cache-Control"]


def test_transform_the_broker_refused_is_queued_again_by_the_next_request(api, owner, app, monkeypatch):
    from app import tasks
    monkeypatch.setitem(app.config, "CDN_TRANSFORM_WAIT_SECONDS", 0.1)
    api.call("POST", "/api/v1/users/profile", token=owner["token"])  # the owner's API presence, queued before
    queued = []
    monkeypatch.setattr(tasks, "enqueue", lambda name, *args, **kwargs: queued.append((name, args)) or False)
    data = unique_png(50)
    url = api.call("POST", "/api/v1/cdn/upload", token=owner["token"], data={"file": upload(data, "a.png")},
                   content_type="multipart/form-data").get_json()["url"]
    assert api.call("GET", url, query={"size": 16}).status_code == 202
    assert api.call("GET", url, query={"size": 16}).status_code == 202
    sha = hashlib.sha256(data).hexdigest()
    assert queued == [("cdn.transform", (sha, "t16x16_high.png"))] * 2


def test_a_failed_transform_answers_at_once(api, owner, app, monkeypatch):
    from app.files import variants
    monkeypatch.setitem(app.config, "CDN_TRANSFORM_WAIT_SECONDS", 30)
    data = unique_png(51)
    url = api.call("POST", "/api/v1/cdn/upload", token=owner["token"], data={"file": upload(data, "a.png")},
                   content_type="multipart/form-data").get_json()["url"]
    with app.app_context():
        variants.transform_failed(hashlib.sha256(data).hexdigest(), "t16x16_high.png", "OSError")
    response = api.call("GET", url, query={"size": 16})
    assert response.status_code == 500 and response.get_json()["code"] == "TRANSFORM_FAILED"
