"""Every blueprint of the API, registered in one place."""
from flask import Flask


def register_blueprints(app: Flask) -> None:
    from .. import openapi
    from . import (analytics, background_tasks, blocked_ips, cdn, cdn_serve, channels, general, system, uploads,
                   users, ws)

    for module in (openapi, general, users, channels, cdn, cdn_serve, uploads, system, analytics, blocked_ips,
                   background_tasks, ws):
        app.register_blueprint(module.bp)
