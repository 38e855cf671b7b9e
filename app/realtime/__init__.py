"""Real time: the wire (event encoding, plain frames, the publisher thread and publish()), the
connection (one socket and its outbox), the hub (this process's sockets, its subscriber and its
tick), the event log with its relay and the resume of a socket, and presence. Presence and the
relay join the hub's tick here."""
from . import presence, relay
from .hub import hub

hub.every(presence.refresh_interval, presence.tick)
hub.every(relay.tick_interval, relay.tick)
