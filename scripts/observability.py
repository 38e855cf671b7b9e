"""Process setup for operations, shared by gunicorn.conf.py and celery_app.py: the metrics
directory shared by every process, dropping a dead worker's live metrics, a masked access log."""
import os
import re

from gunicorn.glogging import Logger

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# password=..., auth_token=... in a query string or request line (any case, URL-encoded or not).
_QUERY_SECRET_RE = re.compile(r"(?i)((?:^|[?&;])[^=&;\s]*(?:password|auth_token|token)[^=&;\s]*=)[^&;\s]*")


def metrics_dir() -> str:
    """PROMETHEUS_MULTIPROC_DIR, by default <data dir>/metrics; set before the app is imported."""
    data_dir = os.environ.get("PUFFERBLOW_DATA_DIR", os.path.join(ROOT, "instance"))
    path = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", os.path.join(os.path.abspath(data_dir), "metrics"))
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def child_exit(_server, worker) -> None:
    """A worker exited: its live gauges (open sockets) leave the sum; its counters stay."""
    from prometheus_client import multiprocess  # imported here: only after the directory is set
    multiprocess.mark_process_dead(worker.pid)


def mask_query(text: str) -> str:
    return _QUERY_SECRET_RE.sub(r"\1***", text)


class MaskingLogger(Logger):
    """gunicorn's logger with passwords and tokens masked in the query string, the request
    line, the referer and the Authorization header of every access-log line."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for name in ("q", "r", "f", "{referer}i"):
            if isinstance(atoms.get(name), str) and "=" in atoms[name]:
                atoms[name] = mask_query(atoms[name])
        for name in ("{authorization}i", "{cookie}i"):
            if atoms.get(name, "-") != "-":
                atoms[name] = "***"
        return atoms
