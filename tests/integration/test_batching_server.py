"""Dynamic batching through the real server: TorchServe gathers concurrent requests into one batch, the handler
runs them as one engine pass, and every answer equals the answer the unbatched endpoint gives."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from skimage import data

import build_models
from convlens_client import Client
from local_server import running_server
from test_serving import CAT, jpeg

BATCH = 4


@pytest.fixture(scope="module")
def batched(tmp_path_factory):
    store = tmp_path_factory.mktemp("batched-store")
    # a long delay makes the batch fill deterministically: TorchServe waits for all four requests
    build_models.variant(store, "classify", "classify", batchSize=BATCH, maxBatchDelay=3000)
    with running_server(("classify",), tmp_path_factory.mktemp("batched"), model_store=store) as srv:
        yield srv


def client_for(srv, transport: str) -> Client:
    return Client(srv.host, transport=transport, http_port=srv.ports["http"], grpc_port=srv.ports["grpc"],
                  key_file=srv.key_file)


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_concurrent_requests_share_one_pass_and_get_their_own_answers(batched, server, transport):
    images = [CAT, jpeg(data.rocket()), jpeg(data.coffee()), jpeg(data.astronaut())]
    with client_for(server, transport) as plain:
        expected = [plain.classify(image, topk=3) for image in images]
    line = f"batch of {BATCH} requests: 0 invalid, 0 alone, {BATCH} in 1 engine pass(es)"
    seen = logs(batched).count(line)
    with client_for(batched, transport) as client, ThreadPoolExecutor(BATCH) as pool:
        got = list(pool.map(lambda image: client.classify(image, topk=3), images))
    for mine, alone in zip(got, expected):
        assert [p.index for p in mine] == [p.index for p in alone]
        assert [p.probability for p in mine] == pytest.approx([p.probability for p in alone], abs=1e-5)
    deadline = time.monotonic() + 10  # the worker's log lines reach the file through the frontend
    while logs(batched).count(line) == seen and time.monotonic() < deadline:
        time.sleep(0.2)
    assert logs(batched).count(line) == seen + 1


def logs(srv) -> str:
    log = srv.workdir / "logs" / "model_log.log"  # the workers' own lines (ts_log.log repeats them)
    return log.read_text(errors="replace") if log.exists() else ""
