"""Success bodies: the HTTP status always equals the body's status_code."""
from flask import jsonify


def ok(http_status: int = 200, /, **fields):
    """JSON body {status_code, **fields}; fields may include one named "status"."""
    response = jsonify({"status_code": http_status, **fields})
    response.status_code = http_status
    return response
