"""One error shape for the whole API and the single place that renders it."""
import logging

from flask import Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from .extensions import db

log = logging.getLogger(__name__)

# Default stable codes by status; a raise site may name a more precise one.
DEFAULT_CODES = {
    400: "BAD_REQUEST",
    401: "INVALID_AUTH_TOKEN",
    403: "MISSING_ACCESS",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    414: "URI_TOO_LONG",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
    431: "REQUEST_HEADERS_TOO_LARGE",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


class APIError(Exception):
    """An error the client caused or may see: rendered as {status_code, detail, code}."""

    def __init__(self, status: int, detail: str, code: str | None = None, errors=None, headers=None, extra=None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code or DEFAULT_CODES.get(status, "ERROR")
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}


class ValidationError(APIError):
    def __init__(self, errors: list[dict]):
        detail = "; ".join(f"{e['path']}: {e['message']}" for e in errors) or "Invalid request"
        super().__init__(400, detail, "INVALID_FORM_BODY", errors=errors)


def error_response(status: int, detail: str, code: str | None = None, errors=None, headers=None, extra=None, exc=None):
    body = {"status_code": status, "detail": detail, "code": code or DEFAULT_CODES.get(status, "ERROR")}
    if errors:
        body["errors"] = errors
    body.update(extra or {})
    if exc is not None and current_app.config.get("DEBUG_ERRORS") and request.args.get("debug") in {"1", "true"}:
        body["debug"] = {"exception": type(exc).__name__, "hint": str(exc)[:500]}
    response = jsonify(body)
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(APIError)
    def handle_api_error(exc: APIError):
        return error_response(exc.status, exc.detail, exc.code, exc.errors, exc.headers, exc.extra, exc)

    @app.errorhandler(HTTPException)
    def handle_http_error(exc: HTTPException):
        detail = exc.description if exc.code != 404 else "Resource not found"
        if exc.code == 405:
            detail = f"Method {request.method} is not allowed on this route"
        if exc.code == 413:
            detail = "Request body is too large"
        headers = dict(exc.get_headers()) if exc.code == 405 else {}
        headers.pop("Content-Type", None)
        return error_response(exc.code or 500, detail, headers=headers, exc=exc)

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        db.session.rollback()
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "Internal server error", exc=exc)
