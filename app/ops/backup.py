"""A consistent backup of a running server in one tar.gz: the database, the uploaded files and
the message key file; and its restore into an empty data dir.

The database is copied first, then the key file and the files: keys are only ever added and
files are written before the rows that use them are committed (and deleted only once nothing
uses them), so everything the copied rows need is in the archive.
"""
import base64
import io
import json
import os
import sqlite3
import tarfile
import tempfile
from datetime import date, datetime, timezone
from typing import Callable

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..files.store import get_storage

FORMAT = 1
Progress = Callable[[int], None]


def _nothing(_steps: int) -> None:
    pass


def _encode(value):
    if isinstance(value, bytes):
        return {"$b64": base64.b64encode(value).decode()}
    if isinstance(value, (datetime, date)):
        return {"$dt": value.isoformat()}
    return value


def _decode(value):
    if isinstance(value, dict) and "$b64" in value:
        return base64.b64decode(value["$b64"])
    if isinstance(value, dict) and "$dt" in value:
        return datetime.fromisoformat(value["$dt"])
    return value


def _sqlite_path() -> str:
    return db.engine.url.database


def _files_root() -> str:
    return get_storage().root


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(datetime.now().timestamp())
    archive.addfile(info, io.BytesIO(data))


def _dump_sqlite(archive: tarfile.TarFile, workdir: str) -> None:
    """SQLite's online backup API: one pass under a read snapshot, writers carry on."""
    copy = os.path.join(workdir, "database.sqlite")
    source, target = sqlite3.connect(_sqlite_path(), timeout=30), sqlite3.connect(copy)
    try:
        source.backup(target)  # all pages in one step: a single consistent snapshot
    finally:
        target.close()
        source.close()
    archive.add(copy, "database.sqlite")


def _dump_rows(archive: tarfile.TarFile, workdir: str, progress: Progress) -> dict:
    """Every table's rows as JSON lines, in dependency order, from one read-only snapshot."""
    path, counts = os.path.join(workdir, "database.jsonl"), {}
    with db.engine.connect().execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True) as conn:
        with conn.begin(), open(path, "w") as out:
            for table in db.metadata.sorted_tables:
                counts[table.name] = 0
                result = conn.execution_options(stream_results=True, yield_per=1000).execute(sa.select(table))
                for row in result.mappings():
                    out.write(json.dumps({"t": table.name, "r": {k: _encode(v) for k, v in row.items()}}) + "\n")
                    counts[table.name] += 1
                progress(1)
    archive.add(path, "database.jsonl")
    return counts


def _walk(root: str) -> list[str]:
    found = []
    for folder, _dirs, names in os.walk(root):
        if os.path.relpath(folder, root).split(os.sep)[0] == "tmp":
            continue  # uploads still being received
        found += [os.path.join(folder, name) for name in names]
    return sorted(found)


def backup_steps() -> int:
    """How many progress steps backup() reports (tables, then files)."""
    return len(db.metadata.sorted_tables) + len(_walk(_files_root())) + 1


def backup(target: str, progress: Progress = _nothing) -> dict:
    """Write the archive to target (0600, replaced atomically); returns its manifest."""
    dialect = db.engine.dialect.name
    folder = os.path.dirname(os.path.abspath(target))
    with tempfile.TemporaryDirectory(dir=folder, prefix=".backup-") as workdir:
        partial = os.path.join(workdir, "archive.tar.gz")
        with tarfile.open(partial, "w:gz") as archive:
            manifest = {"format": FORMAT, "dialect": dialect, "created_at": datetime.now(timezone.utc).isoformat(),
                        "revision": _revision()}
            if dialect == "sqlite":
                _dump_sqlite(archive, workdir)
                progress(len(db.metadata.sorted_tables))
            else:
                manifest["rows"] = _dump_rows(archive, workdir, progress)
            with open(current_app.config["MESSAGE_KEY_FILE"], "rb") as handle:
                _add_bytes(archive, "keys/messages.key", handle.read())
            progress(1)
            root = _files_root()
            files = _walk(root)
            for path in files:
                archive.add(path, "files/" + os.path.relpath(path, root))
                progress(1)
            manifest["files"] = len(files)
            _add_bytes(archive, "manifest.json", json.dumps(manifest, indent=1).encode())
        os.chmod(partial, 0o600)  # the key file is inside
        os.replace(partial, target)
    return manifest


def _revision() -> str | None:
    with db.engine.connect() as conn:
        try:
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        except sa.exc.DBAPIError:
            return None
