"""The built web client served at / when WEB_CLIENT_DIR is set: its files, index.html for its routes.

Served from the same origin as the API, the client's relative URLs reach the server. The API's
own prefixes never reach these views (their converter refuses them), so unknown API paths keep
their JSON 404 and wrong methods their 405.
"""
import os
import re

from flask import Blueprint, current_app, send_from_directory
from werkzeug.exceptions import NotFound
from werkzeug.routing import PathConverter
from werkzeug.security import safe_join

from ..endpoint import endpoint

bp = Blueprint("webclient", __name__)

RESERVED = ("api", "ws", "cdn", "docs", "openapi.json", "healthz", "readyz")
# A bundler's content-hashed file under assets/ (app.3f2a1b.js, index-BX3k9a_Q.js): its name
# changes with its content, so it may be cached for good.
HASHED = re.compile(r"assets/(?:[^/]+/)*[^/]*[.-](?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{6,}\.[A-Za-z0-9]+")
IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=300"  # other files (favicon, manifest) may change with a new build
REVALIDATE = "no-cache"  # index.html names the current build's assets: always revalidated


class ClientPath(PathConverter):
    """A path under / that is not one of the API's prefixes."""

    regex = r"(?!(?:" + "|".join(re.escape(p) for p in RESERVED) + r")(?:/|$))[^/\x00][^\x00]*?"


def _send(name: str, cache_control: str):
    response = send_from_directory(current_app.config["WEB_CLIENT_DIR"], name, max_age=0)
    response.headers["Cache-Control"] = cache_control
    return response


@bp.get("/")
@endpoint("The web client (WEB_CLIENT_DIR)", statuses={200: ("index.html", "text/html"), 304: ("Not modified", None)})
def index():
    return _send("index.html", REVALIDATE)


@bp.get("/<client_path:path>")
@endpoint("A file of the web client, or index.html for the client's own routes",
          statuses={200: ("The file, or index.html", "application/octet-stream"), 304: ("Not modified", None),
                    404: "A missing file, or a path outside the client"})
def client_file(path: str):
    root = current_app.config["WEB_CLIENT_DIR"]
    full = safe_join(root, path)
    if full is None:  # ".." or an absolute path: never outside the directory
        raise NotFound()
    if os.path.isfile(full):
        return _send(path, IMMUTABLE if HASHED.fullmatch(path) else REVALIDATE if path == "index.html" else SHORT)
    # A missing file stays missing (a script must not receive HTML); anything else is a client route.
    if path.startswith("assets/") or "." in path.rsplit("/", 1)[-1]:
        raise NotFound()
    return _send("index.html", REVALIDATE)
