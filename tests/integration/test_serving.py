"""classify and saliency through a real TorchServe, over HTTP and gRPC, with the client SDK and raw requests."""
from __future__ import annotations

import base64
import io
import json

import grpc
import numpy as np
import pytest
import requests
from PIL import Image
from skimage import data

from convlens_client import Client
from convlens_client._proto import inference_pb2, inference_pb2_grpc
from convlens_client.errors import InvalidRequest, TooLarge, Unauthorized

CAT_CLASSES = range(281, 286)
TRANSPORTS = ("http", "grpc")


def jpeg(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="JPEG", quality=92)
    return buf.getvalue()


CAT = jpeg(data.chelsea())  # 451 x 300


def client(server, transport: str, **kwargs) -> Client:
    kwargs.setdefault("key_file", server.key_file)
    return Client(server.host, transport=transport, http_port=server.ports["http"],
                  grpc_port=server.ports["grpc"], **kwargs)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_classify_a_photo(server, transport):
    with client(server, transport) as c:
        top = c.classify(CAT, topk=3)
    assert len(top) == 3 and top[0].index in CAT_CLASSES
    assert "Egyptian cat" in [p.label for p in top[:2]]
    assert top[0].probability >= top[1].probability >= top[2].probability > 0


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_saliency_map(server, transport):
    with client(server, transport) as c:
        heat = c.saliency(CAT, target="tabby")
    assert (heat.width, heat.height) == (337, 224)  # shorter side 224, aspect of 451x300 kept
    array = heat.array
    assert array.shape == (224, 337) and np.isfinite(array).all() and array.min() >= 0
    assert heat.max == pytest.approx(float(array.max()), rel=1e-6)
    assert heat.target.index == 281 and heat.target.label == "tabby" and heat.method == "gradient"
    assert heat.predicted.index in CAT_CLASSES


def test_both_transports_give_the_same_answers(server):
    with client(server, "http") as h, client(server, "grpc") as g:
        assert h.classify(CAT, topk=5) == g.classify(CAT, topk=5)
        np.testing.assert_array_equal(h.saliency(CAT, size=64).array, g.saliency(CAT, size=64).array)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_rendered_heatmap_and_overlay(server, transport):
    with client(server, transport) as c:
        for view in ("heatmap", "overlay"):
            png = c.saliency_image(CAT, view=view, size=96)
            image = Image.open(io.BytesIO(png))
            # shorter side 96, aspect of 451x300 kept (+-1 px: the JPEG is decoded at reduced scale first)
            assert image.format == "PNG" and image.size[1] == 96 and abs(image.size[0] - 144.3) < 1


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_malformed_image_is_a_400_and_the_worker_keeps_serving(server, transport):
    pids = server.worker_pids("classify")
    with client(server, transport) as c:
        with pytest.raises(InvalidRequest) as err:
            c.classify(CAT[: len(CAT) // 2])  # a truncated JPEG
        assert err.value.field == "image"
        with pytest.raises(InvalidRequest) as err:
            c.saliency(CAT, target="not a class")
        assert err.value.field == "target"
        assert c.classify(CAT, topk=1)[0].index in CAT_CLASSES
    assert server.worker_pids("classify") == pids  # same worker process: nothing crashed or restarted


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_decompression_bomb_is_413(server, transport):
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    header = (30000).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + \
        chunk(b"IEND", b"")
    with client(server, transport) as c, pytest.raises(TooLarge) as err:
        c.classify(bomb)
    assert err.value.field == "image"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_wrong_or_missing_token_is_refused(server, transport, monkeypatch, tmp_path):
    monkeypatch.delenv("CONVLENS_TOKEN", raising=False)
    with client(server, transport, token="wrong-token") as c, pytest.raises(Unauthorized):
        c.classify(CAT)


def test_requests_without_token_are_refused_on_every_transport(server):
    response = requests.post(server.url("/predictions/classify"), files={"image": CAT}, timeout=30)
    assert response.status_code in (400, 401) and response.json()["type"] == "InvalidKeyException"
    channel = grpc.insecure_channel(f"{server.host}:{server.ports['grpc']}")
    stub = inference_pb2_grpc.InferenceAPIsServiceStub(channel)
    with pytest.raises(grpc.RpcError) as err:
        stub.Predictions(inference_pb2.PredictionsRequest(model_name="classify", input={"image": CAT}), timeout=30)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    channel.close()


def auth(server) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.key('inference')}"}


def test_http_request_shapes_json_body_raw_body_and_form(server):
    url = server.url("/predictions/classify")
    as_json = requests.post(url, json={"image": base64.b64encode(CAT).decode(), "topk": 5}, headers=auth(server),
                            timeout=60)
    raw = requests.post(url, data=CAT, headers={**auth(server), "Content-Type": "image/jpeg"}, timeout=60)
    form = requests.post(url, files={"image": CAT}, data={"topk": "5"}, headers=auth(server), timeout=60)
    assert as_json.status_code == raw.status_code == form.status_code == 200
    assert as_json.json() == raw.json() == form.json()  # a raw upload takes the defaults (topk=5)
    assert as_json.headers["Content-Type"].startswith("application/json")
    bad = requests.post(url, files={"image": CAT}, data={"topk": "many"}, headers=auth(server), timeout=60)
    assert bad.status_code == 400 and bad.json() == {
        "code": 400, "type": "InvalidParameter", "field": "topk", "message": "must be an integer, got 'many'"}


def test_saliency_raw_formats_over_http(server):
    url = server.url("/predictions/saliency")
    fields = {"size": "64", "target": "285"}
    npy = requests.post(url, files={"image": CAT}, data={**fields, "format": "npy"}, headers=auth(server), timeout=60)
    as_json = requests.post(url, files={"image": CAT}, data={**fields, "format": "json"}, headers=auth(server),
                            timeout=60)
    assert npy.status_code == as_json.status_code == 200
    values = np.load(io.BytesIO(npy.content))
    body = as_json.json()
    assert values.shape == (64, 96) and (body["height"], body["width"]) == (64, 96)
    np.testing.assert_allclose(np.array(body["values"]), values, atol=1e-6)
    assert body["target"]["label"] == "Egyptian cat" and body["predicted"]["index"] in CAT_CLASSES


def test_explanations_route_returns_a_saliency_png(server):
    response = requests.post(server.url("/explanations/classify"), files={"image": CAT}, data={"size": "96"},
                             headers=auth(server), timeout=60)
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    width, height = Image.open(io.BytesIO(response.content)).size
    assert height == 96 and abs(width - 144.3) < 1
    with client(server, "http") as c:
        assert c.explain(CAT, target="tabby")[:8] == b"\x89PNG\r\n\x1a\n"


def test_describe_says_what_each_endpoint_offers(server):
    request = requests.get(server.url("/models/saliency?customized=true", "management"),
                           headers={"Authorization": f"Bearer {server.key('management')}"}, timeout=30)
    offered = request.json()[0]["customizedMetadata"]
    offered = json.loads(offered) if isinstance(offered, str) else offered
    assert offered["endpoint"] == "saliency" and offered["backbone"] == "efficientnet_lite0"
    assert offered["methods"] == ["gradient", "smoothgrad", "guided_backprop", "integrated_gradients", "gradcam",
                                  "guided_gradcam"] and "head" in offered["layers"]


def test_grpc_ping_and_prometheus_metrics(server):
    with client(server, "grpc") as c:
        assert "Healthy" in c.health()
    metrics = requests.get(server.url("/metrics", "metrics"), timeout=30)
    assert metrics.status_code == 200 and "ts_inference_requests_total" in metrics.text


def test_model_registration_api_is_off(server):
    response = requests.post(server.url("/models?url=classify.mar", "management"),
                             headers={"Authorization": f"Bearer {server.key('management')}"}, timeout=30)
    assert response.status_code == 405


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_12_megapixel_photo_fits_the_size_limits(server, transport):
    """Far above TorchServe's default 6.5 MB limit: noisy 4000x3000 JPEG of ~10 MB (13 MB as base64 JSON)."""
    rng = np.random.default_rng(0)
    base = np.array(Image.fromarray(data.chelsea()).resize((4000, 3000), Image.BILINEAR), dtype=np.int16)
    noisy = np.clip(base + rng.integers(-40, 40, base.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noisy).save(buf, format="JPEG", quality=95)
    photo = buf.getvalue()
    assert len(photo) > 6_553_500
    with client(server, transport, timeout=120) as c:
        assert c.classify(photo, topk=1)[0].index in CAT_CLASSES
    if transport == "http":
        response = requests.post(server.url("/predictions/classify"), headers=auth(server), timeout=120,
                                 json={"image": base64.b64encode(photo).decode(), "topk": 1})
        assert response.status_code == 200 and response.json()["predictions"][0]["index"] in CAT_CLASSES


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_cli_against_the_real_server(server, transport, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    photo = tmp_path / "cat.jpg"
    photo.write_bytes(CAT)
    convlens = Path(sys.executable).with_name("convlens")
    common = [str(convlens), "--transport", transport, "--http-port", str(server.ports["http"]),
              "--grpc-port", str(server.ports["grpc"]), "--key-file", str(server.key_file)]
    listed = subprocess.run([*common, "classify", str(photo), "--json", "--topk", "2"], capture_output=True,
                            text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)[0]["index"] in CAT_CLASSES
    out = tmp_path / "overlay.png"
    drawn = subprocess.run([*common, "saliency", str(photo), "--view", "overlay", "-o", str(out)],
                           capture_output=True, text=True, timeout=120)
    assert drawn.returncode == 0 and Image.open(out).format == "PNG"
    failed = subprocess.run([*common, "classify", str(tmp_path / "missing.jpg")], capture_output=True, text=True)
    assert failed.returncode == 1 and failed.stderr.startswith("error: ")
