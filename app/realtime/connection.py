"""One open socket: who holds it, what it listens to, and its outbox.

Frames for a socket go into its bounded outbox; a writer thread of its own drains it (a greenlet
under gevent, whose monkey patching makes threads greenlets), so a peer that stops reading holds
up only itself. While the outbox is empty, a plain frame is handed straight to the kernel when it
takes the whole frame without waiting: waking a thread per socket for every event would cost far
more than the write (with 1,000 sockets on 2 cores; 10,000 greenlets under gevent). The outbox
exists from registration, before the handshake completes, so frames published meanwhile wait
there rather than being lost.
"""
import ctypes
import errno
import logging
import os
import queue
import socket
import threading
import time
from datetime import datetime

from simple_websocket import ConnectionClosed

from .wire import plain_frame
from .websocket import tcp_socket

log = logging.getLogger(__name__)

# WebSocket close codes: the token is not (or no longer) valid; the account is banned; the channel
# is unknown or hidden; the peer reads too slowly and its outbox overflowed.
CLOSE_UNAUTHORIZED = 4001
CLOSE_BANNED = 4003
CLOSE_UNKNOWN_CHANNEL = 4004
CLOSE_TOO_SLOW = 4008
TOO_SLOW_REASON = "Too slow: events backed up"

BATCH = 64  # frames written in one sendall when the writer has fallen behind
NO_WAIT = getattr(socket, "MSG_DONTWAIT", 0)  # a send that returns at once rather than wait for room
# The C library's send(), called through ctypes.PyDLL, which keeps the GIL for the call: a send
# that never waits has no reason to let it go, and each release made the fan-out queue behind any
# busy request thread of its worker to get it back, once per socket.
try:
    _LIBC_SEND = ctypes.PyDLL(None, use_errno=True).send
    _LIBC_SEND.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int)
    _LIBC_SEND.restype = ctypes.c_ssize_t
except (OSError, AttributeError):  # no C library send() to call: the socket's own send
    _LIBC_SEND = None
SEND_FLAGS = NO_WAIT | getattr(socket, "MSG_NOSIGNAL", 0)
_WAKE = object()  # put after close(): the writer wakes and sees that it must stop
_REST = object()  # put when a send left part of a frame for the writer (in Connection.rest)


class Connection:
    """One socket. plain: no extension negotiated, so the shared pre-built frame fits it."""

    def __init__(self, user_id: str, username: str, channel_id: str | None, token_digest: str = "",
                 expires_at: datetime | None = None, outbox_frames: int = 1000, plain: bool = True):
        self.key = ""  # "<process id>:<socket id>", given when the hub registers it
        self.user_id, self.username, self.channel_id = user_id, username, channel_id
        # The token it was opened with: the socket closes when that token is revoked or expires.
        self.token_digest, self.expires_at = token_digest, expires_at
        self.outbox: queue.SimpleQueue = queue.SimpleQueue()
        self.outbox_frames, self.plain = outbox_frames, plain
        self.lock = threading.Lock()
        self.ws = None
        self.writer: threading.Thread | None = None
        self.closed = False  # takes no more frames
        self.closing: tuple[int | None, str | None] = (None, None)  # the close frame the writer sends last
        self.dropping = False  # closing without sending what is still queued
        self.counted = False  # part of the user's presence count
        self.sending_since = 0.0  # monotonic start of the write in flight (0: none)
        self.idle = False  # the writer waits on an empty outbox: a frame may go straight out
        self.finished_at = 0.0  # monotonic time the writer finished (its close frame sent)
        self.aborted = False
        self.rest = b""  # the unsent end of a frame that went out partly
        self.direct = False  # a plain TCP socket: sends that never wait are possible
        self.fd_nonblocking = False  # under gevent: the descriptor itself never waits (os.write)
        self.stream = None  # the seq gate of logged events (app/realtime/resume.py), set at the handshake

    def send(self, text: str, frame: bytes | None = None) -> bool:
        """Send or queue one text message (frame: its pre-built plain frame); False once closing."""
        with self.lock:
            if self.closed:
                return False
            item = frame if frame is not None and self.plain else text
            if self.idle and self.direct:
                if not self.ws.connected:
                    self.closed = True  # the peer is gone
                    return False
                data = item if isinstance(item, bytes) else plain_frame(item)
                try:
                    sent = self._send_now(data)
                except BlockingIOError:
                    sent = 0
                except OSError:
                    self.closed = True  # the peer is gone
                    return False
                if sent == len(data):
                    return True
                # The rest of the frame: the writer sends it before anything else, even when the
                # outbox is dropped, so the peer never gets half a frame.
                self.rest, item = data[sent:], _REST
            elif self.outbox.qsize() >= self.outbox_frames:
                item = None
            if item is not None:
                self.idle = False
                self.outbox.put(item)
                return True
        self.close(CLOSE_TOO_SLOW, TOO_SLOW_REASON, drop=True)
        return False

    def _send_now(self, data: bytes) -> int:
        """Hand the kernel what it takes at once; the bytes taken (BlockingIOError: none)."""
        if _LIBC_SEND is None:
            if self.fd_nonblocking:
                return os.write(self.ws.sock.fileno(), data)
            return self.ws.sock.send(data, NO_WAIT)
        # fileno() is -1 once the socket object is closed: the send then fails (EBADF), never
        # writing to a descriptor number reused by another connection.
        sent = _LIBC_SEND(self.ws.sock.fileno(), data, len(data), SEND_FLAGS)
        if sent >= 0:
            return sent
        code = ctypes.get_errno()
        if code in (errno.EAGAIN, errno.EWOULDBLOCK):
            raise BlockingIOError(code, os.strerror(code))
        raise OSError(code, os.strerror(code))

    def attach(self, ws) -> None:
        """Bind the accepted socket and start its writer (which first sends what waited meanwhile)."""
        self.ws = ws
        # Sends that never wait need a plain TCP socket (a TLS one encrypts in the socket object).
        # socket.socket is gevent's class once gevent has patched the standard library; gevent's
        # socket object waits for room, but its descriptor is non-blocking, so os.write never waits.
        self.direct = bool(NO_WAIT) and self.plain and type(tcp_socket(ws.sock)) is socket.socket
        self.fd_nonblocking = self.direct and not os.get_blocking(ws.sock.fileno())
        self.writer = threading.Thread(target=self._drain, name="realtime-writer", daemon=True)
        self.writer.start()

    def close(self, code: int | None, reason: str | None, drop: bool = False) -> None:
        """Take no more frames; the writer sends what is queued (unless drop) and then the close
        frame (none if code is None)."""
        with self.lock:
            if self.closed:
                return
            self.closed, self.closing, self.dropping = True, (code, reason), drop
        self.outbox.put(_WAKE)

    def join(self, timeout: float) -> None:
        """Wait for the writer to finish (its close frame goes out before the handler's own)."""
        if self.writer is not None and self.writer is not threading.current_thread():
            self.writer.join(timeout)

    def stalled(self, now: float, timeout: float) -> bool:
        """Whether one write has waited on the peer for longer than timeout seconds."""
        since = self.sending_since
        return since != 0.0 and now - since > timeout

    def lingers(self, now: float, grace: float) -> bool:
        """Whether its writer finished more than grace seconds ago yet its handler still waits: the
        peer has not answered the close frame (the handler waits for client frames without a timeout)."""
        return self.finished_at != 0.0 and not self.aborted and now - self.finished_at > grace

    def abort(self) -> None:
        """Drop the connection without a close frame: a peer that stopped reading cannot take one.
        Shutting the socket down wakes the writer and the library's reader thread (hence the handler)."""
        with self.lock:
            self.closed, self.aborted = True, True
            if not self.dropping:
                self.closing, self.dropping = (None, None), True
        self.outbox.put(_WAKE)
        try:
            self.ws.sock.shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError):
            pass

    def _drain(self) -> None:
        try:
            done = False
            while not done:
                with self.lock:  # nothing queued and nothing in flight: frames may go straight out
                    self.idle = self.outbox.empty() and not self.closed
                batch = [self.outbox.get()]
                while batch[-1] is not _WAKE and len(batch) < BATCH:
                    try:
                        batch.append(self.outbox.get_nowait())
                    except queue.Empty:
                        break
                with self.lock:
                    rest, self.rest = self.rest, b""
                self._write([rest] if rest else [])
                if self.dropping:
                    break
                done = batch[-1] is _WAKE  # put only after close(): what came before it is sent
                self._write([item for item in batch if item is not _WAKE and item is not _REST])
            code, reason = self.closing
            if code is not None and self.ws.connected:
                self.sending_since = time.monotonic()  # a full socket may hold the close frame too
                self.ws.close(code, reason)
        except Exception as exc:  # the peer is gone (or the library refused): this socket is done
            if not isinstance(exc, (OSError, ConnectionClosed)):
                log.exception("a socket's writer failed")
            with self.lock:
                self.closed = True
        finally:
            self.sending_since, self.finished_at = 0.0, time.monotonic()

    def _write(self, items: list) -> None:
        if not items:
            return
        if not self.ws.connected:
            raise ConnectionClosed()
        self.sending_since = time.monotonic()
        try:
            if self.plain:
                # sendall, unlike simple-websocket's send(), never leaves half a frame on a busy socket.
                self.ws.sock.sendall(b"".join(i if isinstance(i, bytes) else plain_frame(i) for i in items))
            else:  # an extension (permessage-deflate): the library builds each frame for this socket
                for text in items:
                    self.ws.send(text)
        finally:
            self.sending_since = 0.0
