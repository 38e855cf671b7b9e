"""Real time, in four rooms: the wire (event encoding, plain frames, the publisher thread and
publish()), the connection (one socket and its outbox), the hub (this process's sockets, its
subscriber and its tick) and presence, which hooks itself into the hub's tick here."""
from . import presence
from .hub import hub

hub.every(presence.refresh_interval, presence.tick)
