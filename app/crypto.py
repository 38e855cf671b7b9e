"""Message encryption at rest (AES-GCM) and keyed digests, under keys kept in a file.

The key file is JSON: {"current": id, "keys": {id: base64 key}, "hmac_key": base64,
"index_current": n, "index_keys": {n: base64 key}}. It is created on first use with 0600
permissions and never stored in the database. Rotation adds a new current key of each kind; old
keys stay so older messages still decrypt and stay searchable. The index keys key the search
index's digests (app/search/digests.py); a file written before they existed gets index key 1
derived from hmac_key under its own label, so its digests differ from every other use of it.
"""
import base64
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import tempfile

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app

from .cache import ProcessCache


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _write_new(path: str, content: dict, replace: bool) -> None:
    """Write a 0600 file atomically; without replace, keep a file another process made first."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".key-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(content, handle)
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _read(path: str) -> dict:
    """The parsed key file, read again only when it changed on disk (a rotation by another process)."""
    previous = _key_files.peek(path)
    try:
        info = os.stat(path)
        stamp = (info.st_ino, info.st_mtime_ns)
    except FileNotFoundError:
        stamp = None
    if previous is not None and previous["stamp"] == stamp:
        return previous
    if stamp is None:
        _write_new(path, {"current": "k1", "keys": {"k1": _b64(AESGCM.generate_key(256))},
                          "hmac_key": _b64(secrets.token_bytes(32)), "index_current": 1,
                          "index_keys": {"1": _b64(secrets.token_bytes(32))}}, replace=False)
    with open(path) as handle:
        info = os.fstat(handle.fileno())
        raw = json.load(handle)
    hmac_key = base64.b64decode(raw["hmac_key"])
    index_keys = ({int(kid): base64.b64decode(key) for kid, key in raw["index_keys"].items()}
                  if raw.get("index_keys") else {1: _first_index_key(hmac_key)})
    return {
        "stamp": (info.st_ino, info.st_mtime_ns),
        "current": raw["current"],
        "keys": {kid: AESGCM(base64.b64decode(key)) for kid, key in raw["keys"].items()},
        "hmac_key": hmac_key,
        # Derived once per read of the file: every signed link of a page uses it.
        "url_key": hmac.new(hmac_key, b"url-signing", hashlib.sha256).digest(),
        "index_current": int(raw.get("index_current", 1)),
        "index_keys": index_keys,
    }


def _first_index_key(hmac_key: bytes) -> bytes:
    """Index key 1 of a key file written before index keys existed."""
    return hmac.new(hmac_key, b"search-index", hashlib.sha256).digest()


# The file is checked for a rotation by another process at most once a second. Until then the
# previous key stays current, which is harmless: old keys keep decrypting, and an unknown key id
# makes decrypt() read the file at once.
_key_files: ProcessCache[dict] = ProcessCache(_read, ttl=1.0)


def _keys() -> dict:
    return _key_files.get(current_app.config["MESSAGE_KEY_FILE"])


def encrypt(text: str, context: str) -> tuple[str, bytes]:
    """(key_id, nonce + ciphertext); context (the channel id) is bound as associated data."""
    keys = _keys()
    nonce = os.urandom(12)
    return keys["current"], nonce + keys["keys"][keys["current"]].encrypt(nonce, text.encode(), context.encode())


def decrypt(key_id: str, blob: bytes, context: str) -> str:
    keys = _keys()
    if key_id not in keys["keys"]:  # rotated by another process since this one loaded the file
        _key_files.clear()  # not expire(): this thread must wait for the new copy, not take the old one
        keys = _keys()
    cipher = keys["keys"][key_id]
    return cipher.decrypt(blob[:12], blob[12:], context.encode()).decode()


def decrypt_all(items) -> list[str]:
    """decrypt() of many (key_id, blob, context) triples, with one look-up of the key file."""
    ciphers = _keys()["keys"]
    texts = []
    for key_id, blob, context in items:
        cipher = ciphers.get(key_id)
        if cipher is None:  # a key added since: decrypt() rereads the file
            texts.append(decrypt(key_id, blob, context))
        else:
            texts.append(cipher.decrypt(blob[:12], blob[12:], context.encode()).decode())
    return texts


def digest(text: str) -> str:
    """HMAC-SHA256 hex of the plaintext: lets clients compare messages without the key."""
    return hmac.new(_keys()["hmac_key"], text.encode(), hashlib.sha256).hexdigest()


def sign(value: str) -> str:
    """HMAC-SHA256 hex of value under a key derived for signing URLs (apart from message digests)."""
    return hmac.new(_keys()["url_key"], value.encode(), hashlib.sha256).hexdigest()


def index_keys() -> tuple[int, dict[int, bytes]]:
    """(current index key id, every index key by id): the search index's keys."""
    keys = _keys()
    return keys["index_current"], keys["index_keys"]


def rotate_key(path: str) -> str:
    """Add a new current message key and a new current index key to the key file; returns the
    message key's id."""
    # An exclusive lock across processes: two rotations at once would each drop the other's key,
    # and every message already encrypted under a dropped key would be lost.
    with open(path + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with open(path) as handle:
            raw = json.load(handle)
        new_id = f"k{len(raw['keys']) + 1}"
        raw["keys"][new_id] = _b64(AESGCM.generate_key(256))
        raw["current"] = new_id
        index = raw.setdefault("index_keys", {"1": _b64(_first_index_key(base64.b64decode(raw["hmac_key"])))})
        raw["index_current"] = max(int(kid) for kid in index) + 1
        index[str(raw["index_current"])] = _b64(secrets.token_bytes(32))
        _write_new(path, raw, replace=True)
    _key_files.clear()
    return new_id
