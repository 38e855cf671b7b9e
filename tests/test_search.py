"""Search through HTTP: normalisation and whole words per script, filters, paging, bad input."""
import base64
import json
import time

import pytest

from tests.api_helpers import assert_error, error_paths, make_channel, send
from tests.filedata import unique_png, upload


def search(api, token, q, **query):
    response = api.call("GET", "/api/v1/search", token=token, query={"q": q, **query})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def found(api, token, q, **query) -> list[str]:
    """The message ids a query finds, newest first."""
    return [r["message_id"] for r in search(api, token, q, **query)["results"] if r["type"] == "message"]


# (message text, queries that find it, queries that do not)
NORMALISATION = [
    ("Hello brave new World", ["world", "WORLD", "hello world", "World Hello"], ["worl", "orld", "hello planet"]),
    ("Un café très naïve", ["cafe", "CAFÉ", "tres naive", "Tres"], ["caf", "cafes"]),
    ("ＦＵＬＬ width ｶﾀｶﾅ", ["full", "FULL WIDTH", "カタカナ"], ["ful"]),
    ("Die Straße ist lang", ["strasse", "STRASSE", "straße"], ["strass"]),
    ("Привет, Мир! Ёлка", ["привет", "ПРИВЕТ мир", "елка", "ёлка"], ["прив", "мирный"]),
    ("Καλημέρα κόσμε, ΟΔΟΣ", ["καλημερα", "ΚΑΛΗΜΈΡΑ", "κοσμε", "οδος"], ["καλη", "κοσμ"]),
    ("東京都に行きました", ["東京", "京都", "東京都", "行き", "都"], ["大阪", "東都", "京東"]),
    ("नमस्ते दुनिया", ["नमस्ते", "दुनिया"], ["नम"]),
    ("snake_case and e-mail", ["snake_case", "mail", "e mail"], ["snake", "email"]),
]


@pytest.mark.parametrize("text,hits,misses", NORMALISATION, ids=[row[0][:12] for row in NORMALISATION])
def test_normalisation_and_whole_words(api, owner, general, text, hits, misses):
    message = send(api, owner["token"], general, text)
    send(api, owner["token"], general, "an unrelated line of chat")
    for q in hits:
        assert found(api, owner["token"], q) == [message], q
    for q in misses:
        assert found(api, owner["token"], q) == [], q


def test_cjk_finds_exact_runs_only(api, owner, general):
    """Both texts hold the characters and bigrams of 東京都 (東京 and 京都), only one the run."""
    exact = send(api, owner["token"], general, "東京都庁")
    apart = send(api, owner["token"], general, "東京 と 京都")
    assert found(api, owner["token"], "東京都") == [exact]
    assert found(api, owner["token"], "東京") == [apart, exact]


def test_every_word_must_occur(api, owner, general):
    both = send(api, owner["token"], general, "red green")
    send(api, owner["token"], general, "red only")
    send(api, owner["token"], general, "green only")
    assert found(api, owner["token"], "green red") == [both]
    assert found(api, owner["token"], "red green blue") == []


def test_result_shape(api, owner, general):
    message = send(api, owner["token"], general, "shape of things")
    body = search(api, owner["token"], "shape")
    assert body["status_code"] == 200 and body["next_cursor"] is None
    [result] = body["results"]
    assert result == {"id": message, "type": "message", "title": "owner", "subtitle": "#general",
                      "content": "shape of things", "timestamp": result["timestamp"], "channel_id": general,
                      "message_id": message}
    assert result["timestamp"].endswith("Z")


def test_users_and_channels_are_found_too(api, owner, user, general):
    make_channel(api, owner["token"], "alice-corner")
    hidden = make_channel(api, owner["token"], "alice-secret", private=True)
    mentioned = send(api, owner["token"], general, "alice says hi")
    results = search(api, user["token"], "alice")["results"]
    assert [(r["type"], r["title"]) for r in results] == [("user", "alice"), ("channel", "alice-corner"),
                                                         ("message", "owner")]
    assert results[0]["id"] == user["id"] and results[2]["message_id"] == mentioned
    assert hidden not in [r["channel_id"] for r in results]
    staff = search(api, owner["token"], "alice")["results"]
    assert hidden in [r["channel_id"] for r in staff if r["type"] == "channel"]
    # Filters and later pages are about messages only.
    assert [r["type"] for r in search(api, user["token"], "alice", channel_id=general)["results"]] == ["message"]


def test_filters(api, owner, user, general):
    other = make_channel(api, owner["token"], "random")
    mine = send(api, user["token"], general, "filter me please")
    theirs = send(api, owner["token"], general, "filter me too")
    elsewhere = send(api, owner["token"], other, "filter me there")
    response = api.call("POST", f"/api/v1/channels/{general}/send_message", token=owner["token"],
                        data={"message": "filter me with a file", "attachments": upload(unique_png(7), "a.png")},
                        content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    attached = response.get_json()["message_id"]
    token = owner["token"]
    assert found(api, token, "filter me") == [attached, elsewhere, theirs, mine]
    assert found(api, token, "filter", channel_id=general) == [attached, theirs, mine]
    assert found(api, token, "filter", channel_id=other) == [elsewhere]
    assert found(api, token, "filter", from_user_id=user["id"]) == [mine]
    assert found(api, token, "filter", has="attachment") == [attached]
    assert found(api, token, "filter", before=elsewhere) == [theirs, mine]
    assert found(api, token, "filter", after=theirs) == [attached, elsewhere]
    assert found(api, token, "filter", after=mine, before=attached) == [elsewhere, theirs]
    assert found(api, token, "filter", from_user_id=owner["id"], channel_id=general, has="attachment") == [attached]


def test_time_filters(api, owner, general):
    old = send(api, owner["token"], general, "timely words")
    time.sleep(1.1)
    middle = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    time.sleep(1.1)
    new = send(api, owner["token"], general, "timely words")
    assert found(api, owner["token"], "timely", before=middle) == [old]
    assert found(api, owner["token"], "timely", after=middle) == [new]
    assert found(api, owner["token"], "timely", after="2000-01-01T00:00:00Z") == [new, old]
    assert found(api, owner["token"], "timely", before="2000-01-01T00:00:00+00:00") == []


def test_paging_without_gaps_or_repeats(api, owner, general):
    other = make_channel(api, owner["token"], "second")
    sent = [send(api, owner["token"], general if n % 3 else other, f"page item {n}") for n in range(23)]
    send(api, owner["token"], general, "not on any page")
    seen, cursor, pages = [], None, 0
    while True:
        body = search(api, owner["token"], "page item", limit=5, **({"cursor": cursor} if cursor else {}))
        ids = [r["message_id"] for r in body["results"]]
        assert len(ids) <= 5 and all(r["type"] == "message" for r in body["results"])
        seen += ids
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(sent)) and pages == 5
    assert len(found(api, owner["token"], "page item")) == 23  # default limit 25
    assert len(found(api, owner["token"], "page item", limit=50)) == 23


def test_bad_input(api, owner, general):
    def get(**query):
        return api.call("GET", "/api/v1/search", token=owner["token"], query=query)

    assert error_paths(get()) == ["q"]
    assert error_paths(get(q="   ")) == ["q"]
    assert error_paths(get(q="x" * 257)) == ["q"]
    assert_error(get(q=" ".join(["word"] * 17)), 400, "QUERY_TOO_LONG")
    assert get(q=" ".join(["word"] * 16)).status_code == 200
    assert_error(get(q="?! ..."), 400, "EMPTY_QUERY")
    assert error_paths(get(q="hello", sort="oldest")) == ["sort"]
    assert error_paths(get(q="hello", has="link")) == ["has"]
    assert error_paths(get(q="hello", limit=0)) == ["limit"]
    assert error_paths(get(q="hello", limit=51)) == ["limit"]
    assert error_paths(get(q="hello", before="yesterday")) == ["before"]
    assert_error(get(q="hello", channel_id="no-such-channel"), 404, "UNKNOWN_CHANNEL")
    assert_error(get(q="hello", cursor="not a cursor"), 400, "INVALID_CURSOR")
    unauthenticated = api.call("GET", "/api/v1/search", query={"q": "hello"})
    assert_error(unauthenticated, 401)


def test_a_cursor_from_another_query_is_refused(api, owner, general):
    for n in range(4):
        send(api, owner["token"], general, f"alpha beta {n}")
    cursor = search(api, owner["token"], "alpha", limit=2)["next_cursor"]
    assert cursor
    assert len(found(api, owner["token"], "ALPHA", limit=2, cursor=cursor)) == 2  # the same query, folded
    for other in ({"q": "beta"}, {"q": "alpha", "channel_id": general}, {"q": "alpha beta"}):
        body = assert_error(api.call("GET", "/api/v1/search", token=owner["token"],
                                     query={"limit": 2, "cursor": cursor, **other}), 400, "INVALID_CURSOR")
        assert "another query" in body["detail"]
    # A cursor rewritten to claim the same query is no longer the server's: its fingerprint is keyed.
    forged = base64.urlsafe_b64encode(json.dumps({"f": "0" * 24, "m": "0" * 8 + "-0000-0000-0000-" + "0" * 12})
                                      .encode()).decode()
    assert_error(api.call("GET", "/api/v1/search", token=owner["token"], query={"q": "alpha", "cursor": forged}),
                 400, "INVALID_CURSOR")


def test_parameters_from_a_json_body(api, owner, general):
    message = send(api, owner["token"], general, "json body search")
    response = api.call("GET", "/api/v1/search", token=owner["token"], json={"q": "body", "limit": 3})
    assert response.status_code == 200
    assert [r["message_id"] for r in response.get_json()["results"]] == [message]
    assert error_paths(api.call("GET", "/api/v1/search", token=owner["token"], json={"q": "body", "x": 1})) == ["x"]
