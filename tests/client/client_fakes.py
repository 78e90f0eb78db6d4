"""Fake TorchServe front ends for the client tests: an HTTP server and a gRPC InferenceAPIsService.

Both serve the same :class:`FakeBackend`: a test sets ``backend.reply`` (a :class:`Reply`, or a
function of the request returning one) and reads ``backend.requests`` to see what arrived.
Also canned ``convlens.v1`` answers and error bodies.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qsl

import grpc

from convlens_client import Client
from convlens_client._proto import convlens_pb2 as pb
from convlens_client._proto import inference_pb2, inference_pb2_grpc

TOKEN = "s3cr3tTk"
SERVER_MAX_BYTES = 128 * 1024 * 1024


@dataclass
class Recorded:
    """One request as the fake server saw it."""

    transport: str  # "http" or "grpc"
    path: str  # HTTP path, or the gRPC method
    model: str
    fields: dict[str, bytes]
    files: dict[str, str | None]  # HTTP file parts: field -> filename (empty over gRPC)
    authorization: str | None


@dataclass
class Reply:
    """What the fake servers answer: a body with an HTTP status, or a gRPC abort."""

    body: bytes = b""
    http_status: int = 200
    content_type: str = "application/octet-stream"
    grpc_code: grpc.StatusCode | None = None  # abort the RPC with this status instead
    grpc_details: str = ""


ReplyFn = Callable[[Recorded], Reply]


@dataclass
class FakeBackend:
    reply: Reply | ReplyFn = field(default_factory=Reply)
    health: str = "Healthy"
    requests: list[Recorded] = field(default_factory=list)

    def answer(self, request: Recorded) -> Reply:
        self.requests.append(request)
        return self.reply(request) if callable(self.reply) else self.reply

    @property
    def last(self) -> Recorded:
        assert self.requests, "the fake server received no request"
        return self.requests[-1]


def parse_form(content_type: str, body: bytes) -> tuple[dict[str, bytes], dict[str, str | None]]:
    """Fields and file names of a multipart/form-data or urlencoded body."""
    if content_type.startswith("application/x-www-form-urlencoded"):
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        return {k: v.encode("utf-8") for k, v in pairs}, {}
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, bytes] = {}
    files: dict[str, str | None] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        fields[name] = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            files[name] = part.get_filename()
    return fields, files


def make_http_server(backend: FakeBackend) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path != "/ping":
                self._send(
                    404,
                    b'{"code": 404, "type": "ResourceNotFoundException", "message": "x"}',
                    "application/json",
                )
                return
            backend.requests.append(
                Recorded("http", self.path, "", {}, {}, self.headers.get("Authorization"))
            )
            status = 200 if backend.health == "Healthy" else 500
            self._send(status, json.dumps({"status": backend.health}).encode(), "application/json")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            fields, files = parse_form(self.headers.get("Content-Type", ""), body)
            model = self.path.rsplit("/", 1)[-1]
            request = Recorded("http", self.path, model, fields, files, self.headers.get("Authorization"))
            reply = backend.answer(request)
            self._send(reply.http_status, reply.body, reply.content_type)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server


class FakeInference(inference_pb2_grpc.InferenceAPIsServiceServicer):
    """TorchServe's gRPC behaviour: per-request errors come back with status OK in the body."""

    def __init__(self, backend: FakeBackend) -> None:
        self.backend = backend

    @staticmethod
    def _auth(context: grpc.ServicerContext) -> str | None:
        return dict(context.invocation_metadata()).get("authorization")

    def Predictions(self, request, context):  # gRPC method names are CamelCase
        recorded = Recorded(
            "grpc", "Predictions", request.model_name, dict(request.input), {}, self._auth(context)
        )
        reply = self.backend.answer(recorded)
        if reply.grpc_code is not None:
            context.abort(reply.grpc_code, reply.grpc_details)
        return inference_pb2.PredictionResponse(prediction=reply.body)

    def Ping(self, request, context):
        self.backend.requests.append(Recorded("grpc", "Ping", "", {}, {}, self._auth(context)))
        code = 200 if self.backend.health == "Healthy" else 500
        text = json.dumps({"status": self.backend.health, "code": code}, indent=2)
        return inference_pb2.TorchServeHealthResponse(health=text)


@dataclass
class Servers:
    backend: FakeBackend
    http_port: int
    grpc_port: int

    def client(self, transport: str, **kwargs) -> Client:
        kwargs.setdefault("token", TOKEN)
        kwargs.setdefault("retries", 0)  # retry behaviour has its own tests (test_retries.py)
        return Client(
            host="127.0.0.1",
            transport=transport,
            http_port=self.http_port,
            grpc_port=self.grpc_port,
            timeout=10.0,
            **kwargs,
        )


# -- canned answers --------------------------------------------------------------------------


def proto_reply(msg: pb.Response) -> Reply:
    return Reply(msg.SerializeToString(), 200, "application/x-protobuf")


def classification(
    *preds: tuple[int, str, float, float], backbone: str = "efficientnet_lite0"
) -> pb.Response:
    return pb.Response(
        classification=pb.Classification(
            predictions=[
                pb.Prediction(index=i, label=name, probability=p, score=s) for i, name, p, s in preds
            ],
            backbone=backbone,
        )
    )


def heatmap(width: int = 3, height: int = 2, layer: str = "") -> pb.Response:
    values = [float(v) / 8 for v in range(width * height)]
    return pb.Response(
        heatmap=pb.Heatmap(
            width=width,
            height=height,
            values=values,
            min=min(values),
            max=max(values),
            method="gradient",
            backbone="efficientnet_lite0",
            target=pb.Prediction(index=281, label="tabby", probability=0.25, score=3.5),
            predicted=pb.Prediction(index=285, label="Egyptian cat", probability=0.5, score=4.0),
            layer=layer,
        )
    )


def json_error(
    code: int, type_: str, message: str, field: str | None = None, with_field: bool = True
) -> bytes:
    body = {"code": code, "type": type_, "message": message}
    if with_field:
        body["field"] = field
    return json.dumps(body).encode()


def proto_error(code: int, type_: str, message: str, field: str = "") -> bytes:
    return pb.Response(
        error=pb.Error(code=code, type=type_, message=message, field=field)
    ).SerializeToString()
