"""Read request parameters from a JSON body, a form or the query string, in that order."""
import re
from typing import Any

from flask import current_app, g, request
from werkzeug.routing import PathConverter, UnicodeConverter

from .errors import APIError, ValidationError

_MISSING = object()


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


def _text_problem(value: str) -> str | None:
    """Why a string cannot be stored or encrypted as text, or None."""
    if "\x00" in value:  # no database stores NUL in text; refusing it here keeps it out of every query
        return "must not contain NUL characters"
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:  # JSON "\ud800": a lone surrogate has no UTF-8 form
            return "must be valid Unicode text"
    return None


class Params:
    """Collects every field error of a request, then raises them together in done()."""

    def __init__(self) -> None:
        self.errors: list[dict] = []

    def _fail(self, name: str, message: str) -> None:
        self.errors.append({"path": name, "message": message})

    def text(self, name: str, required: bool = True, default: Any = None, min_len: int = 0,
            max_len: int = 10_000, pattern: re.Pattern | None = None, strip: bool = False,
            pattern_message: str = "has an invalid format", choices: set[str] | None = None) -> Any:
        value = raw_param(name, _MISSING)
        if value is _MISSING or value is None:
            if required:
                self._fail(name, "is required")
            return default
        if not isinstance(value, str):
            self._fail(name, "must be a string")
            return default
        if problem := _text_problem(value):
            self._fail(name, problem)
            return default
        if strip:
            value = value.strip()
        if len(value) < min_len:
            self._fail(name, f"must be at least {min_len} characters" if min_len > 1 else "must not be empty")
        elif len(value) > max_len:
            self._fail(name, f"must be at most {max_len} characters")
        elif pattern is not None and not pattern.fullmatch(value):
            self._fail(name, pattern_message)
        elif choices is not None and value not in choices:
            self._fail(name, "must be one of " + ", ".join(sorted(choices)))
        return value

    def integer(self, name: str, default: int | None = None, minimum: int | None = None,
            maximum: int | None = None, required: bool = False) -> Any:
        value = raw_param(name, _MISSING)
        if value is _MISSING or value is None or value == "":
            if required:
                self._fail(name, "is required")
            return default
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            self._fail(name, "must be an integer")
            return default
        try:
            number = int(value)
        except ValueError:
            self._fail(name, "must be an integer")
            return default
        if minimum is not None and number < minimum or maximum is not None and number > maximum:
            self._fail(name, f"must be between {minimum} and {maximum}")
            return default
        return number

    def flag(self, name: str, default: bool = False, required: bool = False) -> bool:
        value = raw_param(name, _MISSING)
        if value is _MISSING or value is None or value == "":
            if required:
                self._fail(name, "is required")
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "1", "yes", "on"}:
            return True
        if isinstance(value, str) and value.lower() in {"false", "0", "no", "off"}:
            return False
        self._fail(name, "must be a boolean")
        return default

    def id_list(self, name: str, max_items: int, max_len: int) -> list[str]:
        """A list of ids, as a JSON list or comma-separated text; [] when absent."""
        value = raw_param(name, _MISSING)
        if value is _MISSING or value is None or value == "":
            return []
        items = value.split(",") if isinstance(value, str) else value
        if (not isinstance(items, list) or len(items) > max_items
                or not all(isinstance(item, str) and 0 < len(item.strip()) <= max_len for item in items)):
            self._fail(name, f"must be a list of at most {max_items} ids")
            return []
        return [item.strip() for item in items]

    def done(self) -> None:
        if self.errors:
            raise ValidationError(self.errors)


class SegmentConverter(UnicodeConverter):
    """The default URL converter without NUL: a URL carrying one matches no route (JSON 404)."""

    def __init__(self, url_map, *args, **kwargs) -> None:
        super().__init__(url_map, *args, **kwargs)
        self.regex = self.regex.replace("[^/]", "[^/\x00]")


class NoNulPathConverter(PathConverter):
    """The path converter without NUL."""

    regex = "[^/\x00][^\x00]*?"


URL_CONVERTERS = {"default": SegmentConverter, "string": SegmentConverter, "path": NoNulPathConverter}
