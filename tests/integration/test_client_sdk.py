"""The client SDK's cross-cutting parts against a real TorchServe: management calls on both transports,
identical results over HTTP and gRPC, the AsyncClient, and renewing a refused token with the API key."""

from __future__ import annotations

import asyncio
import io
import json
import urllib.request

import numpy as np
import pytest
from PIL import Image
from skimage import data

from convlens_client import AsyncClient, Client, NotFound, Unauthorized

TRANSPORTS = ("http", "grpc")


def _jpeg(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


CAT = _jpeg(data.chelsea()[::2, ::2])  # 226 x 150


def sdk(server, transport: str, cls=Client, **kwargs):
    kwargs.setdefault("key_file", server.key_file)
    return cls(server.host, transport=transport, http_port=server.ports["http"], grpc_port=server.ports["grpc"],
               management_port=server.ports["management"], grpc_management_port=server.ports["grpc_management"],
               **kwargs)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_models_describe_layers(server, transport):
    with sdk(server, transport) as c:
        models = {m.name: m for m in c.models()}
        assert {"classify", "saliency"} <= set(models)
        assert all(m.ready and m.ready_workers >= 1 and m.url == f"{m.name}.mar" for m in models.values())
        meta = c.describe("saliency")
        assert meta["endpoint"] == "saliency" and meta["backbone"] == "efficientnet_lite0"
        assert "gradient" in meta["methods"] and meta["num_classes"] == 1000
        layers = c.layers("saliency")
        assert layers == meta["layers"] and layers[0] == "stem" and "block16" in layers
        with pytest.raises(NotFound):
            c.describe("no_such_endpoint")


def test_management_results_are_identical_on_both_transports(server):
    with sdk(server, "http") as h, sdk(server, "grpc") as g:
        def strip(ms):
            return [(m.name, m.version, m.url, m.workers, m.ready_workers, m.ready) for m in ms]

        assert strip(h.models()) == strip(g.models())
        for name in ("classify", "saliency"):
            assert h.describe(name) == g.describe(name)


def test_deterministic_endpoints_are_identical_on_both_transports(server):
    with sdk(server, "http") as h, sdk(server, "grpc") as g:
        assert h.classify(CAT, topk=5) == g.classify(CAT, topk=5)
        for method in ("gradient",):
            a, b = h.saliency(CAT, method=method, size=64), g.saliency(CAT, method=method, size=64)
            assert a == b  # every field, and the values bit for bit
        assert h.saliency_image(CAT, size=64) == g.saliency_image(CAT, size=64)  # the same PNG bytes
        assert h.health() == g.health() == "Healthy"


def test_async_client_fans_out_and_matches_the_sync_client(server):
    with sdk(server, "grpc") as sync:
        expected = sync.classify(CAT, topk=3)
        expected_map = sync.saliency(CAT, size=64)

    async def fan_out():
        async with sdk(server, "grpc", cls=AsyncClient) as client:
            return await asyncio.gather(*(client.classify(CAT, topk=3) for _ in range(3)),
                                        client.saliency(CAT, size=64), client.layers("saliency"))

    *tops, heat, layers = asyncio.run(fan_out())
    assert tops == [expected] * 3 and heat == expected_map and "block16" in layers


def _rotate(server, kind: str) -> None:
    """Rotate a key as another client would: GET /token?type=... with the API key."""
    request = urllib.request.Request(server.url(f"/token?type={kind}", "management"),
                                     headers={"Authorization": f"Bearer {server.key('API')}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("kind", ("inference", "management"))
def test_a_refused_token_is_renewed_with_the_api_key(server, transport, kind):
    """The client holds a key TorchServe no longer accepts (expired): the call is refused, the client
    rotates the key with the API key, reads the new one from key_file.json and repeats the call."""
    stale = server.key_file.read_text()
    _rotate(server, kind)  # the key in `stale` is now refused by the server
    server.key_file.write_text(stale)  # ... and it is what the client finds in the key file
    with sdk(server, transport, retries=0) as c:
        if kind == "inference":
            assert c.classify(CAT, topk=1)[0].index in range(281, 286)
        else:
            assert "block16" in c.layers("saliency")
    renewed = json.loads(server.key_file.read_text())
    assert renewed[kind]["key"] != json.loads(stale)[kind]["key"]  # TorchServe wrote a new key


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_explicit_stale_token_is_refused_and_not_renewed(server, transport):
    before = server.key_file.read_text()
    with sdk(server, transport, key_file=None, token="stale123", retries=0) as c, pytest.raises(Unauthorized):
        c.classify(CAT)
    assert server.key_file.read_text() == before
