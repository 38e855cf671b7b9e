"""The server side of one WebSocket: simple-websocket's, closing cleanly when it refuses a message.

simple-websocket answers a message over max_message_size with close 1009 and closes the TCP socket
while the rest of the message is still arriving. Closing a socket with unread data makes the kernel
reset the connection, and the reset discards the close frame at the peer: the client sees
"connection reset" instead of 1009. Here the server first stops writing (the peer reads the close
frame and then the end of the stream) and reads and drops what still arrives, a bounded amount for
a bounded time, before the socket closes: the lingering close of web servers.
"""
import socket
import time

import simple_websocket

LINGER_SECONDS = 2.0  # the longest a refused peer is read before its socket closes
LINGER_BYTES = 8 * 1024 * 1024  # the most that is read (and dropped) meanwhile
LINGER_CHUNK = 64 * 1024


def linger(sock) -> None:
    """Send FIN, then read and drop until the peer closes, LINGER_BYTES or LINGER_SECONDS."""
    try:
        sock.shutdown(socket.SHUT_WR)
        deadline, budget = time.monotonic() + LINGER_SECONDS, LINGER_BYTES
        while budget > 0 and (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(remaining)
            data = sock.recv(LINGER_CHUNK)
            if not data:
                break
            budget -= len(data)
    except OSError:  # a timeout, or the peer is already gone: close now
        pass


class Server(simple_websocket.Server):
    """A server socket whose refusal of an oversized message reaches the peer as close 1009."""

    def _handle_events(self):
        keep_going = super()._handle_events()  # sends the 1009 close frame when the message is too big
        if not keep_going and self.max_message_size and self.incoming_message_len > self.max_message_size:
            linger(self.sock)
            # The handler may have gone back to waiting while this read: wake it for good.
            self.connected = False
            self.event.set()
        return keep_going
