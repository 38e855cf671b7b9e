"""Revision 0005 upgrades a database that holds data written under 0003, and downgrades again."""
import os

import pytest
import sqlalchemy as sa

from tests.api_helpers import another_app


@pytest.fixture
def scratch_url(services, tmp_path):
    """An empty database of the suite's kind, apart from the suite's own."""
    url = services["database_url"]
    if not url.startswith("postgresql"):
        yield "sqlite:///" + os.path.join(str(tmp_path), "upgrade.db")
        return
    base, name = url.rsplit("/", 1)
    scratch = f"{name}_upgrade"
    server = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{scratch}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{scratch}"'))
    yield f"{base}/{scratch}"
    with server.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
    server.dispose()


def test_upgrade_keeps_todays_data(app, services, scratch_url):
    from flask_migrate import downgrade, upgrade
    from app.extensions import db
    with another_app(app, services["data_dir"], SQLALCHEMY_DATABASE_URI=scratch_url) as old:
        with old.app_context():
            upgrade(revision="0003")
            with db.engine.begin() as conn:
                conn.execute(sa.text(
                    "INSERT INTO users (id, username, username_key, password_hash, about, status, is_owner, is_admin,"
                    " created_at, updated_at) VALUES ('u1', 'Old', 'old', 'x', '', 'offline', true, false,"
                    " '2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
                conn.execute(sa.text(
                    "INSERT INTO channels (id, name, name_key, is_private, created_at) VALUES"
                    " ('c1', 'general', 'general', false, '2026-01-01 00:00:00')"))
                conn.execute(sa.text(
                    "INSERT INTO server_settings (id, server_name, server_description, is_private, welcome_message,"
                    " max_message_length, max_image_size, max_gif_size, max_video_size, max_file_size,"
                    " allowed_image_types, allowed_video_types, allowed_file_types, created_at, updated_at) VALUES"
                    " (1, 'Old server', '', false, 'hi', 2000, 1, 1, 1, 1, '[]', '[]', '[]',"
                    " '2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
                # Rows that point at users and channels: a table rebuild would cascade-delete them.
                conn.execute(sa.text("INSERT INTO auth_tokens (token_hash, user_id, created_at, expires_at) VALUES"
                                     " ('t1', 'u1', '2026-01-01 00:00:00', '2099-01-01 00:00:00')"))
                conn.execute(sa.text("INSERT INTO channel_members (channel_id, user_id, added_at) VALUES"
                                     " ('c1', 'u1', '2026-01-01 00:00:00')"))
                conn.execute(sa.text(
                    "INSERT INTO messages (id, channel_id, sender_id, key_id, ciphertext, hashed_message, attachments,"
                    " sent_at) VALUES ('m1', 'c1', 'u1', 'k', 'x', 'h', '[]', '2026-01-01 00:00:00')"))
            upgrade(revision="0005")
            with db.engine.connect() as conn:
                user = conn.execute(sa.text("SELECT username, is_banned, timeout_until FROM users")).one()
                channel = conn.execute(sa.text("SELECT name, description, slow_mode, read_only FROM channels")).one()
                policy = conn.execute(sa.text("SELECT registration FROM server_settings")).scalar()
                tables = set(sa.inspect(conn).get_table_names())
                kept = [conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()
                        for table in ("auth_tokens", "channel_members", "messages")]
            assert kept == [1, 1, 1]
            assert (user[0], bool(user[1]), user[2]) == ("Old", False, None)
            assert (channel[0], channel[1], channel[2], bool(channel[3])) == ("general", "", 0, False)
            assert policy == "open"
            assert {"invites", "bans", "reports"} <= tables
            downgrade(revision="0003")
            with db.engine.connect() as conn:
                assert "invites" not in set(sa.inspect(conn).get_table_names())
                assert conn.execute(sa.text("SELECT username FROM users")).scalar() == "Old"
                assert conn.execute(sa.text("SELECT count(*) FROM messages")).scalar() == 1
            db.engine.dispose()
