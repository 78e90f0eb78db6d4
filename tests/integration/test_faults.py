"""Overload, worker faults, broken weights and token expiry, on a private TorchServe built for them.

The private server (started once for this module, under the same lock as the others) serves variants archived in
a temporary model store: `classify` with a job queue of 2, a test-only `slow` endpoint (classify after a sleep)
with a queue of 2, and `broken`, whose weights file is corrupt and must fail only its own load. Its tokens live
0.2 minutes (TorchServe reads token_expiration_min as a double), so expiry is observed in seconds.
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
import requests

import build_models
from convlens_client import Client
from convlens_client._proto import inference_pb2, inference_pb2_grpc, management_pb2, management_pb2_grpc
from convlens_client.errors import Busy
from hostile_inputs import CAT_CLASSES, CAT_JPEG
from local_server import running_server

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
QUEUE = 2
TOKEN_TTL_MIN = 0.2


@pytest.fixture(scope="module")
def tight(tmp_path_factory):
    store = tmp_path_factory.mktemp("store")
    one = {"minWorkers": 1, "maxWorkers": 1, "batchSize": 1}  # load shedding is about one worker's queue
    build_models.variant(store, "classify", "classify", jobQueueSize=QUEUE, **one)
    build_models.variant(store, "slow", "classify", handler=HERE / "fixtures" / "slow.py", jobQueueSize=QUEUE, **one)
    corrupt = tmp_path_factory.mktemp("weights") / "corrupt.pth"
    corrupt.write_bytes(b"PK\x03\x04" + os.urandom(4096))  # looks like a zip at first glance, is not
    build_models.variant(store, "broken", "classify", extra_files=[corrupt], convlens={"weights": "corrupt.pth"},
                         **one)
    with running_server(("classify", "slow"), tmp_path_factory.mktemp("tight"), model_store=store,
                        also_load=("broken",), token_ttl_min=TOKEN_TTL_MIN) as server:
        yield server


def token(server, kind: str = "inference") -> str:
    """A fresh token (they live 12 s on this server), renewed with the API key."""
    server.renew_token(kind)
    return server.key(kind)


def post(server, model: str, key: str, data: dict | None = None, timeout: float = 60) -> requests.Response:
    return requests.post(server.url(f"/predictions/{model}"), files={"image": CAT_JPEG}, data=data or {},
                         headers={"Authorization": f"Bearer {key}"}, timeout=timeout)


def model_log(server) -> str:
    logs = server.workdir / "logs"
    return "".join(p.read_text(errors="replace") for p in sorted(logs.glob("*.log"))) if logs.is_dir() else ""


# --- corrupt weights --------------------------------------------------------------------------------------------

def test_corrupt_weights_fail_only_their_model(tight):
    deadline = time.monotonic() + 90
    expected = "ConvLens classify cannot load its model: weights file for efficientnet_lite0 is corrupt or not " \
               "a torch state dict: corrupt.pth"
    while expected not in model_log(tight) and time.monotonic() < deadline:
        time.sleep(1)
    lines = [line for line in model_log(tight).splitlines() if expected in line]
    assert lines, "no clear log line for the corrupt weights"
    assert "broken" in lines[0]  # TorchServe tags worker log lines with the model's worker thread
    assert not tight.worker_pids("broken")  # never READY
    key = token(tight)
    refused = post(tight, "broken", key)  # TorchServe answers for the model that has no worker: a 5xx, at once
    print(f"\nrequest to the broken model: HTTP {refused.status_code} {refused.text[:160]!r}")
    assert 500 <= refused.status_code < 600
    # the others keep serving; a fresh token, since tokens live 12 s here and the refusal above can take that long
    response = post(tight, "classify", token(tight), {"topk": "1"})
    assert response.status_code == 200 and response.json()["predictions"][0]["index"] in CAT_CLASSES
    # stop TorchServe's retry loop for the broken model (it would keep re-importing torch on our 2 cores)
    scaled = requests.put(tight.url("/models/broken?min_worker=0&max_worker=0", "management"), timeout=30,
                          headers={"Authorization": f"Bearer {token(tight, 'management')}"})
    assert scaled.status_code in (200, 202), scaled.text


# --- overload: shed load with 503 -------------------------------------------------------------------------------

def flood(n: int, call) -> list:
    """Call `call()` from n threads released at once; each result or exception, in order."""
    barrier, results = threading.Barrier(n), [None] * n

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results[i] = call()
        except Exception as exc:  # noqa: BLE001 - the test inspects every outcome
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_a_flood_over_http_is_shed_with_503_and_the_rest_succeed(tight):
    key = token(tight)
    statuses = flood(24, lambda: post(tight, "classify", key, {"topk": "1"}))
    codes = [r.status_code for r in statuses]
    shed = [r for r in statuses if r.status_code == 503]
    print(f"\nclassify flood over HTTP, 24 at once, 1 worker + queue {QUEUE}: "
          f"{codes.count(200)} served, {len(shed)} shed with 503")
    assert set(codes) <= {200, 503} and codes.count(200) >= 1 + QUEUE and shed
    assert shed[0].json()["type"] == "ServiceUnavailableException"
    assert "has no worker to serve inference request" in shed[0].json()["message"]
    assert post(tight, "classify", token(tight), {"topk": "1"}).status_code == 200  # healthy afterwards


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_the_client_sees_busy_when_the_queue_is_full(tight, transport):
    """`slow` holds each request 0.5 s: of 12 at once, 1 runs, QUEUE wait, the rest are refused at once."""
    key = token(tight)
    with Client(tight.host, token=key, transport=transport, http_port=tight.ports["http"],
                grpc_port=tight.ports["grpc"], timeout=60) as client:
        results = flood(12, lambda: client._raw("slow", {"image": CAT_JPEG}, {"sleep": "0.5", "topk": "1"}))
    busy = [r for r in results if isinstance(r, Busy)]
    served = [r for r in results if isinstance(r, bytes)]
    print(f"\nslow flood over {transport}: {len(served)} served, {len(busy)} Busy")
    assert len(busy) + len(served) == 12, [r for r in results if not isinstance(r, (bytes, Busy))]
    assert len(served) >= 1 + QUEUE and len(busy) >= 12 - 3 * (1 + QUEUE)
    assert all(json.loads(body)["predictions"][0]["index"] in CAT_CLASSES for body in served)
    assert busy[0].code == 503


# --- a worker killed mid-request --------------------------------------------------------------------------------

def test_a_worker_killed_mid_request_fails_it_cleanly_and_is_replaced(tight, tmp_path):
    [pid] = tight.worker_pids("slow")
    key = token(tight)
    outcome: dict = {}
    marker = tmp_path / "started"

    def in_flight() -> None:
        started = time.monotonic()
        outcome["response"] = post(tight, "slow", key, {"sleep": "20", "started": str(marker)}, timeout=90)
        outcome["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=in_flight)
    thread.start()
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:  # wait until the request is inside the worker
        time.sleep(0.05)
    assert marker.read_text() == str(pid)
    os.kill(pid, signal.SIGKILL)
    thread.join(90)
    response = outcome["response"]
    print(f"\nin-flight request after SIGKILL: HTTP {response.status_code} after {outcome['seconds']:.1f}s: "
          f"{response.text[:200]}")
    assert 500 <= response.status_code < 600 and outcome["seconds"] < 19  # failed at once, not after its sleep
    assert response.json()["code"] == response.status_code
    # A small retry loop (the SDK's own retries are another change): the next requests succeed on a new worker.
    deadline, attempts, answer = time.monotonic() + 120, 0, None
    while time.monotonic() < deadline:
        attempts += 1
        answer = post(tight, "slow", token(tight), {"topk": "1"})
        if answer.status_code == 200:
            break
        assert answer.status_code in (500, 503), answer.text
        time.sleep(1.0)
    assert answer is not None and answer.status_code == 200, answer.text
    print(f"served again after {attempts} attempt(s)")
    new = tight.worker_pids("slow")
    assert new and pid not in new and not psutil_alive(pid)
    for _ in range(3):
        assert post(tight, "slow", token(tight), {"topk": "1"}).status_code == 200


def psutil_alive(pid: int) -> bool:
    import psutil

    return psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE


# --- token expiry -----------------------------------------------------------------------------------------------

def expiry(server, kind: str) -> datetime:
    stamp = json.loads(server.key_file.read_text())[kind]["expiration time"]
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_expired_tokens_are_refused_on_every_api_and_the_api_key_renews_them(tight):
    inference, management = token(tight), token(tight, "management")
    assert post(tight, "classify", inference, {"topk": "1"}).status_code == 200
    ttl = (expiry(tight, "inference") - datetime.now(UTC)).total_seconds()
    assert 0 < ttl <= TOKEN_TTL_MIN * 60 + 1  # the lifetime we configured, not TorchServe's hour
    time.sleep(max(expiry(tight, "inference"), expiry(tight, "management")).timestamp() - time.time() + 1.0)

    http = post(tight, "classify", inference)
    assert http.status_code == 400 and http.json()["type"] == "InvalidKeyException"
    described = requests.get(tight.url("/models/classify", "management"), timeout=30,
                             headers={"Authorization": f"Bearer {management}"})
    assert described.status_code == 400 and described.json()["type"] == "InvalidKeyException"
    channel = grpc.insecure_channel(f"{tight.host}:{tight.ports['grpc']}")
    management_channel = grpc.insecure_channel(f"{tight.host}:{tight.ports['grpc_management']}")
    try:
        with pytest.raises(grpc.RpcError) as err:
            inference_pb2_grpc.InferenceAPIsServiceStub(channel).Predictions(
                inference_pb2.PredictionsRequest(model_name="classify", input={"image": CAT_JPEG}),
                metadata=[("authorization", f"Bearer {inference}")], timeout=30)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.RpcError) as err:
            management_pb2_grpc.ManagementAPIsServiceStub(management_channel).DescribeModel(
                management_pb2.DescribeModelRequest(model_name="classify"),
                metadata=[("authorization", f"Bearer {management}")], timeout=30)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        channel.close()
        management_channel.close()
    # the API key does not expire: it renews the inference token, and a client reading the key file follows
    renewed = token(tight)
    assert renewed != inference and post(tight, "classify", renewed, {"topk": "1"}).status_code == 200
    with Client(tight.host, key_file=tight.key_file, transport="grpc", grpc_port=tight.ports["grpc"]) as client:
        assert client.classify(CAT_JPEG, topk=1)[0].index in CAT_CLASSES
