"""Real-time benchmark: 1,000 sockets on one channel, one message every 100 ms for 10 s; then
10,000 sockets under gevent, one message a second (realtime_scale.py).

Prints delivery latency (HTTP send to frame receipt) p50/p99 and delivered vs expected, for both
fan-out modes (direct publish, and through the fanout.deliver Celery task), the latency of one
socket under no load (the cost of the Celery hop), and a second pass to 999 sockets while a
1,000th stops reading (its buffers filled first), beside the all-healthy p99 of the same server.
Run: .venv/bin/python bench/bench_realtime.py [--mode direct|celery] [--sockets N] [--deflate]
[--worker-class gevent] [--scale-sockets N (0: none)]. It also prints the hub's own CPU per
event and socket (realtime_cost.py). The clients are two processes of a small
asyncio WebSocket client (realtime_clients.py), on the same 2 cores as the server.
"""
import argparse
import base64
import http.client
import multiprocessing
import os
import socket
import sys
import time

import psutil
import redis as redis_lib

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import bench_env, percentile, report  # noqa: E402
from bench.realtime_clients import DURATION, run_client, send_message  # noqa: E402
from bench.realtime_cost import report_cost  # noqa: E402
from bench.realtime_scale import report_scale, scale_pass  # noqa: E402
from scripts.stack import Stack  # noqa: E402

USERS = 200
RATE = 10  # messages per second, for DURATION seconds
FLOOD_FRAMES, FLOOD_BYTES = 120, 50_000  # ~6 MB for the stalled socket: more than its kernel buffers hold


def seed(env: dict, users: int) -> dict:
    """An owner, a public channel and `users` accounts with tokens."""
    from app import create_app
    from app.accounts.users import create_user
    from app.accounts.auth import issue_token
    from app.extensions import db
    from app.models import Channel
    # Explicit URLs: Config read the environment when it was first imported (the previous mode's).
    app = create_app(DATA_DIR=env["PUFFERBLOW_DATA_DIR"], SQLALCHEMY_DATABASE_URI=env["DATABASE_URL"],
                     REDIS_URL=env["REDIS_URL"])
    with app.app_context():
        owner = create_user("benchowner", "benchmark-password")
        channel = Channel(name="bench", name_key="bench", created_by=owner.id)
        db.session.add(channel)
        tokens = [issue_token(owner)[0]]
        for index in range(users):
            tokens.append(issue_token(create_user(f"reader{index}", "benchmark-password"))[0])
        stalled_token = issue_token(stalled := create_user("stalled", "benchmark-password"))[0]  # stops reading
        db.session.commit()
        return {"channel_id": channel.id, "owner_token": tokens[0], "tokens": tokens[1:], "app": app,
                "stalled_id": stalled.id, "stalled_token": stalled_token}


def open_stalled(stack: Stack, ids: dict, attempts: int = 20) -> socket.socket:
    """A socket that never reads after its handshake (a small receive buffer fills its server side
    soon); retried while the workers still close the previous pass's sockets."""
    host, port = stack.url.split("//", 1)[1].split(":")
    path = f"/ws/channels/{ids['channel_id']}?auth_token={ids['stalled_token']}"
    for _ in range(attempts):
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect((host, int(port)))
        raw.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
                    "Sec-WebSocket-Version: 13\r\n\r\n".encode())
        if b" 101 " in (head := raw.makefile("rb").readline()):  # then nothing more is read
            flood(ids)
            return raw
        print(f"  (stalled socket refused: {head.decode(errors='replace').strip()}; retrying)", flush=True)
        raw.close()
        time.sleep(1)
    raise RuntimeError(stack.web.log_tail())


def flood(ids: dict) -> None:
    """Events for the stalled socket's user alone, encoded and published as the server would."""
    from app import keys
    from app.realtime.wire import encode_event
    with ids["app"].app_context(), redis_lib.Redis.from_url(ids["app"].config["REDIS_URL"]) as client:
        for seq in range(FLOOD_FRAMES):  # a client of its own: this run's Redis, whatever ran before
            frame = {"type": "flood", "seq": seq, "pad": "x" * FLOOD_BYTES}
            client.publish(keys.events_channel(), encode_event("channel", frame, ids["channel_id"], [ids["stalled_id"]]))


def idle_latency(stack: Stack, ids: dict, count: int = 300) -> list[float]:
    """One socket, one message at a time: the hop cost without fan-out load."""
    ctx = multiprocessing.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    path = f"/ws/channels/{ids['channel_id']}?auth_token={ids['tokens'][0]}"
    client = ctx.Process(target=run_client, args=(stack.ws_url, [path], count, False, ready, go, results))
    client.start()
    ready.get(timeout=30)
    go.set()
    conn = http.client.HTTPConnection(stack.url.split("//", 1)[1])
    send_path = f"/api/v1/channels/{ids['channel_id']}/send_message?auth_token={ids['owner_token']}"
    for seq in range(count):
        send_message(conn, send_path, seq)
        time.sleep(0.02)
    outcome = results.get(timeout=60)
    client.join()
    return outcome["latencies"]


def fan_out(stack: Stack, ids: dict, sockets: int, deflate: bool, processes: int = 2, stall: bool = False) -> dict:
    """`sockets` sockets over client processes, RATE messages/s for DURATION s (stall: one stops reading)."""
    ctx = multiprocessing.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    stalled = open_stalled(stack, ids) if stall else None  # flooded at once: stalled for the whole pass
    paths = [f"/ws/channels/{ids['channel_id']}?auth_token={ids['tokens'][n % len(ids['tokens'])]}"
             for n in range(sockets - (1 if stall else 0))]
    messages = int(RATE * DURATION)
    clients = [ctx.Process(target=run_client, args=(stack.ws_url, paths[n::processes], messages, deflate, ready, go,
                                                 results))
               for n in range(processes)]
    started = time.perf_counter()
    for client in clients:
        client.start()
    connected = sum(ready.get(timeout=120) for _ in clients)
    connect_time = time.perf_counter() - started
    workers = psutil.Process(stack.web.process.pid).children()
    memory = sum(worker.memory_info().rss for worker in workers) / 2**20
    threads = sum(worker.num_threads() for worker in workers)
    go.set()
    time.sleep(0.5)  # let the readers start
    conn = http.client.HTTPConnection(stack.url.split("//", 1)[1])
    send_path = f"/api/v1/channels/{ids['channel_id']}/send_message?auth_token={ids['owner_token']}"
    send_times, begin = [], time.perf_counter()
    for seq in range(messages):
        send_times.append(send_message(conn, send_path, seq))
        time.sleep(max(0.0, begin + (seq + 1) / RATE - time.perf_counter()))
    outcomes = [results.get(timeout=DURATION + 60) for _ in clients]
    for client in clients:
        client.join()
    if stalled is not None:
        stalled.close()
    latencies = [value for outcome in outcomes for value in outcome["latencies"]]
    return {"connected": connected, "connect_s": connect_time, "messages": messages, "rss_mb": memory,
            "threads": threads,
            "expected": messages * len(paths), "delivered": sum(o["delivered"] for o in outcomes),
            "duplicates": sum(o["duplicates"] for o in outcomes), "latencies": latencies,
            "send_p50_ms": percentile(send_times, 0.5) * 1000}


def _spread(lat: list[float]) -> str:
    return " / ".join(f"{v * 1000:.1f}" for v in (percentile(lat, .5), percentile(lat, .99), max(lat, default=0)))


def run_mode(mode: str, sockets: int, worker_class: str, deflate: bool) -> float:
    """Run one fan-out mode; returns its one-socket p50 in ms."""
    compression = ", permessage-deflate" if deflate else ""
    print(f"realtime fan-out, REALTIME_FANOUT={mode}, gunicorn {worker_class}{compression}", flush=True)
    with bench_env({"REALTIME_FANOUT": mode, "GUNICORN_ACCESSLOG": "", "REALTIME_COMPRESSION": str(int(deflate))}) as env:
        ids = seed(env, USERS)
        threads = sockets // 2 + 64  # every socket holds a gthread thread; room for the HTTP sends
        # A long send timeout keeps the second pass's stalled peer stalled (healthy ones never wait on it).
        with Stack(env, web_workers=2, threads=threads, celery_worker=True, worker_class=worker_class,
                   extra_env={"REALTIME_SEND_TIMEOUT": "60"}) as stack:
            idle = idle_latency(stack, ids)
            report("one socket, one message at a time: send -> receipt p50 / p99",
                   f"{percentile(idle, 0.5) * 1000:.2f} / {percentile(idle, 0.99) * 1000:.2f}", "ms")
            result = fan_out(stack, ids, sockets, deflate)
            lat = result["latencies"]
            held_by = f"{threads} threads" if worker_class == "gthread" else worker_class
            report(f"sockets connected (2 workers, {held_by})", f"{result['connected']:,}")
            report("time to open them", result["connect_s"], "s")
            report("gunicorn workers while holding them: RSS / OS threads",
                   f"{result['rss_mb']:.0f} MB / {result['threads']:,}")
            report(f"{result['messages']} messages at {RATE}/s: send_message p50", result["send_p50_ms"], "ms")
            report(f"{sockets:,} sockets: send -> receipt p50 / p99 / max", _spread(lat), "ms")
            report("machine load average (1 min) after the run, on 2 cores", os.getloadavg()[0])
            report("delivered / expected (target: all; p99 < 250 ms)",
                   f"{result['delivered']:,} / {result['expected']:,} (lost {result['expected'] - result['delivered']:,},"
                   f" duplicates {result['duplicates']})")
            healthy_p99 = percentile(lat, 0.99) * 1000
            stalled = fan_out(stack, ids, sockets, deflate, stall=True)
            stalled_p99 = percentile(stalled["latencies"], 0.99) * 1000
            report(f"{sockets - 1:,} sockets while 1 stops reading: p50 / p99 / max", _spread(stalled["latencies"]),
                   "ms")
            report("p99 with one stalled peer / all-healthy p99 (target <= 1.5)",
                   f"{stalled_p99:.1f} / {healthy_p99:.1f} ms = {stalled_p99 / healthy_p99:.2f}x")
            report("delivered / expected with one stalled peer",
                   f"{stalled['delivered']:,} / {stalled['expected']:,} (duplicates {stalled['duplicates']})")
            return percentile(idle, 0.5) * 1000


def run_scale(sockets: int) -> None:
    """The 10,000-socket pass (realtime_scale.py) on a fresh database and Redis."""
    with bench_env({"GUNICORN_ACCESSLOG": ""}) as env:
        ids = seed(env, USERS)
        report_scale(scale_pass(env, ids, sockets), sockets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["direct", "celery", "both", "none"], default="both",
                        help="the 1,000-socket passes to run (none: only the scale pass)")
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--worker-class", choices=["gthread", "gevent"], default="gthread")
    parser.add_argument("--deflate", action="store_true", help="turn REALTIME_COMPRESSION on; clients negotiate permessage-deflate as browsers do")
    parser.add_argument("--scale-sockets", type=int, default=10_000, help="sockets of the gevent scale pass (0: skip it)")
    args = parser.parse_args()
    modes = {"both": ["direct", "celery"], "none": []}.get(args.mode, [args.mode])
    idle = {mode: run_mode(mode, args.sockets, args.worker_class, args.deflate) for mode in modes}
    if len(idle) == 2:
        report("the Celery hop: one-socket p50, celery minus direct", idle["celery"] - idle["direct"], "ms")
    report_cost(min(args.sockets // 2, 2000) or 500)  # one worker's share of the sockets
    if args.scale_sockets:
        run_scale(args.scale_sockets)


if __name__ == "__main__":
    main()
