"""The OpenAPI 3 document, built from the URL map and each view's @endpoint declaration.

A view's parameters, summary and statuses come from its `app.endpoint.Note` (the same Fields
model that validates its requests); its security and its 401/403 from the role decorator that
really checks (`app.endpoint.role_of`). The statuses every route may answer are added here, once.
Every served route must be declared: undocumented_rules() lists those that are not, and a test
keeps that list empty.
"""
import re

from flask import Flask

from .endpoint import Note, note_of, role_of
from .fields import SETTING_MAXIMUM
from .urls import UNCHECKED_PATHS

_SKIPPED_ENDPOINTS = {"static"}
_BODY_METHODS = {"post", "put", "patch"}
# Path segments of the default converter hold neither "/" nor NUL (app/params.py's converters).
_SEGMENT = {"type": "string", "minLength": 1, "pattern": "^[^/\\x00]+$"}
_PATH = {"type": "string", "minLength": 1, "pattern": "^[^\\x00]+$"}
_ROLE_TEXT = {"user": "any signed-in user", "admin": "admin or owner", "owner": "the owner only"}

# Answered by any route: the block list and the rate limits run before every view.
COMMON = {403: "IP_BLOCKED: the client's address is blocked",
          429: "RATE_LIMITED: too many requests; Retry-After says when to retry"}

# Answered by every route but the probes when PUBLIC_URL is unset (app/urls.py).
HOST_CHECK = {400: "INVALID_HOST: the Host header is not one of ALLOWED_HOSTS"}

ERROR_SCHEMA = {
    "type": "object", "required": ["status_code", "detail", "code"],
    "properties": {
        "status_code": {"type": "integer", "description": "Always the HTTP status"},
        "detail": {"type": "string"}, "code": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]*$"},
        "errors": {"type": "array", "items": {"type": "object", "required": ["path", "message"], "properties": {
            "path": {"type": "string"}, "message": {"type": "string"}}}},
    },
}
SUCCESS_SCHEMA = {"type": "object", "required": ["status_code"],
                  "properties": {"status_code": {"type": "integer", "description": "Always the HTTP status"}}}


def _automatic(note: Note, role: str | None, method: str) -> dict[int, str]:
    """The statuses a view answers because of its declaration and its role decorator."""
    found: dict[int, str] = {}
    reads_body = method in _BODY_METHODS and note.model is not None
    if note.model is not None:
        found[400] = "INVALID_FORM_BODY (errors lists each field), INVALID_JSON"
    if role:
        found[400] = (found.get(400, "INVALID_JSON") + ", MALFORMED_AUTH_TOKEN")
        found[401] = "MISSING_AUTH_TOKEN or INVALID_AUTH_TOKEN"
    if role in {"admin", "owner"}:
        found[403] = f"MISSING_ACCESS: {_ROLE_TEXT[role]}"
    if reads_body or role:
        found[413] = "PAYLOAD_TOO_LARGE: the body is over its limit"
    return found


def _responses(note: Note, role: str | None, method: str, path: str) -> dict:
    described: dict[int, list[str]] = {}
    declared = note.statuses or {}
    if not any(status < 400 for status in declared):
        declared = {200: "Success", **declared}
    host = {} if path in UNCHECKED_PATHS else HOST_CHECK
    for source in (declared, _automatic(note, role, method), COMMON, host):
        for status, text in source.items():
            text = text[0] if isinstance(text, tuple) else text
            described.setdefault(status, [])
            if text not in described[status]:
                described[status].append(text)
    responses = {}
    for status in sorted(described):
        response: dict = {"description": "; ".join(described[status])}
        media = declared.get(status)
        media = media[1] if isinstance(media, tuple) else "application/json"
        if status >= 400:
            response["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        elif media == "application/json":
            response["content"] = {media: {"schema": {"$ref": "#/components/schemas/Success"}}}
        elif media:
            response["content"] = {media: {"schema": {"type": "string", "format": "binary"}}}
        responses[str(status)] = response
    return responses


def _property(prop: dict, config) -> dict:
    # pydantic adds a title to each field and "default": null to optional ones: neither says anything
    prop = {k: v for k, v in prop.items() if k != "title" and not (k == "default" and v is None)}
    if SETTING_MAXIMUM in prop:
        prop["maximum"] = config[prop.pop(SETTING_MAXIMUM)]
    return prop


def _fields_schema(note: Note, config) -> tuple[dict, list[str]]:
    if note.model is None:
        return {}, []
    schema = note.model.model_json_schema()
    properties = {name: _property(prop, config) for name, prop in schema.get("properties", {}).items()}
    return properties, schema.get("required", [])


def _operation(view, note: Note, method: str, rule, tag: str, config) -> dict:
    converters = {name: type(conv).__name__ for name, conv in rule._converters.items()}
    parameters = [{"name": name, "in": "path", "required": True,
                   "schema": dict(_PATH if converters.get(name) == "NoNulPathConverter" else _SEGMENT)}
                  for name in rule.arguments if name not in (rule.defaults or {})]
    role = role_of(view)
    operation: dict = {"summary": note.summary, "tags": [note.tag or tag], "operationId": f"{method}_{rule.endpoint}"}
    if role:
        operation["security"] = [{"bearerAuth": []}, {"authTokenQuery": []}]
        operation["description"] = f"Requires an auth_token ({_ROLE_TEXT[role]})."
    properties, required = _fields_schema(note, config)
    if method in _BODY_METHODS and properties:
        schema = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        has_files = any(prop.get("format") == "binary" or prop.get("items", {}).get("format") == "binary"
                        for prop in properties.values())
        content = {"multipart/form-data": {"schema": schema}}
        if not has_files:
            content = {"application/json": {"schema": schema},
                       "application/x-www-form-urlencoded": {"schema": schema}, **content}
        operation["requestBody"] = {"required": bool(required), "content": content}
    else:
        parameters += [{"name": name, "in": "query", "required": name in required, "schema": prop}
                       for name, prop in properties.items()]
    if parameters:
        operation["parameters"] = parameters
    operation["responses"] = _responses(note, role, method, rule.rule)
    return operation


def build_document(app: Flask) -> dict:
    paths: dict = {}
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        note = note_of(view)
        if note is None:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        tag = rule.endpoint.split(".")[0]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(view, note, method.lower(), rule, tag, app.config)
    return {
        "openapi": "3.0.3",
        "info": {"title": "PufferBlow-compatible chat server", "version": app.config["SERVER_VERSION"],
                 "description": "Parameters may be sent as JSON, form fields or query parameters (a JSON "
                                "field wins over a form field, which wins over the query string). "
                                "Errors are {status_code, detail, code}; status_code is always the HTTP status."},
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "authTokenQuery": {"type": "apiKey", "in": "query", "name": "auth_token"}},
            "schemas": {"Error": ERROR_SCHEMA, "Success": SUCCESS_SCHEMA}},
        "paths": dict(sorted(paths.items())),
    }


def undocumented_rules(app: Flask) -> list[str]:
    return sorted(rule.rule for rule in app.url_map.iter_rules()
                  if rule.endpoint not in _SKIPPED_ENDPOINTS and note_of(app.view_functions.get(rule.endpoint)) is None)
