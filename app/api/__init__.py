"""Every blueprint of the API, registered in one place."""
from flask import Flask


def register_blueprints(app: Flask) -> None:
    from .. import openapi
    from . import channels, general, users, ws

    for module in (openapi, general, users, channels, ws):
        app.register_blueprint(module.bp)
