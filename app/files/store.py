"""Content-addressed file store: blobs named by their SHA-256, stored once, on local disk.

Paths on disk are built only from validated hex digests and variant names, never from user
input, so no request can reach outside the store. An S3-compatible backend fits behind the
same methods (stage/commit map to a multipart upload and a conditional copy).
"""
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from flask import current_app

CHUNK = 256 * 1024
SHA_RE = re.compile(r"[0-9a-f]{64}")
# variants.py builds the names; this only keeps any name inside its folder.
VARIANT_RE = re.compile(r"[a-z0-9_]{1,64}\.[a-z0-9]{2,5}")


class TooLarge(Exception):
    """The stream is longer than the limit it was staged with."""


@dataclass
class Staged:
    """A fully written temporary file and its digest, not yet visible under its address."""

    temp_path: str
    sha256: str
    size: int
    head: bytes


@dataclass
class Stat:
    size: int
    modified: float


class LocalStorage:
    """Blobs under <root>/blobs/ab/cd/<sha256>; derived images under <root>/derived/ab/<sha256>/."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.tmp_dir = os.path.join(root, "tmp")
        os.makedirs(self.tmp_dir, exist_ok=True)

    # -- addressing ---------------------------------------------------------------------
    def blob_path(self, sha256: str) -> str:
        if not SHA_RE.fullmatch(sha256):
            raise ValueError("not a SHA-256 hex digest")
        return os.path.join(self.root, "blobs", sha256[:2], sha256[2:4], sha256)

    def _derived_dir(self, sha256: str) -> str:
        if not SHA_RE.fullmatch(sha256):
            raise ValueError("not a SHA-256 hex digest")
        return os.path.join(self.root, "derived", sha256[:2], sha256)

    def variant_path(self, sha256: str, name: str) -> str:
        if not VARIANT_RE.fullmatch(name):
            raise ValueError("not a variant name")
        return os.path.join(self._derived_dir(sha256), name)

    # -- writing ------------------------------------------------------------------------
    def stage(self, stream: BinaryIO, limit: int | None = None) -> Staged:
        """Copy a stream to a temporary file in chunks, hashing as it goes; refuse past limit."""
        digest = hashlib.sha256()
        size, head = 0, b""
        fd, temp_path = tempfile.mkstemp(dir=self.tmp_dir, prefix="up-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise TooLarge(limit)
                    if len(head) < 4096:
                        head += chunk[:4096 - len(head)]
                    digest.update(chunk)
                    out.write(chunk)
        except BaseException:
            os.unlink(temp_path)
            raise
        return Staged(temp_path, digest.hexdigest(), size, head)

    def commit(self, staged: Staged) -> bool:
        """Move a staged file to its address; True when the same bytes were already stored."""
        final = self.blob_path(staged.sha256)
        existed = os.path.exists(final)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        # Always replace: the bytes are identical by construction, and this revives a blob
        # that an orphan cleanup removed between our check and our database commit.
        os.replace(staged.temp_path, final)
        return existed

    def discard(self, staged: Staged) -> None:
        try:
            os.unlink(staged.temp_path)
        except FileNotFoundError:
            pass

    def put_variant(self, sha256: str, name: str, data: bytes) -> str:
        """Write a derived image atomically (readers never see a partial file)."""
        final = self.variant_path(sha256, name)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        fd, temp_path = tempfile.mkstemp(dir=self.tmp_dir, prefix="var-")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temp_path, final)
        return final

    # -- reading ------------------------------------------------------------------------
    def stat(self, sha256: str) -> Stat | None:
        try:
            info = os.stat(self.blob_path(sha256))
        except FileNotFoundError:
            return None
        return Stat(info.st_size, info.st_mtime)

    def variant_stat(self, sha256: str, name: str) -> Stat | None:
        try:
            info = os.stat(self.variant_path(sha256, name))
        except (FileNotFoundError, ValueError):
            return None
        return Stat(info.st_size, info.st_mtime)

    def variants(self, sha256: str) -> list[tuple[str, float]]:
        """(name, last modified) of every derived image of a blob."""
        folder = self._derived_dir(sha256)
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            return []
        result = []
        for name in names:
            try:
                result.append((name, os.path.getmtime(os.path.join(folder, name))))
            except FileNotFoundError:  # evicted meanwhile
                pass
        return result

    def delete_variant(self, sha256: str, name: str) -> None:
        try:
            os.unlink(self.variant_path(sha256, name))
        except FileNotFoundError:
            pass

    def list(self) -> Iterator[str]:
        """Every stored digest (the blobs on disk, whatever the database says)."""
        base = os.path.join(self.root, "blobs")
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                if SHA_RE.fullmatch(name):
                    yield name

    # -- deleting -----------------------------------------------------------------------
    def delete(self, sha256: str) -> bool:
        """Remove a blob and everything derived from it; True when the blob existed."""
        self._delete_variants(sha256)
        try:
            os.unlink(self.blob_path(sha256))
            return True
        except FileNotFoundError:
            return False

    def _delete_variants(self, sha256: str) -> None:
        folder = self._derived_dir(sha256)
        if not os.path.isdir(folder):
            return
        for name in os.listdir(folder):
            os.unlink(os.path.join(folder, name))
        os.rmdir(folder)

    def stale_temp_files(self, older_than: float) -> Iterator[str]:
        """Temporary files left by interrupted uploads, older than a timestamp."""
        for name in os.listdir(self.tmp_dir):
            path = os.path.join(self.tmp_dir, name)
            if os.path.getmtime(path) < older_than:
                yield path


def get_storage() -> LocalStorage:
    """The store of the current app, under <DATA_DIR>/files unless FILES_DIR says otherwise."""
    storage = current_app.extensions.get("storage")
    if storage is None:
        root = current_app.config.get("FILES_DIR") or os.path.join(current_app.config["DATA_DIR"], "files")
        storage = current_app.extensions["storage"] = LocalStorage(root)
    return storage
