"""/openapi.json describes exactly the routes the app serves."""
import re

from werkzeug.exceptions import MethodNotAllowed, NotFound

from app.openapi import undocumented_rules

IGNORED_METHODS = {"HEAD", "OPTIONS"}


def _document(api) -> dict:
    response = api.call("GET", "/openapi.json")
    assert response.status_code == 200 and response.is_json
    return response.get_json()


def _served(app) -> set[tuple[str, str]]:
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        served |= {(path, method.lower()) for method in rule.methods - IGNORED_METHODS}
    return served


def test_every_rule_is_documented(app):
    assert undocumented_rules(app) == []


def test_document_lists_every_served_route_and_method(api, app):
    document = _document(api)
    assert document["openapi"].startswith("3.")
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert documented == _served(app)


def test_every_documented_operation_is_routed(api, app):
    adapter = app.url_map.bind("localhost")
    sockets = {re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule) for rule in app.url_map.iter_rules()
               if rule.websocket}
    for path, operations in _document(api)["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "00000000-0000-4000-8000-000000000000", path)
        for method in operations:
            try:
                adapter.match(concrete, method=method.upper(), websocket=path in sockets)
            except (NotFound, MethodNotAllowed) as exc:
                raise AssertionError(f"{method.upper()} {path} is documented but not served: {exc}")
            response = api.call(method.upper(), concrete)
            assert response.status_code != 405, (method, path)


def test_operations_describe_auth_parameters_and_responses(api):
    paths = _document(api)["paths"]
    signup = paths["/api/v1/users/signup"]["post"]
    assert "security" not in signup
    schema = signup["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["required"]) == {"username", "password"}
    assert "201" in signup["responses"]
    roles = paths["/api/v1/users/{user_id}/roles"]["put"]
    assert roles["security"] and "owner" in roles["description"]
    assert {p["name"] for p in roles["parameters"] if p["in"] == "path"} == {"user_id"}
    load = paths["/api/v1/channels/{channel_id}/load_messages"]["get"]
    assert {"page", "messages_per_page", "before", "after", "limit"} <= {p["name"] for p in load["parameters"]}
    send = paths["/api/v1/channels/{channel_id}/send_message"]["post"]
    assert "multipart/form-data" in send["requestBody"]["content"]
    assert "204" in paths["/api/v1/channels/{channel_id}/delete_message"]["delete"]["responses"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert operation["summary"] and operation["responses"], (method, path)


def test_security_schemes_cover_every_token_transport(api):
    schemes = _document(api)["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    assert schemes["authTokenQuery"] == {"type": "apiKey", "in": "query", "name": "auth_token"}
