"""Unbound extension singletons; the factory binds them, nothing connects at import time."""
import redis as redis_lib
from celery import Celery, Task
from flask import Flask
from flask_migrate import Migrate
from flask_sock import Sock
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names keep Alembic revisions reviewable across databases.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# A session lives for one request or task; objects stay readable after its commit instead of
# being reloaded (responses and live events are built from them right after committing).
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()
sock = Sock()


class RedisExtension:
    """One connection pool per process, created when the app is bound."""

    def __init__(self) -> None:
        self.client: redis_lib.Redis | None = None

    def init_app(self, app: Flask) -> None:
        self.client = redis_lib.Redis.from_url(
            app.config["REDIS_URL"], socket_timeout=5, socket_connect_timeout=2, health_check_interval=30
        )
        app.extensions["redis"] = self

    def __getattr__(self, name):
        if self.client is None:
            raise RuntimeError("redis is used before the app bound it")
        return getattr(self.client, name)


redis = RedisExtension()


def celery_init_app(app: Flask) -> Celery:
    """Create the Celery app whose tasks run inside a Flask app context."""

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    settings = dict(app.config["CELERY"])
    settings.setdefault("broker_url", app.config["REDIS_URL"])
    settings.setdefault("result_backend", app.config["REDIS_URL"])
    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(settings)
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app
