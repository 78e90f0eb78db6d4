"""Security of the running server: tokens on every API and transport, no tokens in logs, owner-only key file,
loopback listeners, registration off, allowed_urls local only, and nothing from a request is unpickled."""
from __future__ import annotations

import io
import ipaddress
import json
import re
import stat
from datetime import UTC, datetime

import grpc
import psutil
import pytest
import requests
import torch

from convlens_client._proto import inference_pb2, inference_pb2_grpc, management_pb2, management_pb2_grpc
from hostile_inputs import CAT_JPEG

WRONG = "WRONG-t0ken-Zq9"


def config(server) -> dict[str, str]:
    text = (server.workdir / "config.properties").read_text()
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token is not None else {}


@pytest.mark.parametrize("token", [None, WRONG, "management"], ids=["none", "wrong", "management-token"])
def test_http_inference_refuses_bad_tokens(server, token):
    token = server.key("management") if token == "management" else token  # the wrong kind of token
    for path in ("/predictions/classify", "/explanations/classify", "/predictions/saliency"):
        response = requests.post(server.url(path), files={"image": CAT_JPEG}, headers=bearer(token), timeout=30)
        assert response.status_code == 400 and response.json()["type"] == "InvalidKeyException", path


@pytest.mark.parametrize("token", [None, WRONG, "inference"], ids=["none", "wrong", "inference-token"])
def test_http_management_refuses_bad_tokens(server, token):
    token = server.key("inference") if token == "inference" else token
    for method, path in (("GET", "/models"), ("GET", "/models/classify?customized=true"),
                         ("PUT", "/models/classify?min_worker=3"), ("GET", "/token?type=inference")):
        response = requests.request(method, server.url(path, "management"), headers=bearer(token), timeout=30)
        assert response.status_code == 400 and response.json()["type"] == "InvalidKeyException", path


@pytest.mark.parametrize("token", [None, WRONG], ids=["none", "wrong"])
def test_grpc_inference_and_management_refuse_bad_tokens(server, token):
    metadata = [("authorization", f"Bearer {token}")] if token else []
    inference = grpc.insecure_channel(f"{server.host}:{server.ports['grpc']}")
    management = grpc.insecure_channel(f"{server.host}:{server.ports['grpc_management']}")
    try:
        calls = [
            lambda: inference_pb2_grpc.InferenceAPIsServiceStub(inference).Predictions(
                inference_pb2.PredictionsRequest(model_name="classify", input={"image": CAT_JPEG}),
                metadata=metadata, timeout=30),
            lambda: management_pb2_grpc.ManagementAPIsServiceStub(management).DescribeModel(
                management_pb2.DescribeModelRequest(model_name="classify"), metadata=metadata, timeout=30),
            lambda: management_pb2_grpc.ManagementAPIsServiceStub(management).ListModels(
                management_pb2.ListModelsRequest(), metadata=metadata, timeout=30),
        ]
        for call in calls:
            with pytest.raises(grpc.RpcError) as err:
                call()
            assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        inference.close()
        management.close()


def test_valid_tokens_are_accepted_and_never_logged(server):
    """Requests with right and wrong tokens, then no token string anywhere in the server's logs."""
    inference, management = server.key("inference"), server.key("management")
    assert requests.post(server.url("/predictions/classify"), files={"image": CAT_JPEG}, timeout=60,
                         headers=bearer(inference)).status_code == 200
    assert requests.get(server.url("/models/classify", "management"), headers=bearer(management),
                        timeout=30).status_code == 200
    requests.post(server.url("/predictions/classify"), files={"image": CAT_JPEG}, headers=bearer(WRONG), timeout=30)
    channel = grpc.insecure_channel(f"{server.host}:{server.ports['grpc']}")
    inference_pb2_grpc.InferenceAPIsServiceStub(channel).Predictions(
        inference_pb2.PredictionsRequest(model_name="classify", input={"image": CAT_JPEG}),
        metadata=[("authorization", f"Bearer {inference}")], timeout=60)
    channel.close()
    logs = [p for p in server.workdir.rglob("*.log")] + [server.workdir / "torchserve.log"]
    assert len(logs) >= 3
    text = "\n".join(p.read_text(errors="replace") for p in logs if p.is_file())
    assert "POST /predictions/classify" in text  # the access log is there and was written
    for secret in (inference, management, server.key("API"), WRONG):
        assert secret not in text, "a token appears in the server's logs"


def test_key_file_and_logs_are_owner_only(server):
    mode = stat.S_IMODE(server.key_file.stat().st_mode)
    assert mode == 0o600, oct(mode)
    for path in (server.workdir / "logs").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, (path.name, oct(path.stat().st_mode))


def test_token_lifetime_is_the_configured_one(server):
    assert float(config(server)["token_expiration_min"]) == 60
    keys = json.loads(server.key_file.read_text())
    left = datetime.fromisoformat(keys["inference"]["expiration time"].replace("Z", "+00:00")) - \
        datetime.now(UTC)
    assert 0 < left.total_seconds() <= 3600 and "expiration time" not in keys["API"]  # the API key never expires


def test_listeners_bind_loopback_only(server):
    cfg = config(server)
    for key in ("inference_address", "management_address", "metrics_address"):
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", cfg[key]), key
    assert cfg["grpc_inference_address"] == cfg["grpc_management_address"] == "127.0.0.1"
    ports = set(server.ports.values())
    listening = [c for c in psutil.net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN and c.laddr.port in ports]
    assert {c.laddr.port for c in listening} == ports  # every listener found...
    for c in listening:  # ...and none on a public address (Java reports IPv4 as ::ffff:127.0.0.1)
        address = ipaddress.ip_address(c.laddr.ip)
        assert (getattr(address, "ipv4_mapped", None) or address) == ipaddress.ip_address("127.0.0.1"), c


def test_registration_is_off_and_allowed_urls_stay_local(server):
    cfg = config(server)
    assert cfg["enable_model_api"] == "false" and cfg["disable_token_authorization"] == "false"
    allowed = re.compile(cfg["allowed_urls"])
    store = cfg["model_store"]
    assert allowed.fullmatch(f"file://{store}/classify.mar")
    for url in ("https://evil.example/model.mar", "http://127.0.0.1:8000/x.mar", "file:///etc/passwd",
                "s3://bucket/x.mar", f"file://{store}x/evil.mar"):
        assert not allowed.fullmatch(url), url
    management = bearer(server.key("management"))
    for url in ("https://evil.example/model.mar", "classify.mar"):
        response = requests.post(server.url(f"/models?url={url}", "management"), headers=management, timeout=30)
        assert response.status_code == 405, response.text  # the registration API is off
    channel = grpc.insecure_channel(f"{server.host}:{server.ports['grpc_management']}")
    try:
        with pytest.raises(grpc.RpcError) as err:
            management_pb2_grpc.ManagementAPIsServiceStub(channel).RegisterModel(
                management_pb2.RegisterModelRequest(url="https://evil.example/model.mar"),
                metadata=[("authorization", f"Bearer {server.key('management')}")], timeout=30)
        assert err.value.code() != grpc.StatusCode.OK
    finally:
        channel.close()


class _Marker:
    """Unpickling this runs `touch <path>`: if the worker ever unpickled request bytes, the file would appear."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.path}",))


def test_pickles_sent_as_images_are_rejected_and_never_run(server, tmp_path):
    import pickle

    marker = tmp_path / "unpickled"
    torch_file = io.BytesIO()
    torch.save({"x": _Marker(str(marker))}, torch_file)
    payloads = {"pickle": pickle.dumps(_Marker(str(marker))), "torch.save": torch_file.getvalue(),
                "npy-object": b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
                              + b" " * 50 + b"\n" + pickle.dumps(_Marker(str(marker)))}
    for name, payload in payloads.items():
        for model in ("classify", "saliency"):
            response = requests.post(server.url(f"/predictions/{model}"), files={"image": ("x.jpg", payload)},
                                     headers=bearer(server.key("inference")), timeout=60)
            assert response.status_code == 400 and response.json()["type"] == "InvalidImage", name
            body = requests.post(server.url(f"/predictions/{model}"), data=payload, timeout=60,
                                 headers={**bearer(server.key("inference")),
                                          "Content-Type": "application/octet-stream"})
            assert body.status_code == 400 and body.json()["field"] == "image", name
    assert not marker.exists()
