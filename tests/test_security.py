"""Security promises: hashed tokens, bcrypt, encrypted messages, no secret ever sent."""
import base64
import hashlib
import hmac
import json
import os
import stat

import sqlalchemy as sa

from tests.api_helpers import PASSWORD, load, make_channel, send


def _all_rows(app) -> str:
    """Every row of every table, as text: what a stolen database would show."""
    from app.extensions import db
    with app.app_context():
        dump = []
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(sa.select(table)).all():
                dump.append(repr(tuple(row)))
        return "\n".join(dump)


def _raw_messages(app) -> list:
    from app.extensions import db
    from app.models import Message
    with app.app_context():
        return db.session.execute(sa.select(Message.id, Message.ciphertext, Message.hashed_message,
                                            Message.key_id)).all()


def _key_file(app) -> dict:
    with open(app.config["MESSAGE_KEY_FILE"]) as handle:
        return json.load(handle)


def test_tokens_are_stored_only_as_sha256_digests(api, app, owner, user):
    from app.extensions import db
    from app.models import AuthToken
    second = api.call("POST", "/api/v1/users/signin", json={"username": "alice", "password": PASSWORD})
    tokens = [owner["token"], user["token"], second.get_json()["auth_token"]]
    with app.app_context():
        stored = set(db.session.scalars(sa.select(AuthToken.token_hash)))
    assert stored == {hashlib.sha256(token.encode()).hexdigest() for token in tokens}
    dump = _all_rows(app)
    for token in tokens:
        assert token.split(".", 1)[1] not in dump


def test_passwords_are_bcrypt_hashes(app, owner):
    from app.extensions import db
    from app.models import User
    with app.app_context():
        stored = db.session.scalar(sa.select(User.password_hash))
    assert stored.startswith(("$2b$", "$2a$")) and PASSWORD not in stored
    assert PASSWORD not in _all_rows(app)


def test_no_secret_in_any_response(api, app, owner, user):
    from app.extensions import db
    from app.models import AuthToken, User
    channel_id = make_channel(api, owner["token"], "general")
    send(api, user["token"], channel_id, "hello")
    responses = [
        api.call("POST", "/api/v1/users/profile", token=user["token"]),
        api.call("POST", "/api/v1/users/profile", token=user["token"], json={"user_id": owner["id"]}),
        api.call("GET", "/api/v1/users/list", token=user["token"]),
        api.call("POST", "/api/v1/users/signin", json={"username": "alice", "password": PASSWORD}),
        api.call("PUT", "/api/v1/users/profile", token=user["token"], json={"about": "me"}),
        api.call("POST", "/api/v1/channels/list/", token=user["token"]),
        api.call("GET", f"/api/v1/channels/{channel_id}/load_messages", token=user["token"]),
        api.call("GET", "/api/v1/info"),
        api.call("PUT", f"/api/v1/users/{user['id']}/roles", token=owner["token"], json={"is_admin": True}),
    ]
    with app.app_context():
        hashes = list(db.session.scalars(sa.select(User.password_hash)))
        digests = list(db.session.scalars(sa.select(AuthToken.token_hash)))
    keys = _key_file(app)
    secrets_ = hashes + digests + [keys["hmac_key"], *keys["keys"].values(), PASSWORD]
    for response in responses:
        assert response.status_code == 200, response.get_json()
        text = response.get_data(as_text=True)
        for secret in secrets_:
            assert secret not in text
        assert "password" not in text.lower().replace("new_password", "")


def test_message_text_is_encrypted_at_rest(api, app, owner):
    channel_id = make_channel(api, owner["token"], "general")
    plaintext = "the eagle lands at midnight"
    send(api, owner["token"], channel_id, plaintext)
    send(api, owner["token"], channel_id, plaintext)
    rows = _raw_messages(app)
    assert len(rows) == 2
    for row in rows:
        assert plaintext.encode() not in bytes(row.ciphertext)
        assert b"eagle" not in bytes(row.ciphertext)
    # A fresh nonce per message: the same text never gives the same ciphertext.
    assert bytes(rows[0].ciphertext) != bytes(rows[1].ciphertext)
    assert "eagle" not in _all_rows(app)
    assert [m["message"] for m in load(api, owner["token"], channel_id)] == [plaintext, plaintext]


def test_key_file_is_private_and_not_in_the_database(api, app, owner):
    channel_id = make_channel(api, owner["token"], "general")
    send(api, owner["token"], channel_id, "x")
    path = app.config["MESSAGE_KEY_FILE"]
    assert os.path.commonpath([path, app.config["DATA_DIR"]]) == app.config["DATA_DIR"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) & 0o077
    keys = _key_file(app)
    assert keys["current"] in keys["keys"]
    dump = _all_rows(app)
    for secret in [keys["hmac_key"], *keys["keys"].values()]:
        assert secret not in dump
        assert len(base64.b64decode(secret)) >= 32


def test_hashed_message_is_hmac_sha256_under_the_key_files_hmac_key(api, app, owner):
    channel_id = make_channel(api, owner["token"], "general")
    text = "keyed digest ✓"
    send(api, owner["token"], channel_id, text)
    key = base64.b64decode(_key_file(app)["hmac_key"])
    expected = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
    [row] = _raw_messages(app)
    assert row.hashed_message == expected
    assert row.hashed_message != hashlib.sha256(text.encode()).hexdigest()
    assert load(api, owner["token"], channel_id)[0]["hashed_message"] == expected


def test_ciphertext_is_authenticated(api, app, owner):
    """A tampered row is refused by the cipher, never decrypted into garbage."""
    from cryptography.exceptions import InvalidTag
    from app import crypto
    channel_id = make_channel(api, owner["token"], "general")
    send(api, owner["token"], channel_id, "integrity")
    [row] = _raw_messages(app)
    blob = bytearray(bytes(row.ciphertext))
    blob[-1] ^= 1
    with app.app_context():
        assert crypto.decrypt(row.key_id, bytes(row.ciphertext), channel_id) == "integrity"
        for tampered, context in ((bytes(blob), channel_id), (bytes(row.ciphertext), "another-channel")):
            try:
                crypto.decrypt(row.key_id, tampered, context)
            except InvalidTag:
                continue
            raise AssertionError("tampered ciphertext decrypted")
