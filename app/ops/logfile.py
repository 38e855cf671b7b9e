"""Read and clear the server's own log file (the JSON lines that app/logs.py writes).

The file is read backwards in blocks, so asking for the newest lines of a large file costs
the size of what is returned, not of the file.
"""
import json
import logging
import os

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
BLOCK = 64 * 1024


def _lines_backwards(path: str):
    """Every line of the file, newest first, holding one block in memory at a time."""
    with open(path, "rb") as handle:
        position = handle.seek(0, os.SEEK_END)
        rest = b""
        while position > 0:
            size = min(BLOCK, position)
            position -= size
            handle.seek(position)
            chunk = handle.read(size) + rest
            pieces = chunk.split(b"\n")
            rest = pieces[0]  # may continue in the block before
            for piece in reversed(pieces[1:]):
                if piece.strip():
                    yield piece
        if rest.strip():
            yield rest


def _count_lines(path: str) -> int:
    count = 0
    with open(path, "rb") as handle:
        while block := handle.read(1024 * 1024):
            count += block.count(b"\n")
    return count


def _entry(raw: bytes) -> dict:
    try:
        line = json.loads(raw)
        if not isinstance(line, dict):
            raise ValueError
    except ValueError:  # a line another writer left unstructured
        line = {"message": raw.decode(errors="replace")}
    return {"timestamp": line.get("timestamp"), "level": str(line.get("level") or "INFO"),
            "logger": str(line.get("logger") or ""), "message": str(line.get("message") or "")}


def read(path: str, lines: int, search: str | None = None, level: str | None = None) -> dict:
    """The newest `lines` entries (oldest first) whose level is at least `level` and whose
    logger or message holds `search` (case-insensitive)."""
    if not os.path.exists(path):
        return {"logs": [], "total_lines": 0, "filtered": bool(search or level)}
    floor = LEVELS[level] if level else 0
    needle = search.lower() if search else None
    found: list[dict] = []
    for raw in _lines_backwards(path):
        if needle is not None and needle not in raw.decode(errors="replace").lower():
            continue  # only lines holding the text somewhere are parsed; their fields decide below
        entry = _entry(raw)
        if floor and LEVELS.get(entry["level"].upper(), 0) < floor:
            continue
        if needle is not None and needle not in entry["message"].lower() and needle not in entry["logger"].lower():
            continue
        found.append(entry)
        if len(found) >= lines:
            break
    found.reverse()
    return {"logs": found, "total_lines": _count_lines(path), "filtered": bool(search or level)}


def clear(path: str) -> int:
    """Empty the log file and delete its rotated copies; returns the bytes removed.

    Truncating (rather than replacing) keeps every process's open handle valid: they append.
    """
    removed = 0
    directory, name = os.path.split(path)
    if os.path.isdir(directory):
        for other in os.listdir(directory):
            if other.startswith(name + ".") and other[len(name) + 1:].isdigit():
                removed += os.path.getsize(os.path.join(directory, other))
                os.unlink(os.path.join(directory, other))
    if os.path.exists(path):
        removed += os.path.getsize(path)
        os.truncate(path, 0)
    logging.getLogger(__name__).warning("log file cleared (%d bytes)", removed)
    return removed
