"""gunicorn's own refusals as JSON in the API's error shape {status_code, detail, code}.

gunicorn answers some requests itself, before the application sees them (a request line or
headers over its limits, a malformed request line); its page is HTML. install() makes it write
the same JSON body the application writes for its own errors."""
import json

from gunicorn import util

# The codes the application uses for these statuses (app/errors.py), plus gunicorn's own cases.
CODES = {400: "BAD_REQUEST", 403: "MISSING_ACCESS", 414: "URI_TOO_LONG", 417: "EXPECTATION_FAILED",
         431: "REQUEST_HEADERS_TOO_LARGE", 500: "INTERNAL_ERROR", 501: "NOT_IMPLEMENTED"}
# gunicorn's message can quote the request; a fixed sentence says the same for the size limits.
DETAILS = {414: "The request line (method, path and query) is too long",
           431: "The request's header fields are too large or too many"}
DETAIL_MAX = 300


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """What gunicorn.util.write_error writes, as JSON."""
    detail = DETAILS.get(status_int) or (mesg or reason)[:DETAIL_MAX]
    body = json.dumps({"status_code": status_int, "detail": detail,
                       "code": CODES.get(status_int, "ERROR")}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    util.write_nonblock(sock, head.encode("latin-1") + body)


def install() -> None:
    """Every worker class reports through gunicorn.util.write_error: replace it."""
    util.write_error = write_json_error
