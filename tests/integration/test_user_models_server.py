"""Registered models through a real TorchServe (issue 18): a classifier trained here, registered with
convlens-models from a state dict (`toy`) and TorchScript (`toy_ts`), packed into a few endpoints' archives and
called over HTTP and gRPC with backbone=NAME: the user's labels come back, methods that cannot apply say why."""
from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from tools.models import cli  # noqa: E402 - after the sys.path set-up

import build_models  # noqa: E402 - scripts/ is on the path (conftest)
import toy_classifier as toy  # noqa: E402 - after the sys.path set-up
from convlens_client.errors import InvalidRequest  # noqa: E402 - after the sys.path set-up
from local_server import running_server  # noqa: E402 - after the sys.path set-up
from test_serving import TRANSPORTS, client  # noqa: E402 - after the sys.path set-up

ENDPOINTS = ("classify", "saliency", "activations", "inversion")  # one of each area's handler bases; cheap


CENTRE = ((toy.SIZE - toy.SIDE) // 2,) * 2  # the square where classify's centre crop keeps it whole


def png(label: int, at: tuple[int, int] = CENTRE) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(toy.picture(label, np.random.default_rng(label), at=at)[0]).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A server of ENDPOINTS whose archives carry the two registered models."""
    files = toy.export(toy.train(), tmp_path_factory.mktemp("user"))
    models = tmp_path_factory.mktemp("models")
    common = ["--labels", str(files.labels), "--size", str(toy.SIZE), "--mean", "0.5,0.5,0.5", "--std",
              "0.25,0.25,0.25"]
    assert cli.main(["--models-dir", str(models), "add", "toy", "--arch", "resnet18", "--weights",
                     str(files.state_dict), *common]) == 0
    assert cli.main(["--models-dir", str(models), "add", "toy_ts", "--torchscript", str(files.torchscript),
                     *common]) == 0
    store = tmp_path_factory.mktemp("store")
    for name in ENDPOINTS:
        build_models.archive(name, store, build_models.STORE / f"{name}.yaml", models=models)
    with running_server(ENDPOINTS, tmp_path_factory.mktemp("ts"), model_store=store) as server:
        yield server


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_every_endpoint_answers_with_the_users_labels(served, transport):
    with client(served, transport) as c:
        for name in ("toy", "toy_ts"):
            for label, picture in enumerate(toy.LABELS):
                top = c.classify(png(label), topk=3, backbone=name)
                assert top[0].label == picture and sorted(p.label for p in top) == sorted(toy.LABELS), name
            heat = c.saliency(png(0), target="red square", method="integrated_gradients", size=toy.SIZE,
                              backbone=name, steps=8)
            assert heat.target.label == "red square" and heat.predicted.label == "red square"
            y, x = CENTRE
            inside = heat.array[y:y + toy.SIDE, x:x + toy.SIDE].sum() / heat.array.sum()
            assert inside > toy.SIDE ** 2 / toy.SIZE ** 2, (name, inside)  # more than its share of the picture
        cam = c.saliency(png(1), target="blue square", method="gradcam", size=toy.SIZE, backbone="toy")
        assert cam.layer == "layer4" and cam.target.label == "blue square"
        maps = c.activations(png(1), layer="layer3", size=toy.SIZE, backbone="toy")
        assert maps.layer == "layer3" and maps.backbone == "toy" and len(maps.stats) == 256
        inverted = c.inversion(png(0), steps=2, size=toy.SIZE, backbone="toy")
        assert inverted.layer == "layer2" and inverted.backbone == "toy"  # the registered model's middle stage
        assert c.classify(png(0), topk=1)[0].index < 1000  # the default backbone still serves


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_clear_400s_when_a_method_cannot_apply(served, transport):
    with client(served, transport) as c:
        cases = [
            (dict(method="gradcam", backbone="toy_ts"), "layer", "TorchScript"),
            (dict(method="guided_backprop", backbone="toy_ts"), "method", "ReLU"),
            (dict(method="gradcam", layer="block12", backbone="toy"), "layer", "known layers: conv1, layer1"),
            (dict(target="purple square", backbone="toy"), "target", "did you mean"),
            (dict(backbone="vgg16"), "backbone", "available: efficientnet_lite0, toy, toy_ts"),
        ]
        for fields, field, words in cases:
            with pytest.raises(InvalidRequest) as err:
                c.saliency(png(0), size=toy.SIZE, **fields)
            assert err.value.code == 400 and err.value.field == field and words in str(err.value), fields


def test_describe_lists_the_registered_models(served):
    with client(served, "http", management_port=served.ports["management"]) as c:
        backbones = c.backbones("classify")
    assert list(backbones) == ["efficientnet_lite0", "toy", "toy_ts"]
    assert backbones["toy"]["labels"] == list(toy.LABELS) and backbones["toy"]["default_layer"] == "layer4"
    assert backbones["toy_ts"]["arch"] == "torchscript" and backbones["toy_ts"]["layers"] == []
