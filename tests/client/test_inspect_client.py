"""Client methods and CLI subcommands of the inspect endpoints against the fake servers (both transports)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from client_fakes import Reply, Servers, proto_reply
from convlens_client import (
    ActivationMaps,
    Client,
    Embedding,
    FilterBank,
    InvalidRequest,
    Layout,
    Neighbors,
    TopPatches,
)
from convlens_client._proto import convlens_pb2 as pb
from test_cli import run

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
PNG_B = b"\x89PNG\r\n\x1a\n" + b"\x01" * 16
ZIP = b"PK\x03\x04 a zip"


def tensor(array: np.ndarray) -> pb.Tensor:
    return pb.Tensor(shape=list(array.shape), values=array.ravel().tolist())


def test_filters_returns_the_weights(client: Client, backend) -> None:
    weights = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2) / 4
    backend.reply = proto_reply(pb.Response(filters=pb.Filters(
        backbone="efficientnet_lite0", module="stem.0", rgb=True, total_filters=32, total_channels=3,
        weights=tensor(weights))))
    bank = client.filters(max_filters=2)
    assert isinstance(bank, FilterBank) and bank.rgb and bank.module == "stem.0" and bank.layer == ""
    np.testing.assert_array_equal(bank.weights, weights)
    assert backend.last.model == "filters"
    assert backend.last.fields == {"max_filters": b"2", "format": b"proto"}


def test_activations_and_top_patches(client: Client, backend) -> None:
    values = np.random.default_rng(0).random((3, 2, 4)).astype(np.float32)
    stats = [pb.ChannelStat(channel=c, mean=float(values[c].mean()), max=float(values[c].max()), fraction_active=1)
             for c in range(3)]
    backend.reply = proto_reply(pb.Response(activations=pb.Activations(
        layer="block3", stats=stats, order=[2, 0, 1], values=tensor(values))))
    maps = client.activations(PNG, layer="block3", size=64)
    assert isinstance(maps, ActivationMaps) and maps.order == [2, 0, 1] and maps.stats[1].channel == 1
    np.testing.assert_array_equal(maps.values, values)
    assert backend.last.fields == {"image": PNG, "layer": b"block3", "size": b"64", "format": b"proto"}

    patch = pb.Patch(image=1, name="image_2", y=3, x=4, activation=2.5, left=1, top=2, right=9, bottom=10,
                     crop=pb.Image(data=PNG, format="png"))
    backend.reply = proto_reply(pb.Response(top_patches=pb.TopPatches(
        layer="block5", channel=3, patches=[patch], rf_height=9, rf_width=9, rf_stride=4, input_size=64)))
    result = client.top_patches([PNG, PNG_B], channel=3, layer="block5", guided=True, zip=ZIP)
    assert isinstance(result, TopPatches) and result.receptive_field == (9, 9) and result.stride == 4
    first = result.patches[0]
    assert (first.image, first.name, first.box, first.crop, first.guided) == (1, "image_2", (1, 2, 9, 10), PNG, b"")
    fields = backend.last.fields
    assert fields["image"] == PNG and fields["image_2"] == PNG_B and fields["zip"] == ZIP
    assert fields["channel"] == b"3" and fields["guided"] == b"true" and fields["layer"] == b"block5"


def test_embed_returns_a_numpy_array(client: Client, backend) -> None:
    backend.reply = proto_reply(pb.Response(embedding=pb.Embedding(dims=3, vectors=[
        pb.FeatureVector(name="image", values=[1, 2, 3]), pb.FeatureVector(name="image_2", values=[4, 5, 6.5])])))
    vectors = client.embed([PNG, PNG_B], layer="head")
    assert vectors.dtype == np.float32 and vectors.tolist() == [[1, 2, 3], [4, 5, 6.5]]
    assert set(backend.last.fields) == {"image", "image_2", "layer", "format"}


def test_neighbors_and_tsne(client: Client, backend) -> None:
    backend.reply = proto_reply(pb.Response(neighbors=pb.Neighbors(
        metric="l2", by_feature=[pb.Neighbor(index=1, name="gallery_2", distance=0.0)],
        by_pixel=[pb.Neighbor(index=0, name="gallery", distance=0.25)])))
    ranking = client.neighbors(PNG, [PNG_B, PNG], metric="l2")
    assert isinstance(ranking, Neighbors) and ranking.by_feature[0].name == "gallery_2"
    assert ranking.by_pixel[0].distance == 0.25
    assert set(backend.last.fields) == {"image", "gallery", "gallery_2", "metric", "format"}
    assert backend.last.fields["gallery"] == PNG_B

    backend.reply = proto_reply(pb.Response(layout=pb.Layout(method="pca", columns=2, rows=1, points=[
        pb.Point(name="image", x=0, y=1, column=0, row=0), pb.Point(name="image_2", x=1, y=0, column=1, row=0)])))
    layout = client.tsne([PNG, PNG_B], method="pca")
    assert isinstance(layout, Layout) and layout.perplexity is None and (layout.columns, layout.rows) == (2, 1)
    np.testing.assert_array_equal(layout.coords, [[0, 1], [1, 0]])


def test_errors_name_the_field(client: Client, backend) -> None:
    backend.reply = proto_reply(pb.Response(error=pb.Error(code=400, type="InvalidParameter", message="bad",
                                                           field="zip")))
    with pytest.raises(InvalidRequest) as err:
        client.embed([PNG], zip=b"PK nope")
    assert err.value.field == "zip"


def test_lecture_raw_returns_the_servers_bytes(client: Client, backend) -> None:
    backend.reply = Reply(b"npy bytes", 200, "application/x-npy")
    with pytest.warns(DeprecationWarning, match="neighbors_image"):
        assert client.lecture_raw("neighbors", [PNG], format="npy", gallery=[PNG_B], metric="cosine") == b"npy bytes"
    assert backend.last.model == "neighbors"
    assert backend.last.fields == {"image": PNG, "gallery": PNG_B, "format": b"npy", "metric": b"cosine"}


def test_every_inspect_endpoint_has_an_image_method(client: Client, backend) -> None:
    backend.reply = Reply(PNG_B, 200, "image/png")
    calls = {
        "filters": (lambda: client.filters_image(layer="block1", max_filters=4),
                    {"layer": b"block1", "max_filters": b"4", "format": b"png"}),
        "activations": (lambda: client.activations_image(PNG, layer="block3", channel=2),
                        {"image": PNG, "layer": b"block3", "channel": b"2", "format": b"png"}),
        "top_patches": (lambda: client.top_patches_image([PNG, PNG_B], channel=3, zip=ZIP, guided=True),
                        {"image": PNG, "image_2": PNG_B, "zip": ZIP, "channel": b"3", "guided": b"true",
                         "format": b"png"}),
        "embed": (lambda: client.embed_image([PNG], format="jpeg"), {"image": PNG, "format": b"jpeg"}),
        "neighbors": (lambda: client.neighbors_image(PNG, [PNG_B], metric="l2"),
                      {"image": PNG, "gallery": PNG_B, "metric": b"l2", "format": b"png"}),
        "tsne": (lambda: client.tsne_image([PNG, PNG_B], view="grid"),
                 {"image": PNG, "image_2": PNG_B, "view": b"grid", "format": b"png"}),
    }
    for endpoint, (call, fields) in calls.items():
        assert call() == PNG_B, endpoint
        assert (backend.last.model, backend.last.fields) == (endpoint, fields)


def test_embedding_keeps_the_names(client: Client, backend) -> None:
    backend.reply = proto_reply(pb.Response(embedding=pb.Embedding(backbone="resnet18", dims=2, vectors=[
        pb.FeatureVector(name="image", values=[1, 2]), pb.FeatureVector(name="zip:a.png", values=[3, 4])])))
    result = client.embedding([PNG], zip=ZIP)
    assert isinstance(result, Embedding) and result.names == ["image", "zip:a.png"] and result.backbone == "resnet18"
    assert result.vectors.tolist() == [[1, 2], [3, 4]] and result.vectors.dtype == np.float32
    backend.reply = proto_reply(pb.Response(embedding=pb.Embedding(dims=5)))
    assert client.embed([PNG]).shape == (0, 5)


@pytest.fixture
def pictures(tmp_path: Path) -> list:
    paths = []
    for i, data in enumerate((PNG, PNG_B, PNG)):
        path = tmp_path / f"p{i}.png"
        path.write_bytes(data)
        paths.append(str(path))
    return paths


def test_cli_embed_writes_npy_from_the_extension(servers: Servers, backend, transport: str, pictures, tmp_path):
    array = io.BytesIO()
    np.save(array, np.ones((3, 4), np.float32))
    backend.reply = Reply(array.getvalue(), 200, "application/x-npy")
    out = tmp_path / "emb.npy"
    code, stdout, err = run(servers, transport, "embed", *pictures, "-o", str(out))
    assert (code, err) == (0, "") and stdout == f"wrote {out}\n"
    assert np.load(out).shape == (3, 4)
    assert backend.last.model == "embed" and backend.last.fields["format"] == b"npy"
    assert set(backend.last.fields) == {"image", "image_2", "image_3", "format"}


def test_cli_top_patches_activations_filters_tsne(servers: Servers, backend, transport: str, pictures, tmp_path):
    backend.reply = Reply(PNG, 200, "image/png")
    out = tmp_path / "tp.png"
    code, _, err = run(servers, transport, "top-patches", *pictures[:2], "--layer", "block5", "--channel", "3",
                       "--guided", "-o", str(out))
    assert (code, err) == (0, "") and out.read_bytes() == PNG
    fields = backend.last.fields
    assert backend.last.model == "top_patches" and fields["channel"] == b"3" and fields["guided"] == b"true"
    code, _, _ = run(servers, transport, "activations", pictures[0], "--layer", "block3", "-o",
                     str(tmp_path / "a.png"))
    assert code == 0 and backend.last.fields["layer"] == b"block3" and backend.last.model == "activations"
    code, _, _ = run(servers, transport, "filters", "-o", str(tmp_path / "f.jpg"))
    assert code == 0 and backend.last.fields == {"format": b"jpeg"}
    code, _, _ = run(servers, transport, "tsne", *pictures, "--view", "grid", "-o", str(tmp_path / "t.png"))
    assert code == 0 and backend.last.fields["view"] == b"grid" and "image_3" in backend.last.fields


def test_cli_neighbors_prints_both_rankings(servers: Servers, backend, transport: str, pictures, tmp_path):
    body = {"by_feature": [{"name": "gallery_2", "distance": 0.0, "index": 1}],
            "by_pixel": [{"name": "gallery", "distance": 0.5, "index": 0}]}
    backend.reply = Reply(json.dumps(body).encode(), 200, "application/json")
    code, stdout, _ = run(servers, transport, "neighbors", *pictures, "--format", "json", "-o",
                          str(tmp_path / "n.json"))
    assert code == 0 and "by features: gallery_2 (0.000)" in stdout and "by pixels: gallery (0.500)" in stdout
    assert set(backend.last.fields) == {"image", "gallery", "gallery_2", "format"}


def test_cli_usage_errors(servers: Servers, backend, transport: str, pictures) -> None:
    with pytest.raises(SystemExit) as exit_:
        run(servers, transport, "top-patches", *pictures)  # --channel is required
    assert exit_.value.code == 2
    code, _, err = run(servers, transport, "embed")
    assert code == 1 and "give image files or --zip" in err and backend.requests == []
