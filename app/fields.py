"""Request field types: pydantic types that validate one parameter and describe it in the document.

A route's parameters are a `Fields` model whose attributes use these types, e.g.
`limit: Integer(1, 100) = 50`. Each type checks exactly what a client may send through JSON,
a form or the query string (numbers and flags arrive as text in the last two), raises the
house message on bad input, and carries the JSON schema that /openapi.json shows for it.
"""
import re
from typing import Annotated, Any

from flask import current_app
from pydantic import BaseModel, ConfigDict, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError
from werkzeug.datastructures import FileStorage


class Fields(BaseModel):
    """The parameters of one route; fields not declared are ignored, as they always were."""

    model_config = ConfigDict(extra="ignore", frozen=True, arbitrary_types_allowed=True)


# In a field's schema, the app setting that is its maximum; the document builder puts the value.
SETTING_MAXIMUM = "x-maximum-setting"


class BlankIsAbsent:
    """Marks a type for which an empty string counts as not sent (numbers, flags, lists)."""


class FileField:
    """Marks a type whose value comes from the uploaded files of a multipart form."""

    def __init__(self, many: bool = False) -> None:
        self.many = many


def _refuse(message: str):
    # The message is a template to pydantic: braces would be read as placeholders.
    raise PydanticCustomError("invalid", message.replace("{", "(").replace("}", ")"))


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored or encrypted as text, or None."""
    if "\x00" in value:  # no database stores NUL in text; refusing it here keeps it out of every query
        return "must not contain NUL characters"
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:  # JSON "\ud800": a lone surrogate has no UTF-8 form
            return "must be valid Unicode text"
    return None


def Text(max_len: int = 10_000, min_len: int = 0, pattern: re.Pattern | None = None, strip: bool = False,
         pattern_message: str = "has an invalid format", choices: set[str] | tuple | None = None,
         description: str | None = None, fold_case: bool = False, blank_is_absent: bool = False) -> Any:
    """A string; strip trims it and fold_case lower-cases it before the length, pattern and choice
    checks; blank_is_absent takes "" as not sent."""
    def check(value: Any) -> str:
        if not isinstance(value, str):
            _refuse("must be a string")
        if problem := text_problem(value):
            _refuse(problem)
        if strip:
            value = value.strip()
        if fold_case:
            value = value.lower()
        if len(value) < min_len:
            _refuse(f"must be at least {min_len} characters" if min_len > 1 else "must not be empty")
        if len(value) > max_len:
            _refuse(f"must be at most {max_len} characters")
        if pattern is not None and not pattern.fullmatch(value):
            _refuse(pattern_message)
        if choices is not None and value not in choices:
            _refuse("must be one of " + ", ".join(sorted(choices)))
        return value

    schema: dict = {"type": "string", "maxLength": max_len}
    if min_len:
        schema["minLength"] = min_len
    if pattern is not None:
        schema["pattern"] = f"^(?:{pattern.pattern})$"
    if choices is not None:
        schema = {"type": "string", "enum": sorted(choices)}
    if description:
        schema["description"] = description
    blank = (BlankIsAbsent(),) if blank_is_absent else ()
    return Annotated[str, PlainValidator(check), WithJsonSchema(schema), *blank]


def Integer(minimum: int | None = None, maximum: int | str | None = None, description: str | None = None,
            choices: tuple[int, ...] | None = None) -> Any:
    """A whole number, as a JSON number or as decimal text. A maximum given as a name is that
    setting of the running app (the document shows its value, see SETTING_MAXIMUM)."""
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            _refuse("must be an integer")
        try:
            number = int(value)
        except ValueError:
            _refuse("must be an integer")
        top = current_app.config[maximum] if isinstance(maximum, str) else maximum
        if minimum is not None and number < minimum or top is not None and number > top:
            _refuse(f"must be between {minimum} and {top}")
        if choices is not None and number not in choices:
            _refuse("must be one of " + ", ".join(map(str, choices)))
        return number

    schema: dict = {"type": "integer"}
    if minimum is not None:
        schema["minimum"] = minimum
    if isinstance(maximum, str):
        schema[SETTING_MAXIMUM] = maximum
    elif maximum is not None:
        schema["maximum"] = maximum
    if choices is not None:
        schema["enum"] = list(choices)
    if description:
        schema["description"] = description
    return Annotated[int, PlainValidator(check), WithJsonSchema(schema), BlankIsAbsent()]


TRUE_WORDS = {"true", "1", "yes", "on"}
FALSE_WORDS = {"false", "0", "no", "off"}


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in TRUE_WORDS:
        return True
    if isinstance(value, str) and value.lower() in FALSE_WORDS:
        return False
    _refuse("must be a boolean")


Flag = Annotated[bool, PlainValidator(_flag), WithJsonSchema({"type": "boolean"}), BlankIsAbsent()]


def IdList(max_items: int, max_len: int) -> Any:
    """A list of ids, as a JSON list or comma-separated text."""
    def check(value: Any) -> list[str]:
        items = value.split(",") if isinstance(value, str) else value
        if (not isinstance(items, list) or len(items) > max_items
                or not all(isinstance(item, str) and 0 < len(item.strip()) <= max_len for item in items)):
            _refuse(f"must be a list of at most {max_items} ids")
        if any(text_problem(item) for item in items):
            _refuse("must be valid text without NUL characters")
        return [item.strip() for item in items]

    schema = {"type": "array", "maxItems": max_items, "description": "A JSON list or comma-separated text",
              "items": {"type": "string", "minLength": 1, "maxLength": max_len, "pattern": r"\S"}}
    return Annotated[list[str], PlainValidator(check), WithJsonSchema(schema), BlankIsAbsent()]


def WordList(max_items: int, word: re.Pattern, message: str) -> Any:
    """A list of short lower-case words (file extensions): a JSON list or comma-separated text;
    duplicates and a leading dot are dropped."""
    def check(value: Any) -> list[str]:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            _refuse("must be a list of file extensions")
        cleaned = list(dict.fromkeys(item.strip().lower().lstrip(".") for item in items if item.strip()))
        if len(cleaned) > max_items or not all(word.fullmatch(item) for item in cleaned):
            _refuse(message)
        return cleaned

    schema = {"type": "array", "maxItems": max_items, "description": "A JSON list or comma-separated text",
              "items": {"type": "string", "pattern": f"^(?:{word.pattern})$"}}
    return Annotated[list[str], PlainValidator(check), WithJsonSchema(schema)]


def _file(value: Any) -> FileStorage:
    if not isinstance(value, FileStorage):
        _refuse("must be a file")
    return value


def _files(value: Any) -> list[FileStorage]:
    if not isinstance(value, list) or not all(isinstance(item, FileStorage) for item in value):
        _refuse("must be files")
    return value


File = Annotated[FileStorage, PlainValidator(_file), WithJsonSchema({"type": "string", "format": "binary"}),
                 FileField()]
Files = Annotated[list[FileStorage], PlainValidator(_files),
                  WithJsonSchema({"type": "array", "items": {"type": "string", "format": "binary"}}),
                  FileField(many=True)]
