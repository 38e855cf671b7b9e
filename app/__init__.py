"""The application factory: config -> extensions -> blueprints -> error handlers."""
import os

from flask import Flask
from flask_cors import CORS

from . import database, json_provider, keys, logs, models, urls  # noqa: F401  (models: registers every table)
from .api import register_blueprints
from .limits import addresses, blocklist, limiter
from .cli import register_cli
from .errors import register_error_handlers
from .extensions import celery_init_app, db, migrate, redis, sock
from .params import URL_CONVERTERS
from .realtime import seen


class App(Flask):
    """Flask with a bodiless answer to OPTIONS (Flask's own is an empty text/html 200)."""

    def make_default_options_response(self):
        response = super().make_default_options_response()
        response.status_code = 204
        del response.headers["Content-Type"]
        return response


def create_app(config_object: str | type = "config.Config", **overrides) -> Flask:
    app = App(__name__)
    app.json = json_provider.FastJSONProvider(app)
    app.url_map.converters.update(URL_CONVERTERS)
    # A doubled slash is a path of its own (a JSON 404), not a redirect to the merged path, which
    # Werkzeug would answer as an HTML 308 with a Location built from the Host header.
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False  # likewise a missing trailing slash: served, not redirected
    app.config.from_object(config_object)
    app.config.update(overrides)
    _derive_paths(app)
    logs.init_app(app)  # first: its request hooks time and count every other hook too
    urls.init_app(app)  # then the Host check: a refused Host reaches nothing else

    db.init_app(app)
    with app.app_context():
        database.register_sqlite_pragmas(db.engine)
        database.count_connections(db.engine)
        if db.engine.dialect.name != "sqlite" and app.config["DB_POOL_PRE_PING"] and app.config["DB_POOL_PING_IDLE"]:
            database.ping_idle_connections(db.engine, app.config["DB_POOL_PING_IDLE"])
    database.run_reads_outside_transactions(app)  # before any hook that reads the database
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"))
    redis.init_app(app)
    keys.init_app(app)
    sock.init_app(app)
    celery_init_app(app)
    origins = app.config["CORS_ORIGINS"]
    CORS(app, origins=origins, supports_credentials=origins != ["*"],
         expose_headers=["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
                         "X-RateLimit-Reset-After", "Retry-After"])

    addresses.init_app(app)
    blocklist.init_app(app)  # before the limiter: a blocked address is refused without being counted
    register_blueprints(app)
    register_error_handlers(app)
    seen.init_app(app)  # API use counts as presence
    limiter.init_app(app)
    register_cli(app)
    return app


def _derive_paths(app: Flask) -> None:
    """Fill settings that default to places inside the data dir."""
    data_dir = app.config["DATA_DIR"]
    os.makedirs(data_dir, exist_ok=True)
    uri = app.config["SQLALCHEMY_DATABASE_URI"] or "sqlite:///" + os.path.join(data_dir, "pufferblow.db")
    # Plain postgresql:// URLs mean psycopg 3, the driver this project installs.
    for prefix in ("postgresql://", "postgres://"):
        if uri.startswith(prefix):
            uri = "postgresql+psycopg://" + uri[len(prefix):]
    app.config["SQLALCHEMY_DATABASE_URI"] = uri
    if not app.config["MESSAGE_KEY_FILE"]:
        app.config["MESSAGE_KEY_FILE"] = os.path.join(data_dir, "keys", "messages.key")
    options = {**database.pool_options(app.config, uri), "json_deserializer": database.loads_json}
    if uri.startswith("sqlite"):
        # SQLite serialises writers; a generous busy timeout queues them instead of failing.
        options["connect_args"] = {"timeout": 30}
        _create_private(uri.split("///", 1)[-1].split("?", 1)[0])
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {**options, **app.config["SQLALCHEMY_ENGINE_OPTIONS"]}


def _create_private(path: str) -> None:
    """Create the SQLite file 0600 before SQLite does (its journal files take the same mode)."""
    if path and path != ":memory:" and not os.path.exists(path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
