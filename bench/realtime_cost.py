"""Where fan-out time goes: the hub's own CPU per event and per socket, in this process.

One Hub with `sockets` connections on one channel, each a real loopback TCP socket whose peer
drains it, gets the same published message `events` times; the CPU time of the dispatching
thread (time.thread_time, so other processes on the machine do not count) is divided by events
and sockets. Then the same with one CPU-bound thread beside it, as a request thread of the same
worker would be: each non-blocking send releases the GIL, and getting it back waits behind that
thread (wall time, the convoy a fan-out pays while requests run in its worker).
"""
import socket
import threading
import time

from app.realtime.connection import Connection
from app.realtime.hub import Hub
from app.realtime.wire import encode_event
from bench.common import percentile, report


class _Peer:
    """What Connection needs of a socket's WebSocket: the socket and whether it is open."""

    def __init__(self, sock: socket.socket):
        self.sock, self.connected = sock, True


def _pairs(count: int) -> list[tuple[socket.socket, socket.socket]]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(count)
        clients = [socket.create_connection(listener.getsockname()) for _ in range(count)]
        return [(listener.accept()[0], client) for client in clients]


def _drain(clients: list[socket.socket]) -> None:
    for client in clients:
        try:
            while client.recv(1 << 16):
                pass
        except BlockingIOError:
            pass


def _spin(stop: threading.Event) -> None:
    while not stop.is_set():
        sum(range(100))


def measure(sockets: int = 500, events: int = 40) -> dict:
    pairs = _pairs(sockets)
    hub = Hub()
    frame = {"type": "message", "message_id": "0" * 36, "message": "x" * 300, "username": "bench"}
    data = encode_event("channel", frame, "bench-channel").encode()
    for server, client in pairs:
        client.setblocking(False)
        conn = Connection(f"user{client.fileno()}", "bench", "bench-channel")
        conn.ws, conn.direct, conn.idle = _Peer(server), True, True  # a writer that waits on an empty outbox
        hub.channel_sockets.setdefault("bench-channel", set()).add(conn)
    cpu, walls = [], []
    for busy in (False, True):
        stop = threading.Event()
        if busy:
            threading.Thread(target=_spin, args=(stop,), daemon=True).start()
        for _ in range(events):
            started, cpu_started = time.perf_counter(), time.thread_time()
            hub.dispatch(data)
            (walls if busy else cpu).append(time.perf_counter() - started if busy else time.thread_time() - cpu_started)
            _drain([client for _server, client in pairs])
        stop.set()
    for server, client in pairs:
        server.close()
        client.close()
    return {"cpu_ms": percentile(cpu, 0.5) * 1000, "busy_wall_ms": percentile(walls, 0.5) * 1000,
            "busy_wall_p99_ms": percentile(walls, 0.99) * 1000}


def report_cost(sockets: int = 500) -> None:
    result = measure(sockets)
    print(f"realtime fan-out cost in the hub: one event to {sockets} sockets of one process (gthread path)",
          flush=True)
    report("CPU of the dispatching thread per event (median)", result["cpu_ms"], "ms")
    report("CPU per socket (one non-blocking send and its bookkeeping)", result["cpu_ms"] * 1000 / sockets, "us")
    report("wall per event beside one CPU-bound thread: median / p99",
           f"{result['busy_wall_ms']:.1f} / {result['busy_wall_p99_ms']:.1f}", "ms")
