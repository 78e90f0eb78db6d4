"""Backbone registry: offline pretrained default, torchvision weights from file/cache, names, labels, layers."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from convlens.core import backbones, classify, inputs
from convlens.core.errors import InvalidParameter

CAT_CLASSES = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat


@pytest.fixture(scope="module")
def lite0() -> backbones.Backbone:
    return backbones.load_backbone("efficientnet_lite0", device=torch.device("cpu"))


def test_default_backbone_classifies_chelsea_as_a_cat(lite0):
    pixels = inputs.classification_pixels(Image.fromarray(data.chelsea()), lite0.preprocessing)
    top = classify.classify(lite0, inputs.to_tensor(pixels)[None], topk=3)[0].predictions
    assert top[0].index in CAT_CLASSES
    assert 285 in [p.index for p in top[:2]] and lite0.labels[285] == "Egyptian cat"
    assert sum(p.probability for p in top) > 0.8  # a confident, calibrated answer, not noise


def test_squashed_chelsea_matches_the_measured_probability(lite0):
    """ARCHITECTURE.md measured p(Egyptian cat) ~ 0.79 for the whole photo at 224x224 with [-1, 1] inputs."""
    pixels = np.array(Image.fromarray(data.chelsea()).resize((224, 224), Image.BILINEAR))
    top = classify.classify(lite0, inputs.to_tensor(pixels)[None], topk=1)[0].predictions[0]
    assert top.index == 285 and top.probability == pytest.approx(0.79, abs=0.02)


def test_named_stage_wrapper_computes_the_library_network(lite0):
    from efficientnet_lite_pytorch import EfficientNet

    reference = EfficientNet.from_name("efficientnet-lite0", image_size=None)
    reference.load_state_dict(torch.load(backbones.efficientnet_lite0_weights(), weights_only=True))
    x = torch.randn(2, 3, 96, 128)
    with torch.no_grad():
        assert torch.allclose(lite0.model(x), reference.eval()(x), atol=1e-4)


def test_efficientnet_layer_names(lite0):
    assert list(lite0.layers) == ["stem", *[f"block{i}" for i in range(1, 17)], "head"]
    assert lite0.default_layer == "head"
    with pytest.raises(InvalidParameter) as err:
        lite0.layer("block17")
    assert err.value.field == "layer" and "block16" in err.value.message


def test_labels_and_class_lookup(lite0):
    assert len(lite0.labels) == 1000 and lite0.labels[0] == "tench"
    assert lite0.class_index("egyptian CAT") == 285
    assert lite0.class_index(7) == 7
    with pytest.raises(InvalidParameter, match="out of range"):
        lite0.class_index(1000)
    assert lite0.class_index("Cardigan") == 264 and lite0.class_index("cardigan") == 474  # corgi vs sweater
    with pytest.raises(InvalidParameter, match="ambiguous") as err:
        lite0.class_index("CARDIGAN")
    assert "264" in err.value.message and "474" in err.value.message
    with pytest.raises(InvalidParameter, match="did you mean") as err:
        lite0.class_index("tabbby")
    assert err.value.field == "target"


def test_torchvision_backbone_from_a_local_weights_file(tmp_path):
    reference = backbones.torchvision_builder("squeezenet1_1")  # builder refuses to run without weights
    with pytest.raises(backbones.BackboneUnavailable, match="not found"):
        reference(str(tmp_path / "missing.pth"))
    from torchvision.models import squeezenet1_1

    model = squeezenet1_1(weights=None).eval()
    path = tmp_path / "squeeze.pth"
    torch.save(model.state_dict(), path)
    loaded = backbones.load_backbone("squeezenet1_1", weights=str(path), device=torch.device("cpu"))
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(loaded.model(x), model(x), atol=1e-5)
    assert loaded.preprocessing.mean == backbones.IMAGENET_MEAN and loaded.preprocessing.crop == 224
    assert "features.12.expand3x3" in loaded.layers
    assert not any(p.requires_grad for p in loaded.model.parameters())


def test_torchvision_backbone_from_torchvision_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    from torchvision.models import squeezenet1_1

    cached = backbones.cached_weights_path("squeezenet1_1")
    assert cached.parent == tmp_path / "hub" / "checkpoints"
    with pytest.raises(backbones.BackboneUnavailable, match="weights for squeezenet1_1 not found"):
        backbones.load_backbone("squeezenet1_1", device=torch.device("cpu"))
    cached.parent.mkdir(parents=True)
    torch.save(squeezenet1_1(weights=None).state_dict(), cached)
    assert backbones.load_backbone("squeezenet1_1", device=torch.device("cpu")).name == "squeezenet1_1"


def test_vgg_layers_use_the_literature_names():
    from torchvision.models import vgg16

    layers = backbones.vgg_layers(vgg16(weights=None))
    convs = [n for n in layers if n.startswith("conv")]
    assert convs[:3] == ["conv1_1", "conv1_2", "conv2_1"] and convs[-1] == "conv5_3" and len(convs) == 13
    assert {"relu1_1", "pool1", "relu5_3", "pool5"} <= set(layers)
    assert backbones.spec("vgg16").default_layer == "relu5_3"


def test_unknown_backbone_is_a_deployment_error():
    with pytest.raises(backbones.BackboneUnavailable, match="efficientnet_lite0"):
        backbones.spec("resnet9000")


def test_device_is_cpu_without_cuda():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert backbones.pick_device(None).type == expected
