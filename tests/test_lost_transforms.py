"""A transform whose worker is killed is queued again within seconds, not after minutes."""
import io
import os
import re
import signal
import time

import pytest
from PIL import Image

from scripts.stack import CeleryWorker
from tests.api_helpers import declare_queues
from tests.filedata import upload


@pytest.fixture(autouse=True)
def queues(app):
    declare_queues(app)  # each test starts with a flushed Redis


def slow_png() -> bytes:
    """A 120 KB PNG of 6000x6000: decoding, resizing and a lossless WebP take seconds."""
    out = io.BytesIO()
    Image.linear_gradient("L").resize((6000, 6000)).convert("RGB").save(out, "PNG")
    return out.getvalue()


def test_a_transform_whose_worker_was_killed_is_queued_again_promptly(api, app, owner, services):
    response = api.call("POST", "/api/v1/cdn/upload", token=owner["token"],
                        data={"file": upload(slow_png(), "big.png")}, content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    url, query = response.get_json()["url"], {"width": 4096, "format": "webp", "quality": "lossless"}
    app.config["CDN_TRANSFORM_WAIT_SECONDS"] = 0  # queue it and answer at once, however fast the worker
    try:
        with CeleryWorker(services["env"]) as first:
            assert api.call("GET", url, query=query).status_code == 202
            first.proc.wait_until(lambda: b"Task cdn.transform[" in first.proc.log_text(), 30, "the transform to start")
            # Decoding, resizing and encoding take about a second even on a quiet machine.
            assert not re.search(rb"cdn\.transform\[[^]]+\] succeeded", first.proc.log_text()), "finished already"
            os.killpg(first.proc.pid, signal.SIGKILL)
            first.proc.process.wait()
        killed_at = time.monotonic()
        app.config["CDN_TRANSFORM_WAIT_SECONDS"] = 1
        with CeleryWorker(services["env"]):
            deadline = killed_at + 60
            while time.monotonic() < deadline:
                served = api.call("GET", url, query=query)
                if served.status_code != 202:
                    break
                assert served.headers["Retry-After"] == "1"
            took = time.monotonic() - killed_at
            assert served.status_code == 200, (served.status_code, served.get_json(silent=True), took)
            assert Image.open(io.BytesIO(served.data)).size == (4096, 4096)
    finally:
        app.config["CDN_TRANSFORM_WAIT_SECONDS"] = 5
