"""Configuration from environment variables; every setting has a safe default."""
import os
from datetime import timedelta

from celery.schedules import crontab

BASE_DIR = os.path.dirname(os.path.abspath(__file__))


def _env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    """Production-shaped defaults; the embedded mode differs only in URLs."""

    DATA_DIR = os.path.abspath(os.environ.get("PUFFERBLOW_DATA_DIR", os.path.join(BASE_DIR, "instance")))
    # Empty: SQLite in DATA_DIR (filled in by the factory, so tests may move DATA_DIR).
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL", "")
    # Database connections of one process (app/database.py pool_options): one for each thread
    # that may use the database at once, kept open for good. DB_CONCURRENCY is that number: a
    # gunicorn worker's threads (set for each worker by gunicorn.conf.py), a Celery worker's
    # concurrency (set by celery_app.py), else 8. The pool holds at most DB_POOL_SIZE_CAP of them
    # (2 web workers x 40 stay under PostgreSQL's default 100); beyond it a request waits up to
    # DB_POOL_TIMEOUT seconds for a free one. DB_POOL_SIZE sets the size outright. Overflow
    # connections are opened and closed per request, which costs PostgreSQL a new backend each
    # time: DB_MAX_OVERFLOW stays 0 unless the database can take them.
    DB_CONCURRENCY = int(os.environ.get("DB_CONCURRENCY") or 8)
    DB_POOL_SIZE_CAP = 40
    DB_POOL_SIZE = int(os.environ.get("DB_POOL_SIZE") or 0)  # 0: min(DB_CONCURRENCY, DB_POOL_SIZE_CAP)
    DB_MAX_OVERFLOW = int(os.environ.get("DB_MAX_OVERFLOW", 0))
    DB_POOL_TIMEOUT = float(os.environ.get("DB_POOL_TIMEOUT", 30))
    # A connection older than this (seconds) is replaced when next taken (-1: never); a dropped
    # connection is caught by the ping before use (DB_POOL_PRE_PING) either way.
    DB_POOL_RECYCLE = int(os.environ.get("DB_POOL_RECYCLE", 3600))
    DB_POOL_PRE_PING = _env_bool("DB_POOL_PRE_PING", True)
    # Ping only connections idle this many seconds (0: before every use), so that one in steady
    # use costs no extra round trip per request.
    DB_POOL_PING_IDLE = float(os.environ.get("DB_POOL_PING_IDLE", 5))
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}  # extra create_engine() options, over the pool's
    REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    # Every Redis key and pub/sub channel starts with this and the db number (app/keys.py): pub/sub
    # ignores db numbers, so servers sharing one Redis need different prefixes.
    REDIS_PREFIX = os.environ.get("REDIS_PREFIX", "pufferblow")
    DEBUG_ERRORS = _env_bool("PUFFERBLOW_DEBUG")
    SERVER_VERSION = "1.0.0"
    # Absolute URLs handed to clients (sender_avatar_url, server avatar); empty: built from the request.
    PUBLIC_URL = os.environ.get("PUBLIC_URL", "").rstrip("/")
    # Without PUBLIC_URL, the Host names (ports ignored; ".example.org" with its subdomains) a
    # request may name; another Host is refused with 400 INVALID_HOST (app/urls.py).
    ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")

    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", 60 * 1024 * 1024))
    MAX_JSON_BYTES = int(os.environ.get("MAX_JSON_BYTES", 1024 * 1024))
    CORS_ORIGINS = _env_list("CORS_ORIGINS", "*")
    # A built single-page web client served at / (empty: none). The API keeps its own paths.
    WEB_CLIENT_DIR = os.path.abspath(os.environ["WEB_CLIENT_DIR"]) if os.environ.get("WEB_CLIENT_DIR") else ""
    TRUSTED_PROXIES = _env_list("TRUSTED_PROXIES")

    BCRYPT_ROUNDS = int(os.environ.get("BCRYPT_ROUNDS", 12))
    AUTH_TOKEN_TTL = timedelta(days=int(os.environ.get("AUTH_TOKEN_TTL_DAYS", 30)))
    # Empty: DATA_DIR/keys/messages.key. Every host of a fleet must share the same file.
    MESSAGE_KEY_FILE = os.environ.get("MESSAGE_KEY_FILE", "")

    # Defaults of the server settings row; the owner changes them through /system/server-info.
    SERVER_NAME_DEFAULT = os.environ.get("PUFFERBLOW_SERVER_NAME", "PufferBlow")
    MAX_MESSAGE_LENGTH = 2000
    MESSAGES_PER_PAGE_MAX = 50
    CURSOR_LIMIT_MAX = 100

    # Flask-Limiter: one shared count for every worker process.
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "")  # empty: REDIS_URL
    RATELIMIT_ENABLED = _env_bool("RATELIMIT_ENABLED", True)
    RATELIMIT_STORAGE_OPTIONS = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
    RATELIMIT_ANONYMOUS = os.environ.get("RATELIMIT_ANONYMOUS", "100/minute")  # per IP
    RATELIMIT_USER = os.environ.get("RATELIMIT_USER", "200/minute")  # per account
    RATELIMIT_OWNER = os.environ.get("RATELIMIT_OWNER", "500/minute")
    RATELIMIT_AUTH = os.environ.get("RATELIMIT_AUTH", "10/minute")  # sign-in + sign-up, per IP
    RATELIMIT_REPORTS = os.environ.get("RATELIMIT_REPORTS", "5/minute")  # reports filed, per account
    RATELIMIT_RECOVERY_SECONDS = float(os.environ.get("RATELIMIT_RECOVERY_SECONDS", 2))
    # How far a process's view of the other processes' counts may lag (0: a Redis call per request).
    RATELIMIT_SYNC_SECONDS = float(os.environ.get("RATELIMIT_SYNC_SECONDS", 0.1))

    # Blocked addresses: each process rereads the list at most this often after a change.
    BLOCKED_IPS_ENABLED = _env_bool("BLOCKED_IPS_ENABLED", True)
    BLOCKED_IPS_REFRESH_SECONDS = float(os.environ.get("BLOCKED_IPS_REFRESH_SECONDS", 1))
    # The one request that rereads the version token waits at most this long for Redis.
    BLOCKED_IPS_REDIS_TIMEOUT = float(os.environ.get("BLOCKED_IPS_REDIS_TIMEOUT", 0.25))
    # /readyz waits at most this long for Redis before answering 503.
    READYZ_REDIS_TIMEOUT = float(os.environ.get("READYZ_REDIS_TIMEOUT", 0.5))

    # The structured log: JSON lines to stderr and to a 0600 file rotated by size (empty LOG_FILE:
    # DATA_DIR/logs/server.log). LOG_REQUESTS adds a line per answered request (5xx ones always
    # get one); off by default: the line costs ~50 us, far more than the rest of the hook.
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
    LOG_FILE = os.environ.get("LOG_FILE", "")
    LOG_MAX_BYTES = int(os.environ.get("LOG_MAX_BYTES", 10 * 1024 * 1024))
    LOG_BACKUP_COUNT = int(os.environ.get("LOG_BACKUP_COUNT", 5))
    LOG_STDERR = _env_bool("LOG_STDERR", True)
    LOG_REQUESTS = _env_bool("LOG_REQUESTS", False)
    # GET /metrics answers loopback, these addresses or ranges, and a bearer METRICS_TOKEN.
    METRICS_ALLOWED = _env_list("METRICS_ALLOWED")
    METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")

    # Background tasks and analytics.
    # A running task renews its lock and writes its heartbeat every RUN_HEARTBEAT_SECONDS; the
    # lock lapses TASK_LOCK_SECONDS after its worker dies, and the reaper (every RUN_REAP_SECONDS)
    # fails a run whose heartbeat is older than RUN_STALE_SECONDS, frees its lock and queues it again.
    # Keep RUN_STALE_SECONDS above TASK_LOCK_SECONDS, so the locks a lost run took inside are gone.
    RUN_HEARTBEAT_SECONDS = float(os.environ.get("RUN_HEARTBEAT_SECONDS", 10))
    TASK_LOCK_SECONDS = float(os.environ.get("TASK_LOCK_SECONDS", 30))
    RUN_STALE_SECONDS = float(os.environ.get("RUN_STALE_SECONDS", 60))
    RUN_REAP_SECONDS = float(os.environ.get("RUN_REAP_SECONDS", 30))
    RELEASES_URL = os.environ.get("RELEASES_URL",
                                  "https://api.github.com/repos/PufferBlow/pufferblow/releases/latest")
    # The web client's dashboard reads server-usage without a token; false: admins and the owner only.
    PUBLIC_SERVER_USAGE = _env_bool("PUBLIC_SERVER_USAGE", True)
    ACTIVITY_METRICS_MAX_AGE = 120  # seconds a stored activity snapshot is served
    ONLINE_SAMPLE_RETENTION_DAYS = 400
    # The event log keeps this many days: a socket may resume (and GET /events read) that far back.
    EVENT_RETENTION_DAYS = float(os.environ.get("EVENT_RETENTION_DAYS", 7))

    # Files: where blobs live (empty: DATA_DIR/files), how long an unreferenced file is kept,
    # and how long a request waits for a transform before answering 202.
    FILES_DIR = os.environ.get("FILES_DIR", "")
    CDN_ORPHAN_GRACE_SECONDS = int(os.environ.get("CDN_ORPHAN_GRACE_SECONDS", 24 * 3600))
    CDN_TRANSFORM_WAIT_SECONDS = float(os.environ.get("CDN_TRANSFORM_WAIT_SECONDS", 5))
    # Images decoded at once per process (uploads are checked by a full decode); an upload waits
    # this long for a slot before 503 IMAGE_DECODE_BUSY.
    IMAGE_DECODE_CONCURRENCY = int(os.environ.get("IMAGE_DECODE_CONCURRENCY", 2))
    IMAGE_DECODE_WAIT_SECONDS = float(os.environ.get("IMAGE_DECODE_WAIT_SECONDS", 10))
    # Any width is a distinct transform: beyond this many per file the oldest are evicted.
    CDN_MAX_VARIANTS = int(os.environ.get("CDN_MAX_VARIANTS", 64))

    # Protocol pings every 25 s keep idle sockets alive through proxies; a missed pong closes the
    # socket. Client frames above max_message_size close it with 1009.
    SOCK_SERVER_OPTIONS = {"ping_interval": int(os.environ.get("REALTIME_PING_INTERVAL", 25)),
                           "max_message_size": 64 * 1024}
    # permessage-deflate compresses every frame once per socket: on 2 cores, 1,000 compressed
    # sockets fall seconds behind where plain ones share one pre-built frame (docs/realtime.md).
    REALTIME_COMPRESSION = _env_bool("REALTIME_COMPRESSION", False)
    # "direct": the request publishes the live event itself; "celery": a fanout.deliver task does
    # (one more hop). See docs/realtime.md for the measured difference.
    REALTIME_FANOUT = os.environ.get("REALTIME_FANOUT", "direct")
    # A socket that cannot take a frame for this long is a stalled peer: it is dropped.
    REALTIME_SEND_TIMEOUT = float(os.environ.get("REALTIME_SEND_TIMEOUT", 5))
    # Frames a socket's outbox holds while its peer reads slowly; one more closes it with 4008.
    REALTIME_OUTBOX_FRAMES = int(os.environ.get("REALTIME_OUTBOX_FRAMES", 1000))
    # Client frames per user, shared by every process: this many per window (seconds).
    REALTIME_FRAME_LIMIT = int(os.environ.get("REALTIME_FRAME_LIMIT", 60))
    REALTIME_FRAME_WINDOW = int(os.environ.get("REALTIME_FRAME_WINDOW", 10))
    # Open sockets one account may hold across every process and host (0: no cap); one more is a
    # 429 TOO_MANY_SOCKETS before the upgrade.
    MAX_SOCKETS_PER_USER = int(os.environ.get("MAX_SOCKETS_PER_USER", 20))
    # At most one typing event per user and channel in this many seconds.
    REALTIME_TYPING_INTERVAL = 3
    # A process refreshes its sockets' presence entries every TTL/3 s; a crashed process's
    # entries lapse after the TTL and the presence sweep (queued once a minute by a web process
    # holding sockets) marks their users offline.
    REALTIME_PRESENCE_TTL = int(os.environ.get("REALTIME_PRESENCE_TTL", 90))
    # An authenticated request counts as online for API_PRESENCE_SECONDS; each process refreshes a
    # user's marker at most every API_PRESENCE_REFRESH seconds (no Redis call on other requests).
    API_PRESENCE_SECONDS = int(os.environ.get("API_PRESENCE_SECONDS", 300))
    API_PRESENCE_REFRESH = float(os.environ.get("API_PRESENCE_REFRESH", 60))

    CELERY = {
        # broker_url and result_backend default to REDIS_URL (set by celery_init_app).
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "broker_connection_retry_on_startup": True,
        # Every registered task (app/admin/registry.py) runs through "background.run"
        # (app.tasks.BACKGROUND_RUN), so each run is recorded; the status route describes these
        # schedules in words. config.py imports nothing from app/: it sits below it.
        "beat_schedule": {task_id: {"task": "background.run", "args": [task_id], "schedule": schedule}
                          for task_id, schedule in {
                              "cdn_cleanup": crontab(hour=3, minute=30),
                              "auth_token_cleanup": timedelta(hours=1),
                              "server_stats_update": timedelta(minutes=5),
                              "chart_data_update": timedelta(minutes=5),
                              "activity_metrics_update": timedelta(minutes=2),
                              "github_releases_check": timedelta(hours=6),
                              "event_log_prune": timedelta(hours=1),
                          }.items()}
        # Not an owner-run task: the reaper of runs whose worker died (app/admin/lost_runs.py).
        | {"lost_runs_reap": {"task": "runs.reap", "schedule": timedelta(
            seconds=float(os.environ.get("RUN_REAP_SECONDS", 30)))}},
        "timezone": "UTC",
    }
    # Tasks one worker runs at once (unset: Celery's default, one per CPU). --concurrency
    # overrides it; keep the two equal, as scripts/run.py does: celery_app.py sizes the database
    # pool from this.
    if os.environ.get("CELERY_CONCURRENCY"):
        CELERY["worker_concurrency"] = int(os.environ["CELERY_CONCURRENCY"])


class TestConfig(Config):
    """Fast hashing, its own data dir; URLs come from the test runner's environment."""

    TESTING = True
    BCRYPT_ROUNDS = 4
    RATELIMIT_ENABLED = False
