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


def _operations(document: dict):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def _fields(operation: dict) -> dict:
    """The operation's fields by name: query parameters, or the request body's properties."""
    fields = {p["name"]: p["schema"] for p in operation.get("parameters", []) if p["in"] == "query"}
    for content in operation.get("requestBody", {}).get("content", {}).values():
        fields.update(content["schema"]["properties"])
    return fields


def test_every_operation_documents_the_statuses_it_answers(api):
    for path, method, operation in _operations(_document(api)):
        statuses = set(operation["responses"])
        assert {"403", "429"} <= statuses, (method, path)  # the block list and the rate limits
        if _fields(operation) or operation.get("security"):
            assert "400" in statuses, (method, path)
        probe = path in ("/healthz", "/readyz", "/metrics")
        assert ("INVALID_HOST" in operation["responses"].get("400", {}).get("description", "")) != probe, path
        if operation.get("security"):
            assert "401" in statuses, (method, path)
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_constraints_are_documented(api, app):
    paths = _document(api)["paths"]
    overview = _fields(paths["/api/v1/system/server-overview"]["get"])
    assert overview["period"]["enum"] == sorted(["1h", "24h", "7d", "30d", "90d", "1y", "hourly", "daily",
                                                 "weekly", "monthly"])
    assert overview["period"]["default"] == "24h"
    settings = _fields(paths["/api/v1/system/server-info"]["put"])
    assert settings["max_image_size"] == {"type": "integer", "minimum": 1, "maximum": app.config["MAX_CONTENT_LENGTH"],
                                          "description": "Bytes"}
    assert settings["server_name"]["maxLength"] == 64 and settings["server_name"]["minLength"] == 1
    assert settings["allowed_image_types"]["type"] == "array"
    history = _fields(paths["/api/v1/channels/{channel_id}/load_messages"]["get"])
    assert history["limit"]["maximum"] == app.config["CURSOR_LIMIT_MAX"]
    assert history["messages_per_page"]["maximum"] == app.config["MESSAGES_PER_PAGE_MAX"]
    assert history["before"]["pattern"].startswith("^")


def test_upload_fields_are_binary_multipart_fields(api):
    paths = _document(api)["paths"]
    upload = paths["/api/v1/cdn/upload"]["post"]["requestBody"]["content"]
    assert list(upload) == ["multipart/form-data"]
    assert upload["multipart/form-data"]["schema"]["properties"]["file"] == {"type": "string", "format": "binary"}
    assert upload["multipart/form-data"]["schema"]["required"] == ["file"]
    avatar = paths["/api/v1/system/upload-avatar"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert set(avatar["schema"]["properties"]) == {"avatar", "file"}
    send = paths["/api/v1/channels/{channel_id}/send_message"]["post"]["requestBody"]["content"]
    assert send["multipart/form-data"]["schema"]["properties"]["attachments"]["items"]["format"] == "binary"


def test_security_follows_the_role_decorators(api):
    paths = _document(api)["paths"]
    assert "owner only" in paths["/api/v1/blocked-ips/block"]["post"]["description"]
    assert "admin or owner" in paths["/api/v1/channels/create/"]["post"]["description"]
    assert "security" not in paths["/api/v1/info"]["get"] and "401" not in paths["/api/v1/info"]["get"]["responses"]
    assert "403" in paths["/api/v1/invites"]["get"]["responses"]
