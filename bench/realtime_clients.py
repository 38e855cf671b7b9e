"""The 1,000-socket benchmark's client: a small asyncio WebSocket client (StreamReader per socket,
permessage-deflate when asked), run in client processes that report latencies and counts."""
import asyncio
import base64
import http.client
import json
import os
import struct
import time
import zlib

DURATION = 10.0  # seconds of sending; readers give up DURATION + 20 s after the start


async def _open(host: str, port: int, path: str, deflate: bool):
    reader, writer = await asyncio.open_connection(host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    offer = "Sec-WebSocket-Extensions: permessage-deflate\r\n" if deflate else ""
    writer.write((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n").encode())
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        raise RuntimeError(head.decode(errors="replace"))
    if deflate and b"permessage-deflate" not in head.lower():
        raise RuntimeError("the server did not accept permessage-deflate")
    return reader, writer


async def _frames(reader, writer):
    """Server frames (unmasked) as (opcode, payload); compressed ones are inflated, pings answered."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    while True:
        first, second = await reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", await reader.readexactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", await reader.readexactly(8))[0]
        payload = await reader.readexactly(length)
        if first & 0x40:  # RSV1: permessage-deflate (the context carries over between messages)
            payload = inflater.decompress(payload + b"\x00\x00\xff\xff")
        opcode = first & 0x0F
        if opcode == 0x9:  # ping -> masked pong
            mask = os.urandom(4)
            writer.write(bytes([0x8A, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        elif opcode == 0x8:
            return
        else:
            yield opcode, payload


async def _client_main(ws_url: str, paths: list[str], expected: int, deflate: bool, ready, go, results) -> None:
    host, port = ws_url.split("//", 1)[1].split(":")
    gate = asyncio.Semaphore(50)

    async def open_one(path):
        async with gate:
            return await _open(host, int(port), path, deflate)

    conns = await asyncio.gather(*(open_one(p) for p in paths))
    ready.put(len(conns))
    await asyncio.get_running_loop().run_in_executor(None, go.wait)
    latencies, counts, duplicates = [], [], 0

    async def read(reader, writer):
        nonlocal duplicates
        seen = set()
        try:
            async for _opcode, payload in _frames(reader, writer):
                received = time.time()
                frame = json.loads(payload)
                if frame.get("type") != "message":
                    continue
                _, seq, sent = frame["message"].split()
                if seq in seen:
                    duplicates += 1
                    continue
                seen.add(seq)
                latencies.append(received - float(sent))
                if len(seen) == expected:
                    break
        finally:
            counts.append(len(seen))
            writer.close()

    tasks = [asyncio.ensure_future(read(r, w)) for r, w in conns]
    await asyncio.wait(tasks, timeout=DURATION + 20)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    results.put({"latencies": latencies, "delivered": sum(counts), "duplicates": duplicates})


def run_client(ws_url, paths, expected, deflate, ready, go, results) -> None:
    asyncio.run(_client_main(ws_url, paths, expected, deflate, ready, go, results))


def send_message(conn: http.client.HTTPConnection, path: str, seq: int) -> float:
    """POST one numbered, timestamped message; the seconds the request took."""
    started = time.time()
    body = json.dumps({"message": f"bench {seq} {started:.6f}"})
    conn.request("POST", path, body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    if response.status != 201:
        raise RuntimeError(f"send_message answered {response.status}")
    return time.time() - started
