"""Real time, in four rooms: the wire (event encoding, plain frames, the publisher thread and
publish()), the connection (one socket and its outbox), the hub (this process's sockets, its
subscriber and its tick) and presence, which hooks itself into the hub's tick here."""
import flask_sock

from . import presence, websocket
from .hub import hub

hub.every(presence.refresh_interval, presence.tick)
# flask-sock builds every socket from its module's Server: use ours, which closes cleanly on 1009.
flask_sock.Server = websocket.Server
