"""Every error is JSON, through real gunicorn: refusals gunicorn writes itself (request line, header
sizes), doubled slashes, trailing slashes and OPTIONS, none of them HTML or a redirect."""
import json
import socket

import pytest
import requests

from scripts.stack import Stack
from tests.api_helpers import assert_error


@pytest.fixture(scope="module")
def stack(app, services):
    with Stack(services["env"], web_workers=1, threads=8) as running:
        yield running


def raw_request(stack, head: bytes) -> tuple[int, dict, bytes]:
    """Send a hand-written request head; (status, headers, body) of the answer."""
    host, port = stack.url.split("//", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(head)
        data = b""
        while chunk := raw.recv(65536):
            data += chunk
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


class Answer:
    """A requests-like view of a raw answer for assert_error."""

    def __init__(self, status, headers, body):
        self.status_code, self.headers, self.body = status, headers, body
        self.is_json = headers.get("content-type", "").startswith("application/json")

    def get_json(self):
        return json.loads(self.body)

    def get_data(self, as_text=False):
        return self.body.decode(errors="replace") if as_text else self.body


def assert_json_error(stack, head: bytes, status: int, code: str) -> dict:
    answer = Answer(*raw_request(stack, head))
    assert int(answer.headers["content-length"]) == len(answer.body)
    return assert_error(answer, status, code)


def get(path: str, *headers: str) -> bytes:
    extra = "".join(f"{h}\r\n" for h in headers)
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n".encode()


def test_long_request_line_is_json_414(stack):
    assert_json_error(stack, get("/api/v1/info?q=" + "a" * 9000), 414, "URI_TOO_LONG")


def test_generous_limits_still_serve_long_requests(stack):
    status, headers, _ = raw_request(stack, get("/api/v1/info?q=" + "a" * 6000, "X-Long: " + "b" * 12000))
    assert status == 200 and headers["content-type"].startswith("application/json")


def test_large_header_is_json_431(stack):
    assert_json_error(stack, get("/api/v1/info", "X-Big: " + "b" * 20000), 431, "REQUEST_HEADERS_TOO_LARGE")


def test_too_many_headers_is_json_431(stack):
    many = [f"X-H{i}: v" for i in range(200)]
    assert_json_error(stack, get("/api/v1/info", *many), 431, "REQUEST_HEADERS_TOO_LARGE")


def test_malformed_request_line_is_json_400(stack):
    assert_json_error(stack, b"GET /api/v1/info NOT-HTTP\r\nHost: x\r\n\r\n", 400, "BAD_REQUEST")


@pytest.mark.parametrize("path", ["/api//v1/info", "//api/v1/info", "/api/v1//channels/list/"])
def test_doubled_slashes_answer_json_without_a_redirect(stack, path):
    response = requests.get(stack.url + path, headers={"Host": "localhost"}, allow_redirects=False, timeout=10)
    # Not found, or served as the path it names once merged: never a redirect built from the Host.
    assert response.status_code in (200, 404), (response.status_code, response.text[:200])
    assert response.headers["Content-Type"].startswith("application/json")
    assert "Location" not in response.headers
    assert response.json().get("status_code", 200) == response.status_code


def test_missing_trailing_slash_is_served_not_redirected(stack):
    response = requests.post(stack.url + "/api/v1/channels/list", allow_redirects=False, timeout=10)
    assert "Location" not in response.headers
    assert response.status_code == 401 and response.json()["code"] == "MISSING_AUTH_TOKEN"


def test_options_is_never_html(stack):
    response = requests.options(stack.url + "/api/v1/info", timeout=10)
    assert response.status_code == 204 and not response.content
    assert "text/html" not in response.headers.get("Content-Type", "")
    assert "GET" in response.headers["Allow"]
    unknown = requests.options(stack.url + "/api/v1/no-such-route", timeout=10)
    assert unknown.status_code == 404 and unknown.headers["Content-Type"].startswith("application/json")
    # A CORS preflight still gets its headers.
    preflight = requests.options(stack.url + "/api/v1/info", timeout=10, headers={
        "Origin": "https://client.example", "Access-Control-Request-Method": "GET"})
    assert preflight.ok and preflight.headers["Access-Control-Allow-Origin"] in {"*", "https://client.example"}
