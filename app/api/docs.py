"""GET /openapi.json (the document of app/openapi.py) and /docs, Swagger UI served from the
swagger-ui-bundle package's own files: no request leaves the server, so it works offline."""
from flask import Blueprint, Response, current_app, jsonify, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from ..endpoint import endpoint
from ..errors import APIError
from ..openapi import build_document

bp = Blueprint("docs", __name__)

# The bundle's files the page uses; nothing else in the package directory is served.
ASSETS = {"swagger-ui.css", "index.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
          "favicon-32x32.png", "favicon-16x16.png", "oauth2-redirect.html"}
ASSET_AGE = 24 * 3600  # the bundle changes only with the package version

# validatorUrl null: Swagger UI would otherwise send the document to an online validator.
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>API reference</title>
<link rel="stylesheet" href="docs/swagger-ui.css"><link rel="stylesheet" href="docs/index.css">
<link rel="icon" type="image/png" href="docs/favicon-32x32.png" sizes="32x32"></head>
<body><div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script><script src="docs/swagger-ui-standalone-preset.js"></script>
<script>
window.onload = function () {
  window.ui = SwaggerUIBundle({url: "openapi.json", dom_id: "#swagger-ui", deepLinking: true, validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: "StandaloneLayout"});
};
</script></body></html>"""


@bp.get("/openapi.json")
@endpoint("This OpenAPI document")
def openapi_json():
    return jsonify(build_document(current_app))


@bp.get("/docs")
@endpoint("Interactive API documentation (Swagger UI, HTML)", statuses={200: ("The page", "text/html")})
def docs_page():
    return Response(PAGE, mimetype="text/html")


@bp.get("/docs/<name>")
@endpoint("A file of the Swagger UI bundle that /docs loads",
          statuses={200: ("The file", "application/octet-stream"), 404: "Not a file of the bundle"})
def docs_asset(name: str):
    if name not in ASSETS:
        raise APIError(404, "Resource not found", "NOT_FOUND")
    return send_from_directory(str(swagger_ui_path), name, max_age=ASSET_AGE)
