"""Every blueprint of the API, registered in one place: one blueprint per URL prefix."""
from flask import Flask


def register_blueprints(app: Flask) -> None:
    from .. import openapi
    # analytics and uploads route their views on the system and users blueprints, cdn_serve
    # partly on cdn: importing them first makes those routes exist before registration.
    from . import (analytics, background_tasks, blocked_ips, cdn, cdn_serve, channels, general,  # noqa: F401
                   system, uploads, users, webclient, ws)

    for module in (openapi, general, users, channels, cdn, cdn_serve, system, blocked_ips, background_tasks, ws):
        app.register_blueprint(module.bp)
    if app.config.get("WEB_CLIENT_DIR"):  # the built web client at /, on the API's origin
        app.url_map.converters["client_path"] = webclient.ClientPath
        app.register_blueprint(webclient.bp)
