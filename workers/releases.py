"""The release check: the newest published release, or the running version when offline."""
import json
import logging
import urllib.request

from celery import shared_task
from flask import current_app

from app import keys, tasks
from app.extensions import redis
from app.ids import iso, utcnow

log = logging.getLogger(__name__)


def fetch_latest(url: str, timeout: float = 5) -> dict:
    """The latest release from a GitHub-style releases API."""
    request = urllib.request.Request(url, headers={"Accept": "application/vnd.github+json",
                                                   "User-Agent": "pufferblow-server"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (configured https URL)
        data = json.loads(response.read(1024 * 1024))
    version = str(data.get("tag_name") or data.get("name") or "").lstrip("v")
    if not version:
        raise ValueError("the release document names no version")
    return {"version": version[:64], "url": data.get("html_url"), "published_at": data.get("published_at")}


@shared_task(name=tasks.RELEASES_CHECK)
def check_releases() -> dict:
    running = current_app.config["SERVER_VERSION"]
    try:
        release = {**fetch_latest(current_app.config["RELEASES_URL"]), "source": "network"}
    except Exception as exc:  # offline or the service is down: report what runs here
        log.info("release check could not reach %s: %s", current_app.config["RELEASES_URL"], exc)
        release = {"version": running, "url": None, "published_at": None, "source": "local",
                   "error": f"{type(exc).__name__}: {exc}"[:300]}
    release["checked_at"] = iso(utcnow())
    redis.set(keys.latest_release(), json.dumps(release))
    return release
