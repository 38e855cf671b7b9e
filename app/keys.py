"""Every Redis key and pub/sub channel the server uses, built from one prefix.

The prefix is REDIS_PREFIX plus the Redis database number: pub/sub channels ignore database
numbers, so two servers sharing one Redis stay apart only if their names differ.
"""
from flask import Flask, current_app
from redis.connection import parse_url


def init_app(app: Flask) -> None:
    db_number = parse_url(app.config["REDIS_URL"]).get("db", 0)
    app.extensions["redis_namespace"] = f"{app.config['REDIS_PREFIX']}:{db_number}"


def namespace() -> str:
    return current_app.extensions["redis_namespace"]


def key(*parts: str) -> str:
    return ":".join((namespace(), *parts))


# Real time
def events_channel() -> str:
    """The pub/sub channel every web process subscribes to."""
    return key("events")


def presence(user_id: str) -> str:
    """Sorted set of a user's open sockets, scored by expiry."""
    return key("presence", user_id)


def api_seen(user_id: str) -> str:
    """Set while a user has made authenticated requests lately: online without a socket."""
    return key("presence-api", user_id)


def presence_choice(user_id: str) -> str:
    """The idle or dnd a user chose, kept while they are offline so that it returns with them."""
    return key("presence-choice", user_id)


def presence_users() -> str:
    """The users whose sockets made them online: the presence sweep looks only at them."""
    return key("presence-users")


# Background work
def lock(name: str) -> str:
    """A single-flight lock (app/locks.py)."""
    return key("lock", name)


def throttle(name: str) -> str:
    """An at-most-once-per-interval marker (app/locks.py)."""
    return key("once", name)


def latest_release() -> str:
    return key("latest-release")


def activity_metrics() -> str:
    return key("activity-metrics")


# Files
def variant_pending(sha256: str, name: str) -> str:
    """Set while a transform task is queued or running, so concurrent requests enqueue it once."""
    return key("cdn", "pending", sha256, name)


def variant_attempts(sha256: str, name: str) -> str:
    """How many times a transform started without finishing (its worker was lost)."""
    return key("cdn", "attempts", sha256, name)


def variant_failed(sha256: str, name: str) -> str:
    """Set for a while after a transform failed, so requests stop waiting for it."""
    return key("cdn", "failed", sha256, name)


# Limits
def blocked_ips_version() -> str:
    """Changes whenever the block list does, so every process reloads its copy."""
    return key("blocked-ips", "version")


def ratelimit_prefix() -> str:
    """Flask-Limiter's key prefix (it appends its own parts)."""
    return key("ratelimit")


# Moderation
# The event log's relay
def relay_cursor() -> str:
    """The highest seq the relay has published: the next relay run starts after it."""
    return key("relay-cursor")
