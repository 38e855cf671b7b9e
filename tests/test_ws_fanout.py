"""Fan-out across processes: gunicorn with 2 workers, a real Celery worker and Redis, both fan-out modes."""
import pytest

from tests.api_helpers import make_channel
from scripts.stack import Stack
from tests.ws_support import STACK_ENV, connect, http, next_frame, socket_processes


@pytest.fixture(scope="module", params=["direct", "celery"])
def stack(request, app, services):
    env = {**STACK_ENV, "REALTIME_FANOUT": request.param}
    with Stack(services["env"], web_workers=2, threads=32, celery_worker=True, extra_env=env) as running:
        yield running


def test_twenty_sockets_on_both_workers_receive_every_message(stack, app, api, owner):
    channel_id = make_channel(api, owner["token"], "general")
    accounts = [api.signup(f"reader{n}") for n in range(10)]
    sockets = [connect(stack, f"/ws/channels/{channel_id}" if n % 2 else "/ws", accounts[n % 10]["token"])
               for n in range(20)]
    for ws in sockets:  # a pong proves the socket is registered and counted
        ws.send('{"type": "ping"}')
        next_frame(ws, "pong")
    processes = socket_processes(app, [a["id"] for a in accounts])
    assert len(processes) == 2, processes  # both gunicorn workers hold some of the 20 sockets
    # Each send is a fresh connection, so either worker may take it.
    sent = []
    for n in range(6):
        sender = accounts[n]
        response = http(stack, "POST", f"/api/v1/channels/{channel_id}/send_message", sender["token"],
                        json={"message": f"hello {n}"})
        assert response.status_code == 201, response.text
        sent.append(response.json()["message_id"])
    for ws in sockets:
        received = [next_frame(ws, "message", timeout=10)["message_id"] for _ in sent]
        if stack.env["REALTIME_FANOUT"] == "direct":
            assert received == sent  # all of them, in order
        else:  # two task threads may publish neighbours out of order; clients sort by message_id
            assert sorted(received) == sent
        ws.close()
