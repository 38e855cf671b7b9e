"""Restore an archive made by app/ops/backup.py into an empty data dir and database."""
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile

import sqlalchemy as sa
from flask import current_app
from flask_migrate import upgrade

from .backup import Progress, _decode, _files_root, _nothing, _sqlite_path
from ..extensions import db


class RestoreRefused(Exception):
    """The target holds data, or the archive does not fit it."""


def _has_rows() -> bool:
    inspector = sa.inspect(db.engine)
    with db.engine.connect() as conn:
        return any(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
                   for table in db.metadata.sorted_tables if inspector.has_table(table.name))


def problems() -> list[str]:
    """What makes the target not empty (a fresh database and data dir give none)."""
    found = []
    if _has_rows():
        found.append("the database holds rows")
    if os.path.exists(current_app.config["MESSAGE_KEY_FILE"]):
        found.append(f"a key file exists at {current_app.config['MESSAGE_KEY_FILE']}")
    root = _files_root()
    if any(names for folder, _dirs, names in os.walk(root) if os.path.relpath(folder, root) != "tmp"):
        found.append(f"{root} holds files")
    return found


def _members(archive: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    members = {}
    for member in archive.getmembers():
        name = os.path.normpath(member.name)
        if name.startswith(("/", "..")) or not (member.isfile() or member.isdir()):
            raise RestoreRefused(f"unexpected archive member {member.name!r}")
        members[name] = member
    return members


def _restore_sqlite(archive: tarfile.TarFile, member: tarfile.TarInfo, workdir: str) -> None:
    archive.extract(member, workdir, filter="data")
    db.session.remove()
    db.engine.dispose()  # no pooled connection may keep the old pages
    source = sqlite3.connect(os.path.join(workdir, member.name))
    target = sqlite3.connect(_sqlite_path(), timeout=30)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def _restore_rows(archive: tarfile.TarFile, member: tarfile.TarInfo, progress: Progress) -> None:
    """Insert the rows into the migrated schema, table by table in dependency order, in one
    transaction; integer sequences then continue after the restored ids."""
    upgrade()
    tables = {table.name: table for table in db.metadata.sorted_tables}
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):  # --force: the target is emptied first
            conn.execute(table.delete())
        batch, current = [], None
        for raw in archive.extractfile(member):
            line = json.loads(raw)
            if line["t"] != current and batch:
                conn.execute(tables[current].insert(), batch)
                batch = []
                progress(1)
            current = line["t"]
            table = tables[current]
            batch.append({name: _decode(value) for name, value in line["r"].items() if name in table.c})
            if len(batch) >= 1000:
                conn.execute(table.insert(), batch)
                batch = []
        if batch:
            conn.execute(tables[current].insert(), batch)
        for table in tables.values():
            for column in table.primary_key.columns:
                if isinstance(column.type, sa.Integer) and len(table.primary_key.columns) == 1:
                    conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence(:t, :c), "
                                         f"COALESCE((SELECT MAX({column.name}) FROM {table.name}), 0) + 1, false)")
                                 .bindparams(t=table.name, c=column.name))


def _extract_tree(archive: tarfile.TarFile, members: dict, prefix: str, root: str, progress: Progress) -> None:
    for name, member in members.items():
        if name.startswith(prefix + "/") and member.isfile():
            target = os.path.join(root, os.path.relpath(name, prefix))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with archive.extractfile(member) as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)
            progress(1)


def restore(source: str, force: bool = False, progress: Progress = _nothing) -> dict:
    """Restore the archive; refuses a non-empty target unless force. Returns its manifest."""
    if not force and (found := problems()):
        raise RestoreRefused("the target is not empty: " + "; ".join(found))
    with tarfile.open(source, "r:gz") as archive, tempfile.TemporaryDirectory() as workdir:
        members = _members(archive)
        manifest = json.load(archive.extractfile(members["manifest.json"]))
        dialect = db.engine.dialect.name
        if "database.sqlite" in members:
            if dialect != "sqlite":
                raise RestoreRefused("this archive holds an SQLite database; restore it on SQLite")
            _restore_sqlite(archive, members["database.sqlite"], workdir)
        elif "database.jsonl" in members:
            if dialect == "sqlite":
                raise RestoreRefused("this archive holds a PostgreSQL dump; restore it on PostgreSQL")
            _restore_rows(archive, members["database.jsonl"], progress)
        key_file = current_app.config["MESSAGE_KEY_FILE"]
        os.makedirs(os.path.dirname(key_file), mode=0o700, exist_ok=True)
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(archive.extractfile(members["keys/messages.key"]).read())
        _extract_tree(archive, members, "files", _files_root(), progress)
    return manifest


def restore_steps(source: str) -> int:
    with tarfile.open(source, "r:gz") as archive:
        return sum(1 for member in archive.getmembers() if member.name.startswith("files/"))
