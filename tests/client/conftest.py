"""Fixtures of the client tests: the fake servers (started once per session on free ports), a
clean backend per test, a client per transport, and no token leaking in from the environment."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from client_fakes import SERVER_MAX_BYTES, FakeBackend, FakeInference, Reply, Servers, make_http_server
from convlens_client import Client
from convlens_client._proto import inference_pb2_grpc
from management_fakes import mgmt, mgmt_servers  # noqa: F401 (fixtures shared by the management and CLI tests)


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    backend = FakeBackend()
    http_server = make_http_server(backend)
    thread = threading.Thread(target=http_server.serve_forever, daemon=True)
    thread.start()
    grpc_server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        options=[
            ("grpc.max_receive_message_length", SERVER_MAX_BYTES),
            ("grpc.max_send_message_length", SERVER_MAX_BYTES),
        ],
    )
    inference_pb2_grpc.add_InferenceAPIsServiceServicer_to_server(FakeInference(backend), grpc_server)
    grpc_port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    try:
        yield Servers(backend, http_server.server_address[1], grpc_port)
    finally:
        grpc_server.stop(None)
        http_server.shutdown()
        http_server.server_close()


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """No token from the developer's environment or a key_file.json in the working directory."""
    monkeypatch.delenv("CONVLENS_TOKEN", raising=False)
    monkeypatch.delenv("CONVLENS_KEY_FILE", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def backend(servers: Servers) -> FakeBackend:
    servers.backend.reply = Reply()
    servers.backend.health = "Healthy"
    servers.backend.requests.clear()
    return servers.backend


@pytest.fixture(params=["http", "grpc"])
def transport(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def client(servers: Servers, backend: FakeBackend, transport: str) -> Iterator[Client]:
    with servers.client(transport) as c:
        yield c
