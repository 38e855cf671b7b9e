"""Every blueprint of the API, registered in one place: one blueprint per URL prefix."""
from flask import Flask

# analytics, uploads, conversations and bans route their views on the system, users and channels
# blueprints, cdn_serve partly on cdn: they are imported so those routes exist before the
# blueprints are registered.
from . import (analytics, background_tasks, bans, blocked_ips, cdn, cdn_serve, channels,  # noqa: F401
               conversations, docs, events, general, invites, messages, metrics, reports, search, system, uploads,
               users, webclient, ws)


def register_blueprints(app: Flask) -> None:
    for module in (docs, general, users, channels, messages, cdn, cdn_serve, system, blocked_ips,
                   background_tasks, ws, invites, reports, bans, metrics, search, events):
        app.register_blueprint(module.bp)
    if app.config.get("WEB_CLIENT_DIR"):  # the built web client at /, on the API's origin
        app.url_map.converters["client_path"] = webclient.ClientPath
        app.register_blueprint(webclient.bp)
