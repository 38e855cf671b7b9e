"""Every blueprint of the API, registered in one place."""
from flask import Flask


def register_blueprints(app: Flask) -> None:
    from .. import openapi
    from . import cdn, cdn_serve, channels, general, uploads, users, ws

    for module in (openapi, general, users, channels, cdn, cdn_serve, uploads, ws):
        app.register_blueprint(module.bp)
