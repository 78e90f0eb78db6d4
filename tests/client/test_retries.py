"""Retries happen only when they should: counted attempts against the fake servers, recorded sleeps.

Every call of the client runs through one retry loop below the endpoint methods, so the request
primitives the endpoint mixins use (``_request``, ``_raw``) are covered as well.
"""

from __future__ import annotations

import socket
import time
from typing import Callable

import grpc
import pytest

from client_fakes import Reply, Servers, classification, json_error, proto_error, proto_reply
from convlens_client import Busy, ConvLensError, InvalidRequest, NotFound, ServerError, TooLarge, Unauthorized
from convlens_client.transport.retry import RetryPolicy, call_with_retries, is_retryable

NO_WORKER_TEXT = ('Model "classify" has no worker to serve inference request. '
                  'Please use scale workers API to add workers.')
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
OK = proto_reply(classification((285, "Egyptian cat", 0.75, 9.5)))


class Recorder:
    """An injectable sleep that records instead of waiting, and a fixed 'random'."""

    def __init__(self, jitter: float = 1.0) -> None:
        self.sleeps: list[float] = []
        self.jitter = jitter

    def policy(self, retries: int = 3, backoff: float = 0.1, max_backoff: float = 10.0) -> RetryPolicy:
        return RetryPolicy(retries, backoff, max_backoff, sleep=self.sleeps.append, random=lambda: self.jitter)


def failing(times: int, failure: Reply) -> Callable:
    """A reply function: ``failure`` for the first ``times`` requests, then a classification."""
    count = {"n": 0}

    def reply(request) -> Reply:
        count["n"] += 1
        return failure if count["n"] <= times else OK

    return reply


def _json(status: int, type_: str, message: str) -> Reply:
    return Reply(json_error(status, type_, message, with_field=False), status, "application/json")


# (id, failure over HTTP, failure over gRPC): each is retried.
RETRYABLE = [
    ("503-queue-full", _json(503, "ServiceUnavailableException", NO_WORKER_TEXT),
     Reply(grpc_code=grpc.StatusCode.INTERNAL, grpc_details=NO_WORKER_TEXT + "\nInternalServerException.()")),
    ("507-out-of-memory", Reply(proto_error(507, "OutOfMemory", "CUDA out of memory"), 507),
     Reply(proto_error(507, "OutOfMemory", "CUDA out of memory"))),
    ("unavailable", _json(503, "ServiceUnavailableException", "restarting"),
     Reply(grpc_code=grpc.StatusCode.UNAVAILABLE, grpc_details="restarting")),
    ("resource-exhausted", _json(503, "ServiceUnavailableException", "no capacity"),
     Reply(grpc_code=grpc.StatusCode.RESOURCE_EXHAUSTED, grpc_details="worker pool exhausted")),
]

# (id, failure over HTTP, failure over gRPC, exception): never retried.
NOT_RETRYABLE = [
    ("400-invalid", Reply(json_error(400, "InvalidParameter", "bad topk", "topk"), 400),
     Reply(proto_error(400, "InvalidParameter", "bad topk", "topk")), InvalidRequest),
    ("401-token", _json(400, "InvalidKeyException", "Token Authorization failed"),
     Reply(grpc_code=grpc.StatusCode.PERMISSION_DENIED, grpc_details="Token Authorization failed"), Unauthorized),
    ("404-model", _json(404, "ModelNotFoundException", "Model not found: classify"),
     Reply(grpc_code=grpc.StatusCode.NOT_FOUND, grpc_details="Model not found: classify"), NotFound),
    ("413-too-large", Reply(json_error(413, "TooLarge", "90 megapixels", "image"), 413),
     Reply(grpc_code=grpc.StatusCode.RESOURCE_EXHAUSTED,
           grpc_details="gRPC message exceeds maximum size 50331648: 60000000"), TooLarge),
    ("500-internal", _json(500, "InternalServerException", "Worker died."),
     Reply(grpc_code=grpc.StatusCode.INTERNAL, grpc_details="Worker died.\nInternalServerException"), ServerError),
]


@pytest.mark.parametrize("case", RETRYABLE, ids=[c[0] for c in RETRYABLE])
def test_retryable_failures_are_retried_until_success(servers: Servers, backend, transport, case) -> None:
    rec = Recorder()
    backend.reply = failing(2, case[1] if transport == "http" else case[2])
    with servers.client(transport, retry_policy=rec.policy(retries=3, backoff=0.1)) as c:
        assert c.classify(PNG)[0].index == 285
    assert len(backend.requests) == 3  # two failures, then the success
    assert rec.sleeps == pytest.approx([0.1, 0.2])  # backoff * 2**n with jitter factor 1.0


@pytest.mark.parametrize("case", RETRYABLE, ids=[c[0] for c in RETRYABLE])
def test_retries_give_up_after_the_budget(servers: Servers, backend, transport, case) -> None:
    rec = Recorder()
    backend.reply = failing(100, case[1] if transport == "http" else case[2])
    with servers.client(transport, retry_policy=rec.policy(retries=2)) as c, pytest.raises(ConvLensError) as info:
        c.classify(PNG)
    assert is_retryable(info.value)
    assert len(backend.requests) == 3 and len(rec.sleeps) == 2


@pytest.mark.parametrize("case", NOT_RETRYABLE, ids=[c[0] for c in NOT_RETRYABLE])
def test_client_errors_and_deterministic_failures_are_not_retried(servers, backend, transport, case) -> None:
    rec = Recorder()
    backend.reply = failing(100, case[1] if transport == "http" else case[2])
    # an explicit token: nothing to refresh, so the Unauthorized case is a single attempt too
    with servers.client(transport, retry_policy=rec.policy(retries=5)) as c, pytest.raises(case[3]):
        c.classify(PNG)
    assert len(backend.requests) == 1 and rec.sleeps == []


def test_endpoint_primitives_get_the_same_retries(servers: Servers, backend, transport) -> None:
    """What every endpoint mixin calls: _request (format=proto) and _raw (the server's bytes)."""
    rec = Recorder()
    backend.reply = failing(1, Reply(proto_error(507, "OutOfMemory", "oom"), 507))
    with servers.client(transport, retry_policy=rec.policy()) as c:
        msg = c._request("occlusion", {"image": PNG}, {"patch": 16}, "classification")
        assert msg.classification.predictions[0].index == 285
        # pictures: the handler's error is JSON (format=proto errors are a Response, as above)
        backend.reply = failing(1, Reply(json_error(507, "OutOfMemory", "oom"), 507, "application/json"))
        assert c._raw("occlusion", {"image": PNG}, {"format": "png"}) == OK.body
    assert [r.model for r in backend.requests] == ["occlusion"] * 4 and len(rec.sleeps) == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_failures_are_retried(transport) -> None:
    from convlens_client import Client

    rec = Recorder(jitter=0.5)
    port = _free_port()  # nothing listens here
    with Client(transport=transport, http_port=port, grpc_port=port, token="t", timeout=5,
                retry_policy=rec.policy(retries=3, backoff=0.2)) as c, pytest.raises(Busy):
        c.health()
    assert rec.sleeps == pytest.approx([0.1, 0.2, 0.4])  # jitter 0.5 x 0.2 * 2**n


def test_per_call_timeout_overrides_the_clients(servers: Servers, backend, transport) -> None:
    def slow(request) -> Reply:
        time.sleep(0.8)
        return OK

    backend.reply = slow
    rec = Recorder()
    with servers.client(transport, retry_policy=rec.policy()) as c:  # client timeout: 10 s
        started = time.monotonic()
        with pytest.raises(ServerError) as info:
            c.classify(PNG, timeout=0.2)
        assert time.monotonic() - started < 0.6
    assert info.value.code == 504 and rec.sleeps == []  # a timeout is not retried
    assert backend.requests[0].fields.get("timeout") is None  # not sent as a request field
    time.sleep(0.7)  # let the slow fake finish before the next test reuses the servers


def test_backoff_is_exponential_capped_and_jittered() -> None:
    fixed = RetryPolicy(retries=10, backoff=0.5, max_backoff=3.0, random=lambda: 1.0)
    assert [fixed.delay(n) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    real = RetryPolicy(retries=10, backoff=0.5, max_backoff=3.0)
    draws = [real.delay(3) for _ in range(200)]
    assert all(0.0 <= d <= 3.0 for d in draws)
    assert len(set(draws)) > 150  # jittered: clients do not retry in step
    assert 1.0 < sum(draws) / len(draws) < 2.0  # full jitter: uniform on [0, 3], mean 1.5


def test_policy_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(retries=-1)
    with pytest.raises(ValueError):
        RetryPolicy(backoff=-0.1)


def test_refresh_is_tried_once_not_in_a_loop() -> None:
    calls = {"attempts": 0, "refreshes": 0}

    class Token:
        def __call__(self) -> str:
            return "t"

        def refresh(self, used) -> bool:
            calls["refreshes"] += 1
            return True  # claims a new token every time

    def attempt():
        calls["attempts"] += 1
        raise Unauthorized("expired", 400, "InvalidKeyException")

    with pytest.raises(Unauthorized):
        call_with_retries(attempt, RetryPolicy(retries=5, sleep=lambda s: None), Token())
    assert calls == {"attempts": 2, "refreshes": 1}
