"""Search through HTTP: normalisation, whole words, scripts, filters, paging and bad input."""
import pytest

from tests.api_helpers import assert_error, error_paths, make_channel, send


def search(api, token, q, **query):
    response = api.call("GET", "/api/v1/search", token=token, query={"q": q, **query})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def found(api, token, q, **query) -> list[str]:
    """The message ids a query finds, newest first."""
    return [r["message_id"] for r in search(api, token, q, **query)["results"] if r["type"] == "message"]


def test_smoke(api, owner):
    channel = make_channel(api, owner["token"], "general")
    first = send(api, owner["token"], channel, "Hello brave new World")
    assert found(api, owner["token"], "world") == [first]
