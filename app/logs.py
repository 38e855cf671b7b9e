"""The server's one structured log: JSON lines to stderr and to a size-rotated 0600 file.

Each line carries timestamp, level, logger and message, and inside a request its id, route and
the caller's user id. A request answered with a 5xx gets a closing line with status and duration;
with LOG_REQUESTS on every request does. Passwords and
tokens are masked before a line is written.
"""
import fcntl
import json
import logging
import logging.handlers
import os
import re
import secrets
import sys
import time
from datetime import datetime, timezone

from flask import Flask, g, has_request_context, request

from . import metrics

REQUEST_LOGGER = "pufferblow.request"
HANDLER_NAME = "pufferblow-structured"
# key=value and "key": "value" forms of secrets, Bearer headers, and bare "<user id>.<secret>" tokens.
_SECRET_RE = re.compile(r"(?i)((?:auth_token|password|new_password|old_password|token)(?:=|\"?\s*:\s*\"?))"
                        r"[^&\s\"',;]+")
_BEARER_RE = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+")
_TOKEN_RE = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.[A-Za-z0-9_-]{20,}")
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")


def mask(text: str) -> str:
    """Text with every password and token replaced by ***."""
    # Each pattern needs one of these characters: most request lines skip the three scans.
    if "=" in text or ":" in text or "." in text or "earer" in text:
        text = _SECRET_RE.sub(r"\1***", text)
        text = _BEARER_RE.sub(r"\1***", text)
        text = _TOKEN_RE.sub("***", text)
    return text


class JSONFormatter(logging.Formatter):
    """One JSON object per line; request context is read only when a line is actually written."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"timestamp": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                "level": record.levelname, "logger": record.name, "message": mask(record.getMessage())}
        context = getattr(record, "request", None)
        if context is None and has_request_context():
            context = {"request_id": g.get("request_id"), "route": _route(), "user_id": _user_id()}
        if context:
            line.update(context)
        if record.exc_info:
            line["exception"] = mask(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


class SharedRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A RotatingFileHandler that several processes may share: one rotates under a file lock,
    the others notice the new file (its inode changed) and reopen instead of rotating again."""

    def _open(self):
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return os.fdopen(fd, "a", encoding=self.encoding or "utf-8")

    checked_at = 0.0

    def _stale(self) -> bool:
        # At most once a second: until then lines may still go to a file just rotated away,
        # which loses none of them.
        now = time.monotonic()
        if now - self.checked_at < 1.0:
            return False
        self.checked_at = now
        try:
            return os.stat(self.baseFilename).st_ino != os.fstat(self.stream.fileno()).st_ino
        except OSError:
            return True

    def shouldRollover(self, record) -> bool:
        if self.stream is None:
            self.stream = self._open()
        elif self._stale():
            self.stream.close()
            self.stream = self._open()
        return self.maxBytes > 0 and self.stream.tell() >= self.maxBytes

    def doRollover(self) -> None:
        with open(self.baseFilename + ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.checked_at = 0.0
            if self._stale() or os.path.getsize(self.baseFilename) < self.maxBytes:
                if self.stream:
                    self.stream.close()
                self.stream = self._open()  # another process rotated first
                return
            super().doRollover()


def log_path(app: Flask) -> str:
    return app.config["LOG_FILE"] or os.path.join(app.config["DATA_DIR"], "logs", "server.log")


def setup_logging(app: Flask) -> None:
    """Put the structured handlers on the root logger, once per process and path."""
    root = logging.getLogger()
    path = log_path(app)
    if any(isinstance(handler, SharedRotatingFileHandler) and handler.baseFilename == os.path.abspath(path)
           for handler in root.handlers):
        return
    root.handlers = [handler for handler in root.handlers if getattr(handler, "name", None) != HANDLER_NAME]
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    formatter = JSONFormatter()
    handlers = [SharedRotatingFileHandler(path, maxBytes=app.config["LOG_MAX_BYTES"],
                                          backupCount=app.config["LOG_BACKUP_COUNT"], delay=True)]
    if app.config["LOG_STDERR"]:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.name = HANDLER_NAME
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(app.config["LOG_LEVEL"])


def _route() -> str | None:
    rule = request.url_rule
    return rule.rule if rule is not None else None


def _user_id() -> str | None:
    caller = g.get("caller")
    return caller.id if caller is not None else None


def _start_request() -> None:
    state = g._get_current_object()
    state.request_started = time.perf_counter()
    given = request.environ.get("HTTP_X_REQUEST_ID")
    state.request_id = given if given and _REQUEST_ID_RE.fullmatch(given) else secrets.token_hex(8)


_request_log = logging.getLogger(REQUEST_LOGGER)


def _finish_request(response):
    """Count and (when its level is on) log the request: the one hook every request pays for."""
    state = g._get_current_object()
    started = getattr(state, "request_started", None)
    if started is None:  # a response made before our first hook ran
        return response
    seconds = time.perf_counter() - started
    current = request._get_current_object()
    status = response.status_code
    metrics.observe_request(current.endpoint or "unmatched", current.method, status, seconds)
    response.headers.add("X-Request-ID", state.request_id)  # add: set() scans the headers first
    level = logging.ERROR if status >= 500 else logging.INFO
    if _request_log.isEnabledFor(level):
        caller = getattr(state, "caller", None)
        rule = current.url_rule
        context = {"request_id": state.request_id, "route": rule.rule if rule is not None else None,
                   "user_id": caller.id if caller is not None else None, "status": status,
                   "duration_ms": round(seconds * 1000, 2)}
        _request_log.log(level, "%s %s %s", current.method, current.path, status, extra={"request": context})
    return response


def init_app(app: Flask) -> None:
    """Logging for this process and the request hooks; before every other hook, so all are timed."""
    setup_logging(app)
    # LOG_REQUESTS off: only failed (5xx) requests get a line; the others are filtered out
    # before any of it is built.
    logging.getLogger(REQUEST_LOGGER).setLevel(logging.NOTSET if app.config["LOG_REQUESTS"] else logging.WARNING)
    app.before_request_funcs.setdefault(None, []).insert(0, _start_request)
    app.after_request(_finish_request)
