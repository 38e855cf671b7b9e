"""Revision 0004 upgrades a database that holds data written under 0003 (SQLite and PostgreSQL)."""
import os

import sqlalchemy as sa

from tests.api_helpers import another_app

OWNER, ALICE = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
CHANNEL, MESSAGE = "33333333-3333-4333-8333-333333333333", "0190a0b0-0000-7000-8000-000000000001"


def _database_url(app, tmp_path) -> str:
    """A database of its own: a fresh SQLite file, or a sibling PostgreSQL database."""
    url = sa.engine.make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "postgresql":
        return "sqlite:///" + os.path.join(tmp_path, "upgrade.db")
    target = url.set(database=f"{url.database}_upgrade")
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if not conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}):
            conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    engine.dispose()
    fresh = sa.create_engine(target)
    with fresh.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    fresh.dispose()
    return target.render_as_string(hide_password=False)


def test_upgrade_from_0003_keeps_todays_data(app, tmp_path):
    from flask_migrate import downgrade, upgrade

    from app import crypto
    from app.accounts.auth import token_digest
    from app.extensions import db
    from app.ids import utcnow

    url = _database_url(app, str(tmp_path))
    with another_app(app, str(tmp_path), SQLALCHEMY_DATABASE_URI=url) as old:
        with old.app_context():
            upgrade(revision="0003")
            now = utcnow()
            key_id, ciphertext = crypto.encrypt("written before conversations", CHANNEL)
            with db.engine.begin() as conn:
                for user_id, name in ((OWNER, "owner"), (ALICE, "alice")):
                    conn.execute(sa.text(
                        "INSERT INTO users (id, username, username_key, password_hash, about, status, is_owner, "
                        "is_admin, created_at, updated_at) VALUES (:id, :name, :name, 'x', '', 'offline', :owner, "
                        ":false, :now, :now)"), {"id": user_id, "name": name, "owner": user_id == OWNER,
                                                 "false": False, "now": now})
                conn.execute(sa.text("INSERT INTO auth_tokens (token_hash, user_id, created_at, expires_at) "
                                     "VALUES (:digest, :user, :now, :later)"),
                             {"digest": token_digest(f"{ALICE}.secret"), "user": ALICE, "now": now,
                              "later": now.replace(year=now.year + 1)})
                conn.execute(sa.text("INSERT INTO channels (id, name, name_key, is_private, created_by, created_at) "
                                     "VALUES (:id, 'general', 'general', :false, :owner, :now)"),
                             {"id": CHANNEL, "false": False, "owner": OWNER, "now": now})
                conn.execute(sa.text(
                    "INSERT INTO messages (id, channel_id, sender_id, key_id, ciphertext, hashed_message, attachments, "
                    "sent_at) VALUES (:id, :channel, :owner, :key, :ciphertext, :digest, '[]', :now)"),
                    {"id": MESSAGE, "channel": CHANNEL, "owner": OWNER, "key": key_id, "ciphertext": ciphertext,
                     "digest": crypto.digest("written before conversations"), "now": now})
            upgrade(revision="0004")
            columns = {c["name"] for c in sa.inspect(db.engine).get_columns("messages")}
            assert {"edited_at", "reply_to_id", "mentions"} <= columns
            assert {"message_reactions", "message_pins", "message_mentions", "direct_conversations"} <= \
                set(sa.inspect(db.engine).get_table_names())
        client = old.test_client()
        query = {"auth_token": f"{ALICE}.secret"}
        [message] = client.get(f"/api/v1/channels/{CHANNEL}/load_messages", query_string=query).get_json()["messages"]
        assert message["message"] == "written before conversations"
        assert (message["edited_at"], message["reply_to"], message["mentions"], message["reactions"],
                message["pinned"]) == (None, None, [], [], False)
        [entry] = client.post("/api/v1/channels/list/", query_string=query).get_json()["channels"]
        assert entry["is_dm"] is False and entry["unread_mentions"] == 0
        # The old row takes part in the new features.
        assert client.post(f"/api/v1/messages/{MESSAGE}/reactions", query_string=query,
                           json={"emoji": "👍"}).status_code == 200
        reply = client.post(f"/api/v1/channels/{CHANNEL}/send_message", query_string=query,
                            json={"message": "@owner replying", "reply_to": MESSAGE})
        assert reply.status_code == 201
        with old.app_context():
            downgrade(revision="0003")  # the revision also steps back cleanly
            assert "message_reactions" not in sa.inspect(db.engine).get_table_names()
            upgrade()
            db.engine.dispose()
