"""A fake TorchServe management API (REST on one port, gRPC ManagementAPIsService on another) with
token auth and key rotation that behave as TorchServe 0.12.0's do (checked against the real server):

* list/describe answer TorchServe's JSON; gRPC ListModels with ``limit=0`` answers an empty page;
* a wrong management key is a 400 ``InvalidKeyException`` (REST) / ``PERMISSION_DENIED`` (gRPC);
* ``GET /token?type=inference|management`` with the API key rotates that key, writes the new one
  into ``key_file.json`` and answers an empty body; the old key stops working.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlparse

import grpc
import pytest

from convlens_client._proto import management_pb2, management_pb2_grpc

LAYERS = ["stem", "block1", "block2", "head"]
BACKBONES = {"efficientnet_lite0": {"num_classes": 1000, "registered": False},
             "plants": {"registered": True, "arch": "resnet50", "num_classes": 2, "labels": ["healthy", "rust"],
                        "layers": ["conv1", "layer1", "layer2", "layer3", "layer4"], "default_layer": "layer4"}}
INVALID_KEY = {
    "code": 400,
    "type": "InvalidKeyException",
    "message": "Token Authorization failed. Token either incorrect, expired, or not provided correctly",
}


def describe_entry(name: str, ready: int = 1, layers: list[str] | None = None) -> dict:
    """One entry of TorchServe's describe answer, as the real server words it."""
    entry = {
        "modelName": name,
        "modelVersion": "1.0",
        "modelUrl": f"{name}.mar",
        "runtime": "python",
        "minWorkers": 1,
        "maxWorkers": 1,
        "batchSize": 1,
        "maxBatchDelay": 5,
        "workers": [{"id": "9000", "status": "READY", "pid": 1}] * ready
        + [{"id": "9001", "status": "UNLOADING", "pid": 2}] * (1 - ready),
        "jobQueueStatus": {"remainingCapacity": 100, "pendingRequests": 3},
    }
    if layers is not None:
        entry["customizedMetadata"] = {"endpoint": name, "backbone": "efficientnet_lite0", "layers": layers,
                                       "backbones": BACKBONES}
    return entry


@dataclass
class ManagementState:
    """The fake server's models and keys; ``key_file`` is rewritten on every rotation."""

    key_file: Path
    keys: dict[str, str] = field(default_factory=lambda: {"inference": "inf-1", "management": "man-1", "API": "api-1"})
    models: dict[str, dict] = field(default_factory=dict)
    rotations: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def write_key_file(self) -> None:
        data = {kind: {"key": key} for kind, key in self.keys.items()}
        self.key_file.write_text(json.dumps(data, indent=2))

    def rotate(self, kind: str) -> None:
        with self.lock:
            self.rotations.append(kind)
            self.keys[kind] = f"{kind}-rotated-{len(self.rotations)}"
            self.write_key_file()

    def authorized(self, header: str | None, kind: str) -> bool:
        return header == f"Bearer {self.keys[kind]}"

    def page(self, limit: int, offset: int) -> dict:
        names = sorted(self.models)
        chunk = names[offset : offset + limit]
        answer: dict = {"models": [{"modelName": n, "modelUrl": f"{n}.mar"} for n in chunk]}
        if offset + limit < len(names):
            answer["nextPageToken"] = str(offset + limit)
        elif limit == 0:
            answer["nextPageToken"] = "0"  # what TorchServe answers to the proto default
        return answer

    def describe(self, name: str, customized: bool) -> list | None:
        entry = self.models.get(name)
        if entry is None:
            return None
        entry = dict(entry)
        if not customized:
            entry.pop("customizedMetadata", None)
        return [entry]


def make_http_management(holder: ManagementServers) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: object) -> None:
            data = body if isinstance(body, bytes) else json.dumps(body, indent=2).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            state = holder.state
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            auth = self.headers.get("Authorization")
            state.calls.append(f"http {url.path}")
            if url.path == "/token":
                if not state.authorized(auth, "API"):
                    self._send(400, INVALID_KEY)
                    return
                state.rotate(query["type"])
                self._send(200, b"\n")
                return
            if not state.authorized(auth, "management"):
                self._send(400, INVALID_KEY)
                return
            if url.path == "/models":
                self._send(200, state.page(int(query.get("limit", 100)), int(query.get("next_page_token", 0))))
                return
            name = url.path.split("/")[2]
            answer = state.describe(name, query.get("customized") == "true")
            if answer is None:
                self._send(404, {"code": 404, "type": "ModelNotFoundException", "message": f"Model not found: {name}"})
            else:
                self._send(200, answer)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server


class FakeManagement(management_pb2_grpc.ManagementAPIsServiceServicer):
    def __init__(self, holder: ManagementServers) -> None:
        self.holder = holder

    @property
    def state(self) -> ManagementState:
        return self.holder.state

    def _check(self, context: grpc.ServicerContext, what: str) -> None:
        self.state.calls.append(f"grpc {what}")
        auth = dict(context.invocation_metadata()).get("authorization")
        if not self.state.authorized(auth, "management"):
            context.abort(grpc.StatusCode.PERMISSION_DENIED, INVALID_KEY["message"])

    def ListModels(self, request, context):
        self._check(context, "ListModels")
        page = self.state.page(request.limit, request.next_page_token)
        return management_pb2.ManagementResponse(msg=json.dumps(page))

    def DescribeModel(self, request, context):
        self._check(context, "DescribeModel")
        answer = self.state.describe(request.model_name, request.customized)
        if answer is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Model not found: {request.model_name}\nModelNotFoundException")
        return management_pb2.ManagementResponse(msg=json.dumps(answer, indent=2))


@dataclass
class ManagementServers:
    """Both fake servers; they serve whatever ``state`` is (tests swap it)."""

    state: ManagementState
    http_port: int = 0
    grpc_port: int = 0
    stop: Callable[[], None] = lambda: None


def start_management(state: ManagementState) -> ManagementServers:
    holder = ManagementServers(state)
    http_server = make_http_management(holder)
    threading.Thread(target=http_server.serve_forever, daemon=True).start()
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    management_pb2_grpc.add_ManagementAPIsServiceServicer_to_server(FakeManagement(holder), grpc_server)
    holder.grpc_port = grpc_server.add_insecure_port("127.0.0.1:0")
    holder.http_port = http_server.server_address[1]
    grpc_server.start()

    def stop() -> None:
        grpc_server.stop(None)
        http_server.shutdown()
        http_server.server_close()

    holder.stop = stop
    return holder


# -- fixtures (import them into a test module to use them) --------------------------------------


@pytest.fixture(scope="module")
def mgmt_servers(tmp_path_factory) -> Iterator[ManagementServers]:
    servers = start_management(ManagementState(tmp_path_factory.mktemp("mgmt") / "key_file.json"))
    try:
        yield servers
    finally:
        servers.stop()


@pytest.fixture
def mgmt(mgmt_servers: ManagementServers, tmp_path) -> ManagementServers:
    """The servers with fresh state: two models, keys written to a fresh key file."""
    state = ManagementState(tmp_path / "key_file.json")
    state.write_key_file()
    state.models = {
        "saliency": describe_entry("saliency", layers=LAYERS),
        "classify": describe_entry("classify", ready=0, layers=LAYERS),
    }
    mgmt_servers.state = state
    return mgmt_servers
