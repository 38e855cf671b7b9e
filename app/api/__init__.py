"""Every blueprint of the API, registered in one place: one blueprint per URL prefix."""
from flask import Flask


def register_blueprints(app: Flask) -> None:
    from .. import openapi
    # analytics and uploads route their views on the system and users blueprints, cdn_serve
    # partly on cdn: importing them first makes those routes exist before registration.
    from . import (analytics, background_tasks, blocked_ips, cdn, cdn_serve, channels, general,  # noqa: F401
                   metrics, system, uploads, users, ws)

    for module in (openapi, general, users, channels, cdn, cdn_serve, system, blocked_ips, background_tasks, ws, metrics):
        app.register_blueprint(module.bp)
