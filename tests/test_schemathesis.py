"""Schemathesis fuzzes every operation of /openapi.json against the app in-process, as the owner
and as a plain user: no 5xx, every status and body as documented, and the body's status_code
always the HTTP status."""
import json
import tempfile

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

# Hypothesis keeps caches in .hypothesis/ of the working directory: keep the checkout clean.
set_hypothesis_home_dir(tempfile.mkdtemp(prefix="hypothesis-"))
EXAMPLES = 5  # per operation, mode and role: about 90 operations, a few minutes in all


@schemathesis.check
def status_code_matches_body(ctx, response, case):
    """A JSON body's status_code is the HTTP status."""
    if "json" not in (response.headers.get("Content-Type") or [""])[0]:
        return None
    body = json.loads(response.content)
    if isinstance(body, dict) and "status_code" in body and body["status_code"] != response.status_code:
        raise AssertionError(f"HTTP {response.status_code} but status_code {body['status_code']}")
    return None


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          status_code_matches_body]


def _operations(app) -> list:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    # WebSocket routes answer an upgrade, not a request/response exchange: their handshake is
    # tested by tests/test_ws.py.
    return [result.ok() for result in schema.get_all_operations() if not result.ok().path.startswith("/ws")]


def _fuzz(app, account: dict, modes=(GenerationMode.POSITIVE, GenerationMode.NEGATIVE)) -> list[str]:
    """Run EXAMPLES cases of each mode on every operation; the failures, one line each."""
    headers = {"Authorization": f"Bearer {account['token']}"}
    failures, calls = [], []
    for operation in _operations(app):
        for mode in modes:
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                calls.append(case.operation.label)
                case.call_and_validate(headers=headers, checks=CHECKS)
            try:
                run()
            except Unsatisfiable:  # no invalid request exists (an operation without parameters)
                continue
            except (Exception, FailureGroup) as exc:  # each failure names its operation; the run goes on
                failures.append(f"{operation.label} ({mode.value}): {str(exc)[:1500]}")
    # Every operation was really called, several times: a run that sent nothing proves nothing.
    assert {op.label for op in _operations(app)} <= set(calls) and len(calls) > 3 * len(set(calls))
    return failures


def test_every_operation_answers_as_documented_to_the_owner(app, owner):
    failures = _fuzz(app, owner)
    assert not failures, "\n\n".join(failures)


def test_every_operation_answers_as_documented_to_a_plain_user(app, api, owner):
    failures = _fuzz(app, api.signup("plain_user"))
    assert not failures, "\n\n".join(failures)
