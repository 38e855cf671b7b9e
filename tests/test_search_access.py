"""Search and who may read what; the index tracks edits and deletes; the database holds no word."""
import json

import sqlalchemy as sa

from tests.api_helpers import add_member, make_channel, send
from tests.test_search import found

SECRET_WORDS = ["zanzibar", "quokka", "marmalade", "Кремль", "東京"]


def test_private_channels_and_removed_members(api, owner, user, other_user):
    secret = make_channel(api, owner["token"], "secret", private=True)
    add_member(api, owner["token"], secret, user["id"])
    message = send(api, user["token"], secret, "the plan is zanzibar")
    assert found(api, user["token"], "zanzibar") == [message]
    assert found(api, owner["token"], "zanzibar") == [message]  # staff read private channels
    assert found(api, other_user["token"], "zanzibar") == []
    response = api.call("GET", "/api/v1/search", token=other_user["token"], query={"q": "zanzibar",
                                                                                     "channel_id": secret})
    assert response.status_code == 404  # a hidden channel is unknown, as everywhere
    removed = api.call("DELETE", f"/api/v1/channels/{secret}/remove_user", token=owner["token"],
                       json={"to_remove_user_id": user["id"]})
    assert removed.status_code == 200
    assert found(api, user["token"], "zanzibar") == []  # at once: no cache of readable channels


def test_direct_conversations_only_for_their_two_members(api, owner, user, other_user):
    response = api.call("POST", f"/api/v1/users/{other_user['id']}/dm", token=user["token"])
    assert response.status_code in (200, 201), response.get_json()
    dm = response.get_json()["channel_data"]["channel_id"]
    message = send(api, user["token"], dm, "quokka sighting")
    assert found(api, user["token"], "quokka") == [message]
    assert found(api, other_user["token"], "quokka") == [message]
    assert found(api, owner["token"], "quokka") == []  # not even the owner
    [result] = [r for r in api.call("GET", "/api/v1/search", token=other_user["token"],
                                    query={"q": "quokka"}).get_json()["results"] if r["type"] == "message"]
    assert result["subtitle"] == "Direct message"


def test_edit_and_delete_update_results(api, owner, user):
    general = make_channel(api, owner["token"], "general")
    message = send(api, user["token"], general, "old marmalade")
    kept = send(api, user["token"], general, "marmalade stays")
    edited = api.call("PUT", f"/api/v1/messages/{message}", token=user["token"], json={"content": "new jam"})
    assert edited.status_code == 200, edited.get_json()
    assert found(api, user["token"], "marmalade") == [kept]
    assert found(api, user["token"], "jam") == [message]
    assert found(api, user["token"], "old") == []
    deleted = api.call("DELETE", f"/api/v1/messages/{message}", token=user["token"])
    assert deleted.status_code == 200
    assert found(api, user["token"], "jam") == []
    # A deleted channel takes its messages' index rows with it.
    api.call("DELETE", f"/api/v1/channels/{general}/delete", token=owner["token"])
    assert found(api, owner["token"], "marmalade") == []


def _index_rows(app) -> int:
    from app.extensions import db
    with app.app_context():
        return db.session.scalar(sa.text("SELECT count(*) FROM message_terms"))


def test_deleting_messages_deletes_their_index_rows(api, app, owner):
    general = make_channel(api, owner["token"], "general")
    message = send(api, owner["token"], general, "one two three")
    assert _index_rows(app) == 3
    api.call("DELETE", f"/api/v1/messages/{message}", token=owner["token"])
    assert _index_rows(app) == 0


def _every_stored_value(app) -> list[str]:
    """Every value of every column of every table, as text (bytes decoded leniently)."""
    from app.extensions import db
    values = []
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(sa.select(table)):
                for value in row:
                    if isinstance(value, bytes):
                        values.append(value.decode("utf-8", "ignore"))
                    elif value is not None:
                        values.append(json.dumps(value, ensure_ascii=False, default=str))
    return values


def test_the_database_holds_no_word_of_any_message(api, app, owner):
    from app.search.tokens import index_terms, normalise
    general = make_channel(api, owner["token"], "general")
    message = send(api, owner["token"], general, " ".join(SECRET_WORDS))
    edited = send(api, owner["token"], general, "placeholder")
    api.call("PUT", f"/api/v1/messages/{edited}", token=owner["token"], json={"content": "zanzibar quokka"})
    assert found(api, owner["token"], "кремль") == [message]
    assert _index_rows(app) == len(index_terms(" ".join(SECRET_WORDS))) + 2
    stored = "\n".join(_every_stored_value(app))
    for word in SECRET_WORDS:
        assert word not in stored and normalise(word) not in stored, word
    # The index's own columns: integers and ids, nothing derived from the text but keyed digests.
    from app.extensions import db
    with app.app_context():
        columns = [column["name"] for column in sa.inspect(db.engine).get_columns("message_terms")]
        rows = db.session.execute(sa.text("SELECT digest, message_id, key_id FROM message_terms")).all()
    assert sorted(columns) == ["digest", "key_id", "message_id"]
    assert {row.message_id for row in rows} == {message, edited}
    assert all(isinstance(row.digest, int) and isinstance(row.key_id, int) for row in rows)


def test_the_same_word_has_unrelated_digests_in_two_channels(api, app, owner):
    first = make_channel(api, owner["token"], "first")
    second = make_channel(api, owner["token"], "second")
    one = send(api, owner["token"], first, "zanzibar")
    two = send(api, owner["token"], second, "zanzibar")
    from app.extensions import db
    with app.app_context():
        digests = dict(db.session.execute(sa.text("SELECT message_id, digest FROM message_terms")).all())
    assert digests[one] != digests[two]
    assert found(api, owner["token"], "zanzibar") == [two, one]


def test_key_rotation_keeps_old_and_new_messages_searchable(api, app, owner):
    general = make_channel(api, owner["token"], "general")
    before = send(api, owner["token"], general, "rotation survivor")
    result = app.test_cli_runner().invoke(args=["rotate-message-key"])
    assert result.exit_code == 0, result.output
    after = send(api, owner["token"], general, "rotation survivor")
    from app.extensions import db
    with app.app_context():
        key_ids = dict(db.session.execute(sa.text("SELECT message_id, min(key_id) FROM message_terms "
                                                  "GROUP BY message_id")).all())
    assert key_ids[before] != key_ids[after]
    assert found(api, owner["token"], "rotation survivor") == [after, before]
    # Editing an old message moves it to the current index key; it is still found.
    api.call("PUT", f"/api/v1/messages/{before}", token=owner["token"], json={"content": "rotation survivor"})
    with app.app_context():
        assert db.session.scalar(sa.text("SELECT count(DISTINCT key_id) FROM message_terms")) == 1
    assert found(api, owner["token"], "survivor") == [after, before]
