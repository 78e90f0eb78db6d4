"""Receptive fields: closed forms on known stacks, and a brute-force check (gradient support of one unit)."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torchvision.models import alexnet, resnet18, vgg11

from convlens.inspect.receptive_field import UnsupportedReceptiveField, receptive_field


def linearized(model: nn.Module) -> nn.Module:
    """A copy with the same geometry whose gradient support is exactly the receptive field: activations become
    identities, max pools average pools, and every weight positive (no cancellation, no dead units)."""
    model = copy.deepcopy(model).float().eval()  # float32: positive weights leave no exact zeros to lose
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, (nn.ReLU, nn.ReLU6, nn.Dropout)):
                setattr(parent, name, nn.Identity())
            elif isinstance(child, nn.MaxPool2d):
                setattr(parent, name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding, child.ceil_mode))
        if hasattr(parent, "_swish"):  # EfficientNet blocks call their shared ReLU6 as an attribute
            parent._swish = nn.Identity()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.abs() + 0.01)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_var.fill_(1.0)
    return model


class Stop(Exception):
    """Raised by the capturing hook: nothing after the target layer needs to run."""


def gradient_supports(model: nn.Module, target: nn.Module, height: int, width: int,
                      units: list[tuple[int, int]]) -> list[tuple[int, int, int, int]]:
    """(left, top, right, bottom) of the input pixels with a nonzero gradient of each unit (0, y, x) of `target`."""
    captured = {}

    def hook(module, inputs, output):
        captured["out"] = output
        raise Stop

    handle = target.register_forward_hook(hook)
    image = torch.rand(1, 3, height, width, requires_grad=True)
    try:
        model(image)
    except Stop:
        pass
    finally:
        handle.remove()
    boxes = []
    for y, x in units:
        (grad,) = torch.autograd.grad(captured["out"][0, 0, y, x], image, retain_graph=True)
        rows = grad.abs().sum(dim=(0, 1, 3)).nonzero().flatten()
        cols = grad.abs().sum(dim=(0, 1, 2)).nonzero().flatten()
        boxes.append((int(cols.min()), int(rows.min()), int(cols.max()), int(rows.max())))
    return boxes


def check_units(model: nn.Module, target: nn.Module, height: int, width: int) -> None:
    """The computed field of corner, edge and centre units equals the brute-force gradient support."""
    rf = receptive_field(model, target, height, width)
    lin = linearized(model)
    lin_target = dict(lin.named_modules())[next(n for n, m in model.named_modules() if m is target)]
    last_y, last_x = rf.rows.length - 1, rf.cols.length - 1
    units = sorted({(0, 0), (last_y // 2, last_x // 2), (last_y, last_x), (0, last_x), (last_y // 2, 0)})
    assert gradient_supports(lin, lin_target, height, width, units) == [rf.box(y, x, clip=True) for y, x in units]


def test_closed_form_of_a_known_stack():
    # conv3 s1 p1 -> maxpool2 s2 -> conv3 s1 p1 -> conv3 s2 p0 dilation 2: sizes 1+2=3, +1*1=4, +2*2=8, +4*2*2=16
    stack = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, padding=1),
                          nn.Conv2d(4, 2, 3, stride=2, dilation=2))
    rf = receptive_field(stack, stack[4], 32, 32)
    assert (rf.rows.size, rf.rows.jump, rf.rows.offset) == (16, 4, -3)
    assert rf.rows.length == 6  # 32 -> 32 -> 16 -> 16 -> floor((16 - 5) / 2) + 1
    assert rf.box(0, 0) == (-3, -3, 12, 12) and rf.box(0, 0, clip=True) == (0, 0, 12, 12)
    assert rf.box(2, 5) == (17, 5, 32, 20) and rf.box(2, 5, clip=True) == (17, 5, 31, 20)
    check_units(stack, stack[4], 32, 32)


def test_vgg11_features_prefix_matches_brute_force():
    model = vgg11(weights=None)  # random weights: only the geometry matters, nothing is downloaded
    model.classifier = nn.Identity()
    features = model.features
    rf = receptive_field(model, features[6], 64, 64)  # conv3_1 after two 2x2 pools
    # sizes: conv 3, pool 4, conv 8, pool 10, conv 18
    assert (rf.rows.size, rf.rows.jump, rf.rows.offset) == (18, 4, -7)
    check_units(model.features, features[6], 40, 48)


def test_alexnet_and_resnet18_prefixes_match_brute_force():
    net = alexnet(weights=None)
    check_units(net.features, net.features[3], 67, 67)  # conv2: after conv 11/4/2 and max pool 3/2
    res = resnet18(weights=None)
    res.fc = nn.Identity()
    check_units(res, res.layer2[0].conv2, 64, 64)
    check_units(res, res.layer2, 64, 64)
    check_units(res, res.layer3[0].bn1, 64, 64)


@pytest.fixture(scope="module")
def lite0():
    from convlens.core.backbones import load_backbone

    return load_backbone("efficientnet_lite0", device=torch.device("cpu"))


def test_efficientnet_lite0_prefix_matches_brute_force(lite0):
    model = lite0.model
    # odd and even sizes: TensorFlow 'same' padding puts the extra pixel on the bottom/right
    check_units(model, model.blocks[3], 47, 48)  # block4: strides 2*2*2, 5x5 depthwise kernels on the way
    check_units(model, model.stem, 33, 32)


def test_unsupported_layers_are_refused():
    res = resnet18(weights=None)
    with pytest.raises(UnsupportedReceptiveField):
        receptive_field(res, res.layer2[0].downsample, 64, 64)  # a shortcut, not on the main path
    with pytest.raises(UnsupportedReceptiveField):
        receptive_field(nn.Sequential(nn.Conv2d(3, 3, 3), nn.AdaptiveAvgPool2d(1)), nn.Identity(), 8, 8)
