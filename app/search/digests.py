"""Keyed digests of search terms: what the index stores instead of words.

A term's digest is the first 8 bytes of HMAC-SHA256(channel key, term), read as a signed 64-bit
integer; the channel key is HMAC-SHA256(index key, "channel:" + channel id). The index keys come
from the key file (app/crypto.py), never from the database. Keying by channel means one word
gives unrelated digests in two channels, so the index alone cannot link messages across
channels; a query computes the digests of its terms for each channel the caller may read, under
every index key that is still in the key file, so messages indexed before a rotation are found.
"""
import hashlib
import hmac
from functools import lru_cache

from .. import crypto


@lru_cache(maxsize=4096)  # a send derives its channel's key again; derived keys are 32 bytes each
def channel_key(index_key: bytes, channel_id: str) -> bytes:
    return hmac.digest(index_key, b"channel:" + channel_id.encode(), hashlib.sha256)


def term_digest(key: bytes, term: str) -> int:
    return int.from_bytes(hmac.digest(key, term.encode(), hashlib.sha256)[:8], "big", signed=True)


def message_digests(channel_id: str, terms: set[str]) -> tuple[int, list[int]]:
    """(current index key id, the digests of a message's terms under it)."""
    current, keys = crypto.index_keys()
    key = channel_key(keys[current], channel_id)
    return current, [term_digest(key, term) for term in terms]


def query_digests(channel_ids: list[str], terms: tuple[str, ...]) -> list[tuple[str, list[int]]]:
    """For each channel and each index key: (channel id, the digests of the terms, in order)."""
    _current, keys = crypto.index_keys()
    result = []
    for channel_id in channel_ids:
        for index_key in keys.values():
            key = channel_key(index_key, channel_id)
            result.append((channel_id, [term_digest(key, term) for term in terms]))
    return result
