"""filters, activations, top_patches, embed, neighbors and tsne through a real TorchServe, over HTTP and gRPC."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import requests
from PIL import Image
from skimage import data

from convlens_client import Client
from convlens_client.errors import InvalidRequest, TooLarge

TRANSPORTS = ("http", "grpc")


def png(array: np.ndarray, size: tuple[int, int] = (64, 64)) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).convert("RGB").resize(size).save(buf, format="PNG")
    return buf.getvalue()


CAT, ASTRONAUT, COFFEE, ROCKET = (png(data.chelsea(), (96, 64)), png(data.astronaut()), png(data.coffee()),
                                  png(data.rocket()))


def zipped(**members: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buf.getvalue()


def client(server, transport: str) -> Client:
    return Client(server.host, transport=transport, http_port=server.ports["http"], grpc_port=server.ports["grpc"],
                  key_file=server.key_file, timeout=120)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_filters(server, transport):
    with client(server, transport) as c:
        bank = c.filters()
        picture = Image.open(io.BytesIO(c.filters_image()))
        deep = c.filters(layer="block2", max_filters=4)
    assert bank.rgb and bank.weights.shape == (32, 3, 3, 3) and bank.module == "stem.0"
    assert picture.format == "PNG" and picture.size == (158, 158)
    assert not deep.rgb and deep.weights.shape == (4, 1, 3, 3)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_activations(server, transport):
    with client(server, transport) as c:
        maps = c.activations(CAT, layer="block3", size=64)
        npy = np.load(io.BytesIO(c.activations_image(CAT, format="npy", layer="block3", size=64)))
        large = Image.open(io.BytesIO(c.activations_image(CAT, layer="block3", size=64, channel=2)))
    assert maps.values.shape == (24, 16, 24) and maps.layer == "block3"
    np.testing.assert_allclose(maps.values, npy, rtol=1e-6)
    assert maps.order[0] == int(np.argmax(npy.reshape(24, -1).mean(axis=1)))
    assert large.size == (24 * 28, 16 * 28)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_top_patches(server, transport):
    with client(server, transport) as c:
        result = c.top_patches([CAT, ASTRONAUT], channel=3, layer="block4", top=4, size=64,
                               zip=zipped(**{"coffee.png": COFFEE}), guided=True)
        picture = Image.open(io.BytesIO(c.top_patches_image([CAT, ASTRONAUT], layer="block4", channel=3,
                                                      size=64, top=4)))
    assert len(result.patches) == 4 and result.stride == 8 and result.input_size == 64
    assert [p.activation for p in result.patches] == sorted((p.activation for p in result.patches), reverse=True)
    first = result.patches[0]
    left, top, right, bottom = first.box
    assert first.crop_image().size == (right - left + 1, bottom - top + 1) and first.guided[:4] == b"\x89PNG"
    assert {p.name for p in result.patches} <= {"image", "image_2", "zip:coffee.png"}
    assert picture.format == "PNG"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_embed(server, transport):
    with client(server, transport) as c:
        vectors = c.embed([CAT, ASTRONAUT, CAT], size=64)
        npy = np.load(io.BytesIO(c.embed_image([CAT, ASTRONAUT, CAT], format="npy", size=64)))
    assert vectors.shape == (3, 1280)
    np.testing.assert_allclose(vectors, npy, rtol=1e-6)
    np.testing.assert_allclose(vectors[0], vectors[2], rtol=1e-6)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_neighbors(server, transport):
    with client(server, transport) as c:
        ranking = c.neighbors(CAT, [ASTRONAUT, COFFEE, CAT, ROCKET], size=64)
        picture = Image.open(io.BytesIO(c.neighbors_image(CAT, gallery=[ASTRONAUT, CAT], size=64)))
    assert ranking.by_feature[0].name == "gallery_3" and ranking.by_pixel[0].name == "gallery_3"
    assert ranking.by_feature[0].distance == pytest.approx(0, abs=1e-5) and len(ranking.by_pixel) == 4
    assert picture.format == "PNG"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_tsne(server, transport):
    images = [CAT, ASTRONAUT, COFFEE, ROCKET]
    with client(server, transport) as c:
        layout = c.tsne(images, size=64, iterations=250)
        pca = c.tsne(images, method="pca", size=64)
        grid = Image.open(io.BytesIO(c.tsne_image(images, view="grid", size=64, thumb=32, method="pca")))
    assert layout.method == "tsne" and layout.perplexity == 1.0 and layout.coords.shape == (4, 2)
    assert pca.perplexity is None and (pca.columns, pca.rows) == (2, 2)
    assert len({(p.column, p.row) for p in pca.points}) == 4
    assert grid.size == (64, 64)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_bad_inputs_name_their_field(server, transport):
    with client(server, transport) as c:
        with pytest.raises(InvalidRequest) as err:
            c.top_patches([CAT], channel=9999, layer="block2", size=64)
        assert err.value.field == "channel"
        with pytest.raises(InvalidRequest) as err:
            c.embed([CAT], zip=zipped(**{"../escape.png": CAT}))
        assert err.value.field == "zip"
        with pytest.raises(TooLarge) as err:
            c.embed([CAT] * 33, size=32)
        assert err.value.field == "image_33"
        assert c.embed([CAT], size=32).shape == (1, 1280)  # the worker keeps serving


def test_a_zip_and_json_over_plain_http(server):
    headers = {"Authorization": f"Bearer {server.key('inference')}"}
    url = server.url("/predictions/embed")
    response = requests.post(url, files={"zip": zipped(**{"a.png": CAT, "b.png": COFFEE})},
                             data={"format": "json", "size": "32"}, headers=headers, timeout=120)
    assert response.status_code == 200
    body = response.json()
    assert [v["name"] for v in body["vectors"]] == ["zip:a.png", "zip:b.png"] and body["dims"] == 1280
    bad = requests.post(url, files={"image": CAT}, data={"metric": "l2"}, headers=headers, timeout=60)
    assert bad.status_code == 400 and bad.json()["field"] == "metric"


def test_describe_lists_the_layers(server):
    response = requests.get(server.url("/models/activations?customized=true", "management"),
                            headers={"Authorization": f"Bearer {server.key('management')}"}, timeout=30)
    offered = response.json()[0]["customizedMetadata"]
    offered = json.loads(offered) if isinstance(offered, str) else offered
    assert offered["endpoint"] == "activations" and "block3" in offered["layers"] and offered["max_images"] == 32
