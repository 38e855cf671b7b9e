"""Message search over a blind index: keyed digests of normalised words, never the words.

tokens.py (normalising and splitting text), digests.py (keyed digests) and index.py (keeping
the index current inside the message transactions) sit below app/messaging, which calls them;
query.py (matching messages the caller may read) and service.py (the search request: users,
channels, messages and the cursor) sit above it.
"""
