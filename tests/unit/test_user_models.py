"""Registered models (convlens-models, issue 18): a classifier trained here, registered from a state dict and from
TorchScript, served as a backbone with its own labels, preprocessing and layers; bad files refused cleanly."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from tools.models import cli

import toy_classifier as toy
from convlens import attribution
from convlens.core import classify, user_models
from convlens.core.errors import InvalidParameter
from convlens.inspect import activations, embedding
from serving.shelf import BackboneShelf

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def trained() -> torch.nn.Module:
    model = toy.train()
    assert toy.accuracy(model) >= 0.9  # it learned the squares: what the explanations below explain
    return model


@pytest.fixture(scope="module")
def files(trained, tmp_path_factory) -> toy.Exported:
    return toy.export(trained, tmp_path_factory.mktemp("user"))


@pytest.fixture(scope="module")
def folder(files, tmp_path_factory) -> Path:
    """A models folder with the toy registered twice: state dict (`toy`) and TorchScript (`toy_ts`)."""
    path = tmp_path_factory.mktemp("models")
    common = ["--labels", str(files.labels), "--size", str(toy.SIZE), "--mean", "0.5,0.5,0.5",
              "--std", "0.25,0.25,0.25"]
    assert cli.main(["--models-dir", str(path), "add", "toy", "--arch", "resnet18", "--weights",
                     str(files.state_dict), "--num-classes", "3", *common]) == 0
    assert cli.main(["--models-dir", str(path), "add", "toy_ts", "--torchscript", str(files.torchscript),
                     *common]) == 0
    return path


def load(folder: Path, name: str):
    return user_models.load_user_backbone(user_models.read_registry(folder)[name], folder, CPU)


def pixels01(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255


def test_registry_records_labels_preprocessing_and_found_layers(folder, capsys):
    records = user_models.read_registry(folder)
    toy_record, ts = records["toy"], records["toy_ts"]
    assert toy_record.labels == toy.LABELS and toy_record.arch == "resnet18"
    assert toy_record.preprocessing.mean == toy.MEAN and toy_record.preprocessing.crop == toy.SIZE
    assert toy_record.preprocessing.resize == round(toy.SIZE * 8 / 7)
    # ResNet's stages, the last convolutional one for Grad-CAM; TorchScript offers none
    assert toy_record.layers == ("conv1", "layer1", "layer2", "layer3", "layer4")
    assert toy_record.default_layer == "layer4"
    assert ts.arch == "torchscript" and ts.layers == ()
    assert sorted(p.name for p in folder.iterdir()) == ["models.json", "toy", "toy_ts"]  # nothing staged left
    assert cli.main(["--models-dir", str(folder), "list"]) == 0
    out = capsys.readouterr().out
    assert "toy\tresnet18\t3 classes" in out and "toy_ts\ttorchscript" in out


def test_served_model_classifies_like_the_trained_one_with_its_labels(trained, folder):
    rng = np.random.default_rng(5)
    images = [toy.picture(label, rng)[0] for label in (0, 1, 2)]
    x = torch.cat([pixels01(image) for image in images])
    with torch.no_grad():
        expected = trained((x - 0.5) / 0.25)
    for name in ("toy", "toy_ts"):
        backbone = load(folder, name)
        with torch.no_grad():
            torch.testing.assert_close(backbone.model(backbone.normalize(x)), expected, rtol=1e-4, atol=1e-4)
        results = classify.classify(backbone, x, topk=3)
        assert [r.predictions[0].label for r in results] == list(toy.LABELS)
        assert backbone.class_index("Blue Square") == 1
        with pytest.raises(InvalidParameter, match="did you mean 'red square'") as err:
            backbone.class_index("red squares")
        assert err.value.field == "target"


@pytest.mark.parametrize("method, factor", [("guided_backprop", 3.0), ("integrated_gradients", 1.8)])
def test_saliency_of_red_square_concentrates_on_the_square(folder, method, factor):
    """The share of the map on the square, against its share of the picture: guided backprop puts 33-39% of it
    there (the square is 9%), integrated gradients 18-29% (measured on three pictures); the plain gradient of this
    briefly trained net is still diffuse (8-16%), so it is not held to this."""
    backbone = load(folder, "toy")
    image, (y, x) = toy.picture(0, np.random.default_rng(11))
    options = {"steps": 16} if method == "integrated_gradients" else {}
    (heatmap,) = attribution.saliency(backbone, image, [backbone.class_index("red square")], method=method,
                                      options=options)
    assert heatmap.target.label == "red square" and heatmap.predicted.label == "red square"
    values = heatmap.values / heatmap.values.sum()
    inside = values[y:y + toy.SIDE, x:x + toy.SIDE].sum()
    area = toy.SIDE ** 2 / toy.SIZE ** 2  # 9% of the picture
    assert inside > factor * area, f"{method}: {inside:.2f} of the map on the square ({area:.2f} of the area)"


def test_layers_of_a_registered_model_and_what_torchscript_cannot_do(folder):
    backbone = load(folder, "toy")
    image = toy.picture(1, np.random.default_rng(2))[0]
    maps = activations.activations(backbone, image, "layer2")
    assert maps.values.shape[0] == 128  # resnet18's layer2 channels
    assert backbone.default_for("inversion") == "layer2" and backbone.default_for("deepdream") == "layer3"
    with pytest.raises(InvalidParameter, match="known layers: conv1, layer1"):
        backbone.layer("block4")
    ts = load(folder, "toy_ts")
    for method, field in (("gradcam", "layer"), ("guided_backprop", "method")):
        with pytest.raises(InvalidParameter) as err:
            attribution.saliency(ts, image, [0], method=method)
        assert err.value.field == field and ("TorchScript" in err.value.message or "ReLU" in err.value.message)
    # input-gradient methods work on TorchScript, and its features are its class scores
    (heatmap,) = attribution.saliency(ts, image, [1], method="integrated_gradients", options={"steps": 8})
    assert heatmap.target.label == "blue square"
    assert embedding.features(ts, [image]).shape == (1, 3)


def test_bgr_channel_order_flips_the_input():
    from convlens.core.backbones import Backbone, Preprocessing

    def backbone(channels: str) -> Backbone:
        return Backbone("b", torch.nn.Identity(), {}, ["a"], Preprocessing(channels=channels), "", CPU)

    x = torch.rand(1, 3, 4, 4)
    torch.testing.assert_close(backbone("bgr").normalize(x), backbone("rgb").normalize(x.flip(1)))


class Payload:
    """Unpickling this runs code (writes a marker file): what a weights file must never do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "ran"))


def test_bad_models_are_refused_with_a_clear_message_and_nothing_changes(folder, files, tmp_path, capsys):
    before = (folder / "models.json").read_text()
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x89PNG not weights at all" * 10)
    marker = tmp_path / "marker"
    code = tmp_path / "code.pt"
    with open(code, "wb") as out:
        pickle.dump({"fc.weight": Payload(marker)}, out)
    four = tmp_path / "four.txt"
    four.write_text("a\nb\nc\nd\n")
    state = ["--arch", "resnet18", "--weights"]
    cases = {
        "not a torch weights file": [*state, str(garbage), "--labels", str(files.labels)],
        "holds Python objects or code": [*state, str(code), "--labels", str(files.labels)],
        "fit resnet18 with 4 classes: fc.weight is (3, 512) in the file, (4, 512) in the model": [
            *state, str(files.state_dict), "--labels", str(four)],
        "gives 3 class scores but the labels file has 4": ["--torchscript", str(files.torchscript), "--labels",
                                                            str(four)],
        "--num-classes is 5 but the labels file has 3": [*state, str(files.state_dict), "--labels",
                                                          str(files.labels), "--num-classes", "5"],
        "does not fit resnet34 with 3 classes: the file has no layer1.2.conv1.weight": [
            "--arch", "resnet34", "--weights", str(files.state_dict), "--labels", str(files.labels)],
        "unknown torchvision classifier": ["--arch", "resnet_9000", "--weights", str(files.state_dict),
                                           "--labels", str(files.labels)],
        "is not a TorchScript file": ["--torchscript", str(files.state_dict), "--labels", str(files.labels)],
        "registered already": ["--torchscript", str(files.torchscript), "--labels", str(files.labels)],
        "is not a submodule": [*state, str(files.state_dict), "--labels", str(files.labels), "--layers", "layer9"],
    }
    for message, args in cases.items():
        name = "toy" if message == "registered already" else "bad"
        assert cli.main(["--models-dir", str(folder), "add", name, *args]) == 2
        err = capsys.readouterr().err
        assert message in err, (message, err)
        assert err.startswith("convlens-models: error: ") and "Traceback" not in err
    assert not marker.exists()  # the pickle's code never ran
    assert (folder / "models.json").read_text() == before
    assert sorted(p.name for p in folder.iterdir()) == ["models.json", "toy", "toy_ts"]


def test_shelf_loads_registered_models_lazily_and_keeps_at_most_capacity(folder):
    default = load(folder, "toy")  # stands in for the configured default
    shelf = BackboneShelf(user_models.backbone_of(
        user_models.ModelRecord("efficientnet_lite0", "resnet18", "-", ("x",) * 3, default.preprocessing),
        default.model, CPU), folder, capacity=1)
    assert shelf.names() == ["efficientnet_lite0", "toy", "toy_ts"] and not shelf.loaded
    assert shelf.get(None) is shelf.default and shelf.get("efficientnet_lite0") is shelf.default
    first = shelf.get("toy")
    assert shelf.get("toy") is first and list(shelf.loaded) == ["toy"]
    assert shelf.get("toy_ts").labels == list(toy.LABELS) and list(shelf.loaded) == ["toy_ts"]
    with pytest.raises(InvalidParameter, match="available: efficientnet_lite0, toy, toy_ts") as err:
        shelf.get("vgg16")
    assert err.value.field == "backbone"
    described = shelf.describe()
    assert described["toy"]["labels"] == list(toy.LABELS) and described["toy"]["default_layer"] == "layer4"
    assert described["toy_ts"]["loaded"] is True and described["toy"]["loaded"] is False


def test_remove_forgets_the_model(files, tmp_path, capsys):
    assert cli.main(["--models-dir", str(tmp_path), "add", "gone", "--torchscript", str(files.torchscript),
                     "--labels", str(files.labels), "--size", "64"]) == 0
    assert cli.main(["--models-dir", str(tmp_path), "remove", "gone"]) == 0
    assert user_models.read_registry(tmp_path) == {} and not (tmp_path / "gone").exists()
    assert cli.main(["--models-dir", str(tmp_path), "remove", "gone"]) == 2
    assert "no model named 'gone'" in capsys.readouterr().err


@pytest.mark.parametrize("arch, stages, last", [
    ("mobilenet_v3_small", [f"features.{i}" for i in range(13)], "features.12"),
    ("squeezenet1_1", [f"features.{i}" for i in (0, 3, 4, 6, 7, 9, 10, 11, 12)] + ["classifier.1"], "classifier.1"),
])
def test_layer_discovery_finds_the_stages(arch, stages, last):
    from torchvision.models import get_model

    found, default = user_models.discover_layers(get_model(arch, num_classes=3).eval(), 64)
    assert (found, default) == (stages, last)


# Every classifier endpoint's handler with backbone=toy: what differs from its spec's example request (small, few
# steps, the user's label names as targets).
USER_ROWS = {
    "classify": {}, "segment": {}, "filters": {"layer": "layer1"},
    "saliency": {"method": "guided_gradcam", "target": "blue square"},
    "occlusion": {"patch": "32", "stride": "32", "target": "red square"},
    "activations": {"size": "48"}, "top_patches": {"channel": "1", "size": "48", "guided": "true"},
    "embed": {"size": "48"}, "neighbors": {"size": "48"}, "tsne": {"size": "48", "method": "pca"},
    "classviz": {"steps": "2", "size": "32", "target": "red square"}, "deepdream": {"steps": "2", "octaves": "1"},
    "fooling": {"target": "blue square", "max_steps": "2", "size": "48"}, "inversion": {"steps": "2", "size": "48"},
}


def test_every_classifier_endpoint_serves_the_registered_model(folder):
    """Each handler parses backbone=toy, loads it from the models folder and answers with its labels and layers."""
    import json
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    from build_models import CLASSIFIER_ENDPOINTS
    from serving.requests import request_fields
    from serving.specs import example_request
    from test_handlers import png_bytes

    assert set(USER_ROWS) == set(CLASSIFIER_ENDPOINTS)
    picture = png_bytes(toy.picture(0, np.random.default_rng(3), at=(20, 20))[0])
    stand_in = user_models.backbone_of(  # the default backbone's place, without loading EfficientNet
        user_models.ModelRecord("default", "resnet18", "-", toy.LABELS, load(folder, "toy").preprocessing),
        load(folder, "toy").model, CPU)
    for task, row in USER_ROWS.items():
        module = __import__(task)
        handler = next(c for c in vars(module).values() if getattr(c, "task", None) == task)()
        handler.backbone, handler.initialized = stand_in, True
        handler.shelf = BackboneShelf(stand_in, folder)
        fields = example_request(task, [picture] * 3, backbone="toy", format="json", **row)
        body, content_type = handler.run(request_fields(fields), False)
        answer = json.loads(body)
        assert answer["backbone"] == "toy" and list(handler.shelf.loaded) == ["toy"], task
        labels = [p["label"] for p in answer.get("predictions", [])] + [
            answer[k]["label"] for k in ("target", "predicted") if isinstance(answer.get(k), dict)]
        assert set(labels) <= set(toy.LABELS), (task, labels)
        if task in ("activations", "top_patches", "inversion", "deepdream"):  # the found stages by default
            assert answer["layer"] == {"activations": "layer4", "top_patches": "layer3", "inversion": "layer2",
                                       "deepdream": "layer3"}[task]


def test_the_models_folder_is_named_once_per_layer():
    """The archive folder of registered models: the engine's name, the worker config's default and the packer's."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    import build_models
    from serving.config import EndpointConfig

    assert EndpointConfig().models == user_models.FOLDER == build_models.MODELS
