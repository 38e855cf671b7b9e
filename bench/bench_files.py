"""Files benchmark: upload throughput of 1 MiB images and the time to thumbnail a 4000x3000 JPEG.

Run: .venv/bin/python bench/bench_files.py  (or `make bench` for every benchmark).
The load client runs on the same cores as gunicorn and the Celery worker.
"""
import http.client
import io
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from PIL import Image  # noqa: E402

from bench.common import bench_env, http_load, percentile, report  # noqa: E402
from scripts.stack import Stack  # noqa: E402

MIB = 1024 * 1024


def one_mib_png(seed: int) -> bytes:
    """A distinct, incompressible PNG of about 1 MiB (so every upload is new content)."""
    rng = os.urandom(592 * 592 * 3)
    img = Image.frombytes("RGB", (592, 592), rng[:-8] + seed.to_bytes(8, "big"))
    out = io.BytesIO()
    img.save(out, "PNG", compress_level=1)
    return out.getvalue()


def photo_jpeg() -> bytes:
    """A 4000x3000 photo-like JPEG (gradients plus sensor-like noise), about 2.7 MB."""
    size = (4000, 3000)
    channels = (Image.radial_gradient("L").resize(size), Image.effect_noise(size, 12),
                Image.linear_gradient("L").resize(size))
    out = io.BytesIO()
    Image.merge("RGB", channels).save(out, "JPEG", quality=85)
    return out.getvalue()


def multipart(field: str, data: bytes, name: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def upload_load(url: str, path: str, token: str, bodies: list[tuple[bytes, str]], connections: int,
                duration: float) -> dict:
    """Keep-alive clients posting the prepared bodies round-robin for `duration` seconds."""
    host, port = url.split("//", 1)[1].split(":")
    latencies, statuses, lock = [], {}, threading.Lock()
    deadline = time.perf_counter() + duration

    def client(index: int):
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        sequence = index
        while time.perf_counter() < deadline:
            body, content_type = bodies[sequence % len(bodies)]
            sequence += connections
            start = time.perf_counter()
            conn.request("POST", path, body, {"Content-Type": content_type, "Authorization": f"Bearer {token}"})
            response = conn.getresponse()
            response.read()
            with lock:
                latencies.append(time.perf_counter() - start)
                statuses[response.status] = statuses.get(response.status, 0) + 1
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {"rps": len(latencies) / elapsed, "statuses": statuses, "p50_ms": percentile(latencies, 0.5) * 1000,
            "p99_ms": percentile(latencies, 0.99) * 1000}


def seed_owner() -> str:
    # Imported here, once bench_env has set the environment the configuration is read from.
    from app import create_app
    from app.accounts.users import create_user
    from app.accounts.auth import issue_token
    from app.extensions import db

    app = create_app()
    with app.app_context():
        owner = create_user("benchowner", "benchmark-password")
        token, _ = issue_token(owner)
        db.session.commit()
    return token


def thumbnail_in_process(jpeg: bytes) -> list[float]:
    """Render the 256-wide thumbnail the way the worker does, several times (seconds each)."""
    from app.files import imaging

    with tempfile.NamedTemporaryFile(suffix=".jpg") as handle:
        handle.write(jpeg)
        handle.flush()
        times = []
        for _ in range(7):
            started = time.perf_counter()
            imaging.render(handle.name, (256, 192), "jpg", "high")
            times.append(time.perf_counter() - started)
    return times


def thumbnail_end_to_end(stack: Stack, token: str, jpeg: bytes) -> tuple[float, float]:
    """Upload as an avatar, then time a cold ?width=1024 request and the standard thumbnails."""
    host, port = stack.url.split("//", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    body, content_type = multipart("file", jpeg, "photo.jpg")
    conn.request("POST", "/api/v1/users/profile/avatar", body,
                 {"Content-Type": content_type, "Authorization": f"Bearer {token}"})
    uploaded_at = time.perf_counter()
    avatar_url = json.loads(conn.getresponse().read())["avatar_url"]
    started = time.perf_counter()
    status = 202
    while status == 202 and time.perf_counter() - started < 60:
        conn.request("GET", avatar_url + "?width=1000&format=webp")
        response = conn.getresponse()
        response.read()
        status = response.status
    cold = time.perf_counter() - started
    while time.perf_counter() - uploaded_at < 60:  # the standard sizes, made by uploads.process
        conn.request("GET", avatar_url + "?size=256")
        response = conn.getresponse()
        response.read()
        if response.status == 200:
            break
    conn.close()
    return cold, time.perf_counter() - uploaded_at


def avatar_path(stack: Stack, token: str) -> str:
    """The owner's current avatar path."""
    host, port = stack.url.split("//", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("POST", "/api/v1/users/profile", headers={"Authorization": f"Bearer {token}"})
    path = json.loads(conn.getresponse().read())["user_data"]["avatar_url"]
    conn.close()
    return path


def main() -> None:
    print("files", flush=True)
    with bench_env() as env:
        token = seed_owner()
        images = [multipart("file", one_mib_png(seed), f"{seed}.png") for seed in range(400)]
        size_mib = statistics.mean(len(body) for body, _ in images) / MIB
        jpeg = photo_jpeg()
        with Stack(env, web_workers=2, threads=8, celery_worker=True) as stack:
            upload_load(stack.url, "/api/v1/cdn/upload", token, images[:16], 4, 1.5)  # warm-up (duplicates)
            fresh = upload_load(stack.url, "/api/v1/cdn/upload", token, images[16:], 8, 8)
            report(f"upload {size_mib:.2f} MiB PNG (new content), 8 connections", fresh["rps"], "req/s")
            report("  throughput", fresh["rps"] * size_mib, "MiB/s")
            report("  p50 / p99", f"{fresh['p50_ms']:.0f} / {fresh['p99_ms']:.0f}", "ms")
            report("  statuses", str(fresh["statuses"]))
            again = upload_load(stack.url, "/api/v1/cdn/upload", token, images[:16], 8, 5)
            report("upload of already-stored content (de-duplicated), 8 connections", again["rps"], "req/s")
            cold, standard = thumbnail_end_to_end(stack, token, jpeg)
            thumb = avatar_path(stack, token) + "?size=64"
            served = http_load(stack.url, lambda i, s: ("GET", thumb, None, {}), duration=5)
            report("GET a cached 64 px thumbnail, 32 connections", served["rps"], "req/s")
            report("  statuses", str(served["statuses"]))
            report("4000x3000 JPEG avatar: cold ?width=1000&format=webp via Celery", cold * 1000, "ms")
            report("4000x3000 JPEG avatar: upload response to 4 standard thumbnails", standard * 1000, "ms")
        times = thumbnail_in_process(jpeg)
        report(f"thumbnail a 4000x3000 JPEG ({len(jpeg) / 1e6:.1f} MB) to 256 px, in process: median",
               statistics.median(times) * 1000, "ms")


if __name__ == "__main__":
    main()
