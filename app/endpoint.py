"""@endpoint: a route declares its parameters, statuses and summary once, here.

    @bp.get("/<channel_id>/load_messages")
    @login_required
    @endpoint("Message history", LoadMessages, {404: "Unknown channel"})
    def load_messages(query: LoadMessages, channel_id: str): ...

The decorator goes directly above the view (below the role and rate-limit decorators, so those
refuse first). It reads each field of the `Fields` model from the JSON body, the form, then the
query string (multipart files for file fields), validates it with pydantic, turns failures into
the 400 INVALID_FORM_BODY error, and calls the view with the typed values first. The same note
writes the route's operation in /openapi.json (app/openapi.py): the model's JSON schema as query
parameters (GET, DELETE) or as the request body, and the statuses the route answers.
"""
from dataclasses import dataclass, field
from functools import wraps

import pydantic
from flask import request

from .errors import APIError, ValidationError
from .fields import BlankIsAbsent, FileField, Fields
from .params import raw_param

_MISSING = object()


@dataclass(frozen=True)
class Note:
    """What the document says about one view."""

    summary: str
    model: type[Fields] | None = None
    statuses: dict = field(default_factory=dict)  # {status: description or (description, media type)}
    tag: str | None = None


def note_of(view) -> Note | None:
    return getattr(view, "_endpoint", None)


def mark_role(wrapper, role: str) -> None:
    """Record on a wrapped view the role it needs ("user", "admin" or "owner"): the document's
    security and its 401/403 follow the decorators that really check, never a second note."""
    wrapper._role = role


def role_checked_by_hook(role: str):
    """For a view whose caller a request hook checks (the WebSocket handshake): its role."""
    def decorate(view):
        mark_role(view, role)
        return view
    return decorate


def role_of(view) -> str | None:
    return getattr(view, "_role", None)


def _file_marker(info) -> FileField | None:
    return next((m for m in info.metadata if isinstance(m, FileField)), None)


def _raw_values(model: type[Fields]) -> dict:
    """The sent value of each field; absent ones (None, or "" where that means absent) left out."""
    values = {}
    multipart = request.mimetype == "multipart/form-data"
    for name, info in model.model_fields.items():
        key = info.alias or name
        files = _file_marker(info)
        if files is not None:
            sent = [f for f in request.files.getlist(key) if f and f.filename] if multipart else []
            value = (sent if files.many else sent[0]) if sent else _MISSING
        else:
            value = raw_param(key, _MISSING)
        blank_absent = any(isinstance(m, BlankIsAbsent) for m in info.metadata)
        if value is _MISSING or value is None or (value == "" and blank_absent):
            continue
        values[key] = value
    return values


def _problems(exc: pydantic.ValidationError) -> list[dict]:
    return [{"path": str(error["loc"][0]) if error["loc"] else "body",
             "message": "is required" if error["type"] == "missing" else error["msg"]}
            for error in exc.errors(include_url=False)]


def read(model: type[Fields]) -> Fields:
    """This request's parameters as the model; a 400 listing every bad field otherwise."""
    try:
        return model.model_validate(_raw_values(model))
    except pydantic.ValidationError as exc:
        problems = _problems(exc)
        missing_files = [p["path"] for p in problems if _file_marker(model.model_fields[p["path"]])]
        if missing_files and len(missing_files) == len(problems):
            raise APIError(400, f"Send the file as a multipart form field named {missing_files[0]!r}",
                           "MISSING_FILE", errors=problems) from None
        raise ValidationError(problems) from None


def endpoint(summary: str, model: type[Fields] | None = None, statuses: dict | None = None,
             tag: str | None = None):
    """Declare a view: its summary, its parameters (a Fields model, handed to the view first) and
    the statuses it answers besides the common ones the document adds (see app/openapi.py)."""
    def decorate(view):
        note = Note(summary, model, dict(statuses or {}), tag)
        if model is None:
            view._endpoint = note
            return view

        @wraps(view)
        def wrapper(*args, **kwargs):
            return view(read(model), *args, **kwargs)
        wrapper._endpoint = note
        return wrapper
    return decorate
