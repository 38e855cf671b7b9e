"""The real processes start against the test database and Redis and serve the same data."""
import requests

from scripts.stack import Stack


def test_gunicorn_serves_what_the_test_app_wrote(api, owner, services):
    created = api.call("POST", "/api/v1/channels/create/", token=owner["token"], json={"channel_name": "shared"})
    assert created.status_code == 201
    with Stack(services["env"], web_workers=2, threads=4) as stack:
        response = requests.post(stack.url + "/api/v1/channels/list/", json={"auth_token": owner["token"]}, timeout=10)
    assert response.status_code == 200
    assert [c["channel_name"] for c in response.json()["channels"]] == ["shared"]
