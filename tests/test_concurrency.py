"""Requests at the same moment, under a real threaded HTTP server: no 500s, no lost or doubled rows."""
import threading
from collections import Counter

import pytest
import requests
import sqlalchemy as sa
from werkzeug.serving import make_server

from tests.api_helpers import PASSWORD, add_member, channel_entry, make_channel

CHANNELS = "/api/v1/channels"


@pytest.fixture
def live_server(app):
    """The app under a real threaded HTTP server on a free loopback port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


def _at_once(count: int, request) -> list:
    """Run request(index) in `count` threads released together; return what each returned."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        results[index] = request(index)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


@pytest.fixture(params=["threaded", "gunicorn"])
def any_server(request, services):
    """The threaded server in this process, or gunicorn with two worker processes of eight threads."""
    if request.param == "threaded":
        yield request.getfixturevalue("live_server")
        return
    from scripts.stack import Stack
    with Stack(services["env"], web_workers=2, threads=8) as stack:
        yield stack.url


def test_64_concurrent_messages_from_16_threads_are_stored_once(api, app, owner, user, other_user, any_server):
    """Four accounts, four threads each, all starting at once."""
    live_server = any_server
    channel_id = make_channel(api, owner["token"], "busy", private=True)
    third = api.signup("carol")
    for account in (user, other_user, third):
        add_member(api, owner["token"], channel_id, account["id"])
    tokens = [owner["token"], user["token"], other_user["token"], third["token"]]

    def send_four(index: int) -> list:
        session = requests.Session()
        answers = []
        for n in range(4):
            response = session.post(f"{live_server}{CHANNELS}/{channel_id}/send_message",
                                    json={"auth_token": tokens[index % 4], "message": f"t{index}-m{n}"}, timeout=60)
            answers.append((response.status_code, response.json()))
        return answers

    answers = [answer for per_thread in _at_once(16, send_four) for answer in per_thread]
    assert len(answers) == 64
    assert all(status == 201 for status, _ in answers), [a for a in answers if a[0] != 201]
    sent_ids = {body["message_id"] for _, body in answers}
    assert len(sent_ids) == 64

    from app.extensions import db
    from app.models import Message
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 64

    def page(number: int) -> list:
        return requests.get(f"{live_server}{CHANNELS}/{channel_id}/load_messages", timeout=60, params={
            "auth_token": owner["token"], "messages_per_page": 50, "page": number}).json()["messages"]

    everything = page(2) + page(1)
    assert len(everything) == 64
    assert {m["message_id"] for m in everything} == sent_ids
    assert sorted(m["message"] for m in everything) == sorted(f"t{i}-m{n}" for i in range(16) for n in range(4))
    ids = [m["message_id"] for m in everything]
    assert ids == sorted(ids)
    # Each thread's own messages come back in the order it sent them.
    for index in range(16):
        mine = [m["message"] for m in everything if m["message"].startswith(f"t{index}-")]
        assert mine == [f"t{index}-m{n}" for n in range(4)]


def test_concurrent_first_signups_make_exactly_one_owner(api, live_server):
    def signup(index: int):
        response = requests.post(f"{live_server}/api/v1/users/signup", timeout=60,
                                 json={"username": f"early{index}", "password": PASSWORD})
        return response.status_code, response.json()

    results = _at_once(8, signup)
    assert [status for status, _ in results] == [201] * 8, results
    owners = [u for u in api.call("GET", "/api/v1/users/list", token=results[0][1]["auth_token"])
              .get_json()["users"] if u["is_owner"]]
    assert len(owners) == 1


def test_concurrent_signups_with_one_name_give_one_account(api, owner, live_server):
    def signup(index: int):
        name = "Racer" if index % 2 else "racer"
        return requests.post(f"{live_server}/api/v1/users/signup", timeout=60,
                             json={"username": name, "password": PASSWORD}).status_code

    assert Counter(_at_once(8, signup)) == Counter({201: 1, 409: 7})


def test_concurrent_channel_creation_with_one_name(api, owner, live_server):
    def create(index: int):
        return requests.post(f"{live_server}{CHANNELS}/create/", timeout=60, json={
            "auth_token": owner["token"], "channel_name": "Launch" if index % 2 else "launch"}).status_code

    assert Counter(_at_once(8, create)) == Counter({201: 1, 409: 7})
    channels = api.call("POST", f"{CHANNELS}/list/", token=owner["token"]).get_json()["channels"]
    assert len(channels) == 1


def test_concurrent_renames_to_one_name(api, owner, live_server):
    tokens = [api.signup(f"renamer{i}")["token"] for i in range(8)]

    def rename(index: int):
        return requests.put(f"{live_server}/api/v1/users/profile", timeout=60, json={
            "auth_token": tokens[index], "new_username": "wanted"}).status_code

    assert Counter(_at_once(8, rename)) == Counter({200: 1, 409: 7})


def test_concurrent_adds_of_one_member(api, owner, user, live_server):
    channel_id = make_channel(api, owner["token"], "secret", private=True)

    def add(index: int):
        return requests.put(f"{live_server}{CHANNELS}/{channel_id}/add_user", timeout=60, json={
            "auth_token": owner["token"], "to_add_user_id": user["id"]}).status_code

    assert _at_once(8, add) == [200] * 8
    assert channel_entry(api, user["token"], channel_id) is not None


def test_concurrent_marks_keep_the_newest_read_position(api, owner, user, live_server):
    channel_id = make_channel(api, owner["token"], "general")
    ids = [api.call("POST", f"{CHANNELS}/{channel_id}/send_message", token=owner["token"],
                    json={"message": str(i)}).get_json()["message_id"] for i in range(16)]

    def mark(index: int):
        return requests.put(f"{live_server}{CHANNELS}/{channel_id}/mark_message_as_read", timeout=60, json={
            "auth_token": user["token"], "message_id": ids[index]}).status_code

    assert _at_once(16, mark) == [201] * 16
    entry = channel_entry(api, user["token"], channel_id)
    assert entry["last_read_message_id"] == ids[-1] and entry["unread_count"] == 0


def test_oversized_json_is_refused_before_its_body_is_read(live_server, app):
    """A declared JSON body over MAX_JSON_BYTES answers 413 at once: the server does not buffer it."""
    import socket
    from urllib.parse import urlparse
    url = urlparse(live_server)
    declared = app.config["MAX_JSON_BYTES"] * 20
    with socket.create_connection((url.hostname, url.port), timeout=5) as conn:
        conn.sendall((f"POST /api/v1/users/signup HTTP/1.1\r\nHost: {url.netloc}\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n{{").encode())
        status_line = conn.makefile("rb").readline()
    assert status_line.split()[1] == b"413", status_line
