"""The OpenAPI 3 document, built from the URL map and the @doc notes on each view.

Every served route must carry @doc: undocumented_rules() lists those that do not, and a test
keeps that list empty, so /openapi.json always describes what is actually served.
"""
import re

from flask import Blueprint, Flask, Response, current_app, jsonify

bp = Blueprint("openapi", __name__)

_TYPES = {"str": {"type": "string"}, "int": {"type": "integer"}, "bool": {"type": "boolean"},
          "file": {"type": "string", "format": "binary"}, "files": {"type": "array",
          "items": {"type": "string", "format": "binary"}}}
_SKIPPED_ENDPOINTS = {"static"}


def doc(summary: str, params: dict[str, str] | None = None, auth: str | None = "user",
        responses: dict[int, str] | None = None, tag: str | None = None):
    """Describe a view. params: {name: "str" | "int*" ...} (* = required);
    auth: None (public), "user", "admin" or "owner"; responses: {status: description}."""
    def decorate(view):
        view._openapi = {"summary": summary, "params": params or {}, "auth": auth,
                         "responses": responses or {200: "Success"}, "tag": tag}
        return view
    return decorate


def _operation(note: dict, method: str, path_params: list[str], tag: str) -> dict:
    parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                  for name in path_params]
    fields, required = {}, []
    for name, kind in note["params"].items():
        fields[name] = dict(_TYPES[kind.rstrip("*")])
        if kind.endswith("*"):
            required.append(name)
    has_files = any(kind.rstrip("*") in {"file", "files"} for kind in note["params"].values())
    operation = {
        "summary": note["summary"],
        "tags": [note["tag"] or tag],
        "responses": {str(code): {"description": text} for code, text in note["responses"].items()},
    }
    if note["auth"]:
        operation["security"] = [{"bearerAuth": []}, {"authTokenQuery": []}]
        operation["description"] = f"Requires an auth_token ({note['auth']} role or higher)."
    if method in {"get", "delete"} or not fields:
        parameters += [{"name": name, "in": "query", "required": name in required, "schema": schema}
                       for name, schema in fields.items() if "format" not in schema]
    else:
        schema = {"type": "object", "properties": fields}
        if required:
            schema["required"] = required
        content = {"multipart/form-data": {"schema": schema}}
        if not has_files:
            content = {"application/json": {"schema": schema}, **content}
        operation["requestBody"] = {"required": bool(required), "content": content}
    if parameters:
        operation["parameters"] = parameters
    return operation


def build_document(app: Flask) -> dict:
    paths: dict = {}
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        note = getattr(view, "_openapi", None)
        if note is None:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        tag = rule.endpoint.split(".")[0]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(note, method.lower(), list(rule.arguments), tag)
    return {
        "openapi": "3.0.3",
        "info": {"title": "PufferBlow-compatible chat server", "version": app.config["SERVER_VERSION"],
                 "description": "Parameters may be sent as JSON, form fields or query parameters. "
                                "Errors are {status_code, detail, code}."},
        "servers": [{"url": "/"}],
        "components": {"securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer"},
            "authTokenQuery": {"type": "apiKey", "in": "query", "name": "auth_token"}}},
        "paths": dict(sorted(paths.items())),
    }


def undocumented_rules(app: Flask) -> list[str]:
    return sorted(rule.rule for rule in app.url_map.iter_rules()
                  if rule.endpoint not in _SKIPPED_ENDPOINTS
                  and not hasattr(app.view_functions.get(rule.endpoint), "_openapi"))


@bp.get("/openapi.json")
@doc("This OpenAPI document", auth=None)
def openapi_json():
    return jsonify(build_document(current_app))


_DOCS_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>API docs</title>
<style>body{font:14px system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
h2{font-size:1rem;margin:1.5rem 0 .3rem}code{background:#f2f2f2;padding:0 .3rem}
.m{display:inline-block;width:4.5rem;font-weight:bold}.d{color:#555;margin:.2rem 0 0 4.8rem}</style>
</head><body><h1>API reference</h1><p>The machine-readable document is at
<a href="openapi.json"><code>/openapi.json</code></a>.</p><div id="api">Loading…</div>
<script>
fetch("openapi.json").then(r => r.json()).then(api => {
  const root = document.getElementById("api"); root.textContent = "";
  root.insertAdjacentHTML("beforeend", "<p>" + api.info.description + "</p>");
  for (const [path, ops] of Object.entries(api.paths)) for (const [method, op] of Object.entries(ops)) {
    const div = document.createElement("div");
    const params = (op.parameters || []).map(p => p.name).concat(Object.keys(
      ((op.requestBody || {}).content || {})["multipart/form-data"]?.schema.properties || {}));
    div.innerHTML = "<h2><span class=m></span><code></code></h2><div class=d></div>";
    div.querySelector(".m").textContent = method.toUpperCase();
    div.querySelector("code").textContent = path;
    div.querySelector(".d").textContent = op.summary + (op.description ? " " + op.description : "") +
      (params.length ? " Parameters: " + params.join(", ") + "." : "");
    root.appendChild(div);
  }
});
</script></body></html>"""


@bp.get("/docs")
@doc("Interactive API documentation (HTML)", auth=None)
def docs_page():
    return Response(_DOCS_PAGE, mimetype="text/html")
