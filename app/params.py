"""Where request parameters come from: the JSON body, the form, then the query string; and the
URL converters that keep NUL out of path parameters. Validating them is app/endpoint.py's job."""
from typing import Any

from flask import current_app, g, request
from werkzeug.routing import PathConverter, UnicodeConverter

from .errors import APIError


def request_json() -> dict:
    """The JSON object body, {} when there is none; malformed JSON is a 400."""
    if "json_body" not in g:
        body: Any = {}
        if request.is_json and request.content_length != 0:
            limit = current_app.config["MAX_JSON_BYTES"]
            # Refuse a declared size at once rather than buffer up to MAX_CONTENT_LENGTH first.
            if (request.content_length or 0) > limit:
                raise APIError(413, "JSON body is too large")
            raw = request.get_data(cache=True)
            if len(raw) > limit:
                raise APIError(413, "JSON body is too large")
            if raw.strip():
                try:
                    body = request.get_json(silent=True)
                except RecursionError:  # deeply nested input is malformed too, not a 500
                    body = None
                if body is None:
                    raise APIError(400, "Malformed JSON body", "INVALID_JSON")
        if not isinstance(body, dict):
            raise APIError(400, "The JSON body must be an object", "INVALID_JSON")
        g.json_body = body
    return g.json_body


def raw_param(name: str, default: Any = None) -> Any:
    """The first value found for name in the JSON body, the form, then the query string."""
    body = request_json()
    if name in body:
        return body[name]
    if request.form and name in request.form:
        return request.form[name]
    if name in request.args:
        return request.args[name]
    return default


class SegmentConverter(UnicodeConverter):
    """The default URL converter without NUL: a URL carrying one matches no route (JSON 404)."""

    def __init__(self, url_map, *args, **kwargs) -> None:
        super().__init__(url_map, *args, **kwargs)
        self.regex = self.regex.replace("[^/]", "[^/\x00]")


class NoNulPathConverter(PathConverter):
    """The path converter without NUL."""

    regex = "[^/\x00][^\x00]*?"


URL_CONVERTERS = {"default": SegmentConverter, "string": SegmentConverter, "path": NoNulPathConverter}
