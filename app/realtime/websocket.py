"""The client socket of one WebSocket, closing cleanly when the library refuses a message.

simple-websocket answers a message over max_message_size with close 1009 and closes the TCP socket
while the rest of the message is still arriving. Closing a socket with unread data makes the kernel
reset the connection, and the reset discards the close frame at the peer: the client sees
"connection reset" instead of 1009. Here every close of a WebSocket's TCP socket first stops
writing (the peer reads the close frame and then the end of the stream) and reads and drops what
still arrives, a bounded amount for a bounded time: the lingering close of web servers.
"""
import socket
import time

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


class LingeringSocket:
    """The client's socket as the WebSocket library sees it: closing it lingers first."""

    def __init__(self, sock) -> None:
        self.raw = sock

    def __getattr__(self, name):
        return getattr(self.raw, name)

    def close(self) -> None:
        linger(self.raw)
        self.raw.close()


def tcp_socket(sock):
    """The socket object itself, under a LingeringSocket or not."""
    return sock.raw if isinstance(sock, LingeringSocket) else sock


def linger_on_close(environ: dict) -> None:
    """Hand the WebSocket library (which takes the socket from the WSGI environment) a socket
    whose close lingers, so that its refusal of an oversized message reaches the peer as 1009."""
    for key in ("gunicorn.socket", "werkzeug.socket"):
        if key in environ and not isinstance(environ[key], LingeringSocket):
            environ[key] = LingeringSocket(environ[key])
