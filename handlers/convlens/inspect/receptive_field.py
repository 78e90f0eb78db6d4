"""Receptive fields of units of a named layer, from the strides, kernel sizes, paddings and dilations on its path.

The network is walked as a chain of geometric operations (convolutions and pools) from the input to the layer.
Elementwise modules (activations, batch norm, dropout) do not move the field. Residual blocks are walked along
their main path: its field contains the shortcut's (identity or a 1x1 projection with the same stride), so the
union is the main path's field. Exact for: nn.Sequential stacks (torchvision VGG/AlexNet `features`),
EfficientNet-Lite (stem, MBConv blocks without squeeze-excitation, head, including TensorFlow's input-size
dependent 'same' padding) and torchvision ResNet Basic/Bottleneck blocks. Anything else (squeeze-excitation,
attention, branches that are not nested in the main path) raises UnsupportedReceptiveField.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

ELEMENTWISE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid,
               nn.Tanh, nn.BatchNorm2d, nn.GroupNorm, nn.Dropout, nn.Dropout2d, nn.Identity, nn.LocalResponseNorm)
POOLS = (nn.MaxPool2d, nn.AvgPool2d)


class UnsupportedReceptiveField(ValueError):
    """The path to this layer holds a module whose receptive field is not computed exactly here."""


@dataclass(frozen=True)
class Geometry:
    """One geometric operation along an axis pair: kernel, stride, padding (-1 = TF 'same'), dilation."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    same: bool = False          # TensorFlow-style dynamic 'same' padding (depends on the input size)
    ceil_mode: bool = False


@dataclass(frozen=True)
class AxisField:
    """Along one axis: unit j nominally covers input coordinates [j * jump + offset, j * jump + offset + size - 1].

    `steps` keeps (effective kernel, stride, left padding, input length) of every op so a unit's field can also be
    clipped exactly: positions that fall into an intermediate layer's padding reach no input pixel at all.
    """

    size: int
    jump: int
    offset: int
    length: int                 # the layer's output length along this axis for the traced input
    steps: tuple[tuple[int, int, int, int], ...] = ()

    def span(self, j: int, clip: bool = False) -> tuple[int, int]:
        """Inclusive input interval of unit j: nominal, or clipped to the valid positions of every layer."""
        if not clip:
            return j * self.jump + self.offset, j * self.jump + self.offset + self.size - 1
        lo, hi = j, j
        for k_eff, stride, pad, in_length in reversed(self.steps):
            lo, hi = max(lo * stride - pad, 0), min(hi * stride - pad + k_eff - 1, in_length - 1)
        return lo, hi


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of the units of one layer for a given input size (rows, then columns)."""

    rows: AxisField
    cols: AxisField

    def box(self, y: int, x: int, clip: bool = False) -> tuple[int, int, int, int]:
        """(left, top, right, bottom), inclusive, of unit (y, x): nominal, or the exact input pixels it sees."""
        top, bottom = self.rows.span(y, clip)
        left, right = self.cols.span(x, clip)
        return left, top, right, bottom


def _pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


def geometry(module: nn.Module) -> Geometry | None:
    """The geometric operation of a leaf module, None for elementwise ones; raises for unknown leaves."""
    if isinstance(module, nn.Conv2d):
        same = type(module).__name__ == "Conv2dDynamicSamePadding"
        if isinstance(module.padding, str):
            if module.padding != "valid":
                raise UnsupportedReceptiveField(f"string padding '{module.padding}' of {type(module).__name__}")
            padding = (0, 0)
        else:
            padding = _pair(module.padding)
        return Geometry(_pair(module.kernel_size), _pair(module.stride), padding, _pair(module.dilation), same)
    if isinstance(module, POOLS):
        dilation = _pair(getattr(module, "dilation", 1))
        same = type(module).__name__ == "MaxPool2dDynamicSamePadding"
        return Geometry(_pair(module.kernel_size), _pair(module.stride or module.kernel_size), _pair(module.padding),
                        dilation, same, bool(module.ceil_mode))
    if isinstance(module, ELEMENTWISE):
        return None
    raise UnsupportedReceptiveField(f"no receptive-field rule for {type(module).__name__}")


def path_children(module: nn.Module) -> list[nn.Module] | None:
    """The children of a container in the order the main path runs through them; None for leaves."""
    kind = type(module).__name__
    if isinstance(module, (nn.Conv2d, *POOLS, *ELEMENTWISE)):
        return None
    if isinstance(module, (nn.Sequential, nn.ModuleList)):
        return list(module)
    m: Any = module  # the kinds below are recognised by class name, so their submodules are read duck-typed
    if kind == "MBConvBlock":  # efficientnet_lite_pytorch
        if getattr(m, "has_se", False):
            raise UnsupportedReceptiveField("squeeze-excitation pools globally: every unit sees the whole image")
        expand = [m._expand_conv, m._bn0] if m._block_args.expand_ratio != 1 else []
        return [*expand, m._depthwise_conv, m._bn1, m._project_conv, m._bn2]
    if kind == "EfficientNetLite":  # convlens.core.backbones wrapper
        return [m.stem, *m.blocks, m.head]
    if kind in ("BasicBlock", "Bottleneck"):  # torchvision ResNet: the 1x1 shortcut is nested in the main path
        path = [m.conv1, m.bn1, m.conv2, m.bn2]  # (their shared ReLU runs several times)
        return path + ([m.conv3, m.bn3] if kind == "Bottleneck" else [])
    if kind in ("VGG", "AlexNet"):
        return [m.features]
    if kind == "ResNet":
        return [m.conv1, m.maxpool, m.layer1, m.layer2, m.layer3, m.layer4]
    raise UnsupportedReceptiveField(f"no receptive-field rule for {kind}")


def ops_until(root: nn.Module, target: nn.Module) -> list[Geometry]:
    """Geometric operations from the network input up to and including `target`'s output."""
    ops: list[Geometry] = []

    def walk(module: nn.Module) -> bool:
        children = path_children(module)
        if children is None:
            g = geometry(module)
            if g is not None:
                ops.append(g)
            return module is target
        if module is target:
            for child in children:
                walk(child)
            return True
        return any(walk(child) for child in children)

    if not walk(root):
        raise UnsupportedReceptiveField("the layer is not on the network's main path (e.g. a shortcut branch)")
    return ops


def _axis(ops: Sequence[Geometry], axis: int, length: int) -> AxisField:
    size, jump, offset = 1, 1, 0
    steps = []
    for op in ops:
        k_eff = op.dilation[axis] * (op.kernel[axis] - 1) + 1
        s = op.stride[axis]
        if op.same:
            out = math.ceil(length / s)
            pad = max((out - 1) * s + k_eff - length, 0) // 2
        else:
            pad = op.padding[axis]
            rounding = math.ceil if op.ceil_mode else math.floor
            out = rounding((length + 2 * pad - k_eff) / s) + 1
            if op.ceil_mode and (out - 1) * s >= length + pad:  # PyTorch: the last window must start inside
                out -= 1
        if out < 1:
            raise UnsupportedReceptiveField(f"the input is too small: a layer's output length would be {out}")
        steps.append((k_eff, s, pad, length))
        offset -= pad * jump
        size += (k_eff - 1) * jump
        jump *= s
        length = out
    return AxisField(size=size, jump=jump, offset=offset, length=length, steps=tuple(steps))


def receptive_field_of_ops(ops: Sequence[Geometry], height: int, width: int) -> ReceptiveField:
    """Receptive field of the last op's units for an input of height x width."""
    return ReceptiveField(rows=_axis(ops, 0, height), cols=_axis(ops, 1, width))


def receptive_field(root: nn.Module, target: nn.Module, height: int, width: int) -> ReceptiveField:
    """Receptive field of the units of `target` (a module inside `root`) for an input of height x width."""
    return receptive_field_of_ops(ops_until(root, target), height, width)


def leaves(module: nn.Module) -> Iterator[nn.Module]:
    """Leaf modules in the main-path order (for tests and debugging)."""
    children = path_children(module)
    if children is None:
        yield module
    else:
        for child in children:
            yield from leaves(child)
