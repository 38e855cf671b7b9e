"""The 10,000-socket pass: one channel, one node (2 gunicorn workers, gevent), one message a second
for 10 s; every message must reach every socket, delivery p99 under 1 s; and the resident memory
of the workers per open socket.

The clients must cost little beside the server on the same 2 cores: each client process drives
its sockets with one asyncio Protocol apiece (no task or stream reader per socket), parses frames
from one buffer, and reads the sequence number and send time with one regular expression instead
of decoding the JSON. Latency is from the start of the send_message request to the arrival of
the bytes that completed the frame.
"""
import asyncio
import base64
import http.client
import multiprocessing
import os
import re
import resource
import time

import psutil

from bench.common import percentile, report
from bench.realtime_clients import send_message
from scripts.stack import Stack

SCALE_RATE, SCALE_DURATION = 1, 10  # messages per second, seconds
P99_TARGET_MS = 1000
_MESSAGE_RE = re.compile(rb'"message": "bench (\d+) ([0-9.]+)"')


def lift_fd_limit() -> int:
    """Every socket is a descriptor: lift the soft limit to the hard one; returns the limit."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class Socket(asyncio.Protocol):
    """One client socket: sends its handshake, then counts the numbered messages it receives."""

    def __init__(self, request: bytes, stats: dict):
        self.request, self.stats = request, stats
        self.buffer, self.upgraded, self.seen = bytearray(), False, set()
        self.opened = asyncio.get_running_loop().create_future()
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed during the handshake: {exc}"))

    def data_received(self, data: bytes) -> None:
        received = time.time()
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end])
            del buffer[:end + 4]
            if b" 101 " not in head.split(b"\r\n", 1)[0]:
                self.opened.set_exception(RuntimeError(head.decode(errors="replace")))
                return
            self.upgraded = True
            self.opened.set_result(True)
        while len(buffer) >= 2:
            length, start = buffer[1] & 0x7F, 2
            if length == 126:
                length, start = int.from_bytes(buffer[2:4], "big"), 4
            elif length == 127:
                length, start = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < start + length:
                return
            opcode, payload = buffer[0] & 0x0F, bytes(buffer[start:start + length])
            del buffer[:start + length]
            if opcode == 0x1 and (found := _MESSAGE_RE.search(payload)):
                seq = int(found[1])
                if seq in self.seen:
                    self.stats["duplicates"] += 1
                else:
                    self.seen.add(seq)
                    self.stats["latencies"].append(received - float(found[2]))
            elif opcode == 0x9:  # ping: answer with a masked pong
                mask = os.urandom(4)
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + mask
                                     + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


async def _drive(host: str, port: int, paths: list[str], expected: int, ready, go, results) -> None:
    stats = {"latencies": [], "duplicates": 0}
    loop, gate = asyncio.get_running_loop(), asyncio.Semaphore(100)

    async def open_one(path: str) -> Socket:
        request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n").encode()
        async with gate:
            _transport, protocol = await loop.create_connection(lambda: Socket(request, stats), host, port)
            await protocol.opened
            return protocol

    sockets = await asyncio.gather(*(open_one(path) for path in paths))
    ready.put(len(sockets))
    await loop.run_in_executor(None, go.wait)
    deadline = time.monotonic() + SCALE_DURATION + 30
    while time.monotonic() < deadline and any(len(s.seen) < expected for s in sockets):
        await asyncio.sleep(0.2)
    for sock in sockets:
        sock.transport.close()
    results.put({"latencies": stats["latencies"], "delivered": sum(len(s.seen) for s in sockets),
                 "duplicates": stats["duplicates"]})


def _client(ws_url: str, paths: list[str], expected: int, ready, go, results) -> None:
    lift_fd_limit()
    host, port = ws_url.split("//", 1)[1].split(":")
    asyncio.run(_drive(host, int(port), paths, expected, ready, go, results))


def worker_memory(stack: Stack) -> tuple[float, float]:
    """(PSS, RSS) in MB summed over the gunicorn workers."""
    workers = psutil.Process(stack.web.process.pid).children()
    full = [worker.memory_full_info() for worker in workers]
    return sum(f.pss for f in full) / 2**20, sum(f.rss for f in full) / 2**20


def scale_pass(env: dict, ids: dict, sockets: int, processes: int = 2) -> dict:
    """Open `sockets` sockets on one channel, send SCALE_RATE messages/s for SCALE_DURATION s."""
    lift_fd_limit()
    ctx = multiprocessing.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    paths = [f"/ws/channels/{ids['channel_id']}?auth_token={ids['tokens'][n % len(ids['tokens'])]}"
             for n in range(sockets)]
    messages = SCALE_RATE * SCALE_DURATION
    with Stack(env, web_workers=2, celery_worker=True, worker_class="gevent") as stack:
        idle_pss, idle_rss = worker_memory(stack)
        clients = [ctx.Process(target=_client, args=(stack.ws_url, paths[n::processes], messages, ready, go, results))
                   for n in range(processes)]
        started = time.perf_counter()
        for process in clients:
            process.start()
        connected = sum(ready.get(timeout=1800) for _ in clients)  # 10,000 handshakes take minutes
        connect_s = time.perf_counter() - started
        time.sleep(2)  # let the last registrations and presence announcements settle
        open_pss, open_rss = worker_memory(stack)
        go.set()
        time.sleep(0.5)
        conn = http.client.HTTPConnection(stack.url.split("//", 1)[1])
        send_path = f"/api/v1/channels/{ids['channel_id']}/send_message?auth_token={ids['owner_token']}"
        begin = time.perf_counter()
        for seq in range(messages):
            send_message(conn, send_path, seq)
            time.sleep(max(0.0, begin + (seq + 1) / SCALE_RATE - time.perf_counter()))
        outcomes = [results.get(timeout=SCALE_DURATION + 120) for _ in clients]
        for process in clients:
            process.join()
    return {"connected": connected, "connect_s": connect_s, "messages": messages, "expected": messages * sockets,
            "delivered": sum(o["delivered"] for o in outcomes), "duplicates": sum(o["duplicates"] for o in outcomes),
            "latencies": [v for o in outcomes for v in o["latencies"]], "idle_mb": (idle_pss, idle_rss),
            "open_mb": (open_pss, open_rss)}


def report_scale(result: dict, sockets: int) -> None:
    lat = result["latencies"]
    print(f"realtime scale: {sockets:,} sockets on one channel, 2 gunicorn workers (gevent), "
          f"{SCALE_RATE} message/s for {SCALE_DURATION} s", flush=True)
    report("sockets connected / time to open them", f"{result['connected']:,} in {result['connect_s']:.1f} s")
    p50, p99 = percentile(lat, 0.5) * 1000, percentile(lat, 0.99) * 1000
    report(f"send -> receipt p50 / p99 / max (target p99 < {P99_TARGET_MS} ms)",
           f"{p50:.1f} / {p99:.1f} / {max(lat, default=0) * 1000:.1f}", "ms")
    report("delivered / expected (target: all)",
           f"{result['delivered']:,} / {result['expected']:,} (lost {result['expected'] - result['delivered']:,},"
           f" duplicates {result['duplicates']})")
    (idle_pss, idle_rss), (open_pss, open_rss) = result["idle_mb"], result["open_mb"]
    report("gunicorn workers idle -> holding the sockets: PSS", f"{idle_pss:.0f} -> {open_pss:.0f}", "MB")
    report("gunicorn workers idle -> holding the sockets: RSS", f"{idle_rss:.0f} -> {open_rss:.0f}", "MB")
    per_socket = (open_pss - idle_pss) * 1024 / max(1, result["connected"])
    report("resident memory per open socket (PSS growth / sockets)", per_socket, "KB")
    report("machine load average (1 min) after the run, on 2 cores", os.getloadavg()[0])
